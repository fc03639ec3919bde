"""Adaptive adversaries: a scraper who knows Chameleon and tries to undo or sidestep it.

Three kinds:

(a) **Mask estimation.** The adversary holds many protected photos of one user. Aligned into the
    canonical frame (the frame is public: it is in this code), every protected face is that user's face
    plus the same mask, so the mean aligned protected face minus a population mean aligned face
    estimates the mask (plus the user's deviation from the average face, which the adversary cannot
    separate). Clipped to the budget, it is pasted back and subtracted from each protected photo
    (:func:`estimate_mask`, :func:`subtract_estimate`). A variant keeps only the estimate's fine detail
    (high-pass), where the mask lives and the identity mostly does not.
(b) **Purification tuned to the budget.** Filters whose strength is set from the L-inf budget epsilon
    (which the adversary knows from the presets): bit-depth reduction with a step of a multiple of
    epsilon, a bilateral filter whose colour sigma is a multiple of epsilon, non-local-means denoising with
    filter strength a multiple of epsilon, and a Gaussian blur. Each has a few strengths
    (:data:`PURIFIER_LEVELS`); the evaluation lets the adversary pick the best one on other users.
(c) **Adapted recogniser.** A recogniser re-thresholded on protected photos: the adversary labels
    protected photos of some users and lowers the match threshold until protected genuine pairs are
    accepted as often as clean ones (:func:`p3mask.evaluate.metrics.rate_matching_threshold`); and the dlib
    ResNet, never used in training. Fine-tuning a recogniser on protected photos is not attempted here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from p3mask.checks import check_photo
from p3mask.evaluate.transforms import from_uint8, to_uint8
from p3mask.face.align import align_faces, estimate_similarity
from p3mask.protect.register import highpass
from p3mask.protect.unlock import remove_mask


def aligned_stack(
    photos: Sequence[torch.Tensor],
    landmarks: Sequence[torch.Tensor],
    template: Sequence[Sequence[float]],
    frame_size: Sequence[int],
) -> torch.Tensor:
    """One aligned face per photo in the given frame.

    Args:
        photos: ``(3, H_i, W_i)`` photos in [0, 1].
        landmarks: ``(5, 2)`` landmarks of the face to take from each photo.
        template: five frame landmarks ``(x, y)``.
        frame_size: frame ``(h, w)``.

    Returns:
        ``(N, 3, h, w)`` aligned faces.
    """
    if len(photos) != len(landmarks) or not photos:
        raise ValueError(f"expected as many landmark sets as photos (>= 1), got {len(landmarks)} and {len(photos)}")
    crops = [align_faces(p.float(), lm[None].float(), template, frame_size)[0] for p, lm in zip(photos, landmarks)]
    return torch.cat(crops)


def estimate_mask(
    protected_faces: torch.Tensor, population_mean: torch.Tensor, epsilon: float, detail_only: bool = False
) -> torch.Tensor:
    """Estimate a user's mask from their aligned protected faces.

    Args:
        protected_faces: ``(N, 3, h, w)`` aligned protected faces of one user.
        population_mean: ``(3, h, w)`` mean aligned clean face of other people.
        epsilon: the L-inf budget; the estimate is clipped to ``[-epsilon, epsilon]``.
        detail_only: keep only the high-pass of the estimate (see :func:`p3mask.protect.register.highpass`).

    Returns:
        ``(3, h, w)`` estimated mask.
    """
    if protected_faces.ndim != 4 or protected_faces.shape[1:] != population_mean.shape:
        raise ValueError(
            f"expected (N,3,h,w) faces and a (3,h,w) mean of the same frame, "
            f"got {tuple(protected_faces.shape)} and {tuple(population_mean.shape)}"
        )
    if epsilon <= 0:
        raise ValueError(f"epsilon must be > 0, got {epsilon}")
    estimate = protected_faces.float().mean(0) - population_mean.float()
    if detail_only:
        estimate = highpass(estimate[None])[0]
    return estimate.clamp(-epsilon, epsilon)


def subtract_estimate(
    image: torch.Tensor, landmarks: torch.Tensor, estimate: torch.Tensor, template: Sequence[Sequence[float]]
) -> torch.Tensor:
    """Subtract an estimated mask from the face at ``landmarks`` (5, 2); ``(3, H, W)`` in [0, 1]."""
    check_photo(image, in_range=False)
    matrix = estimate_similarity(landmarks[None].float(), torch.as_tensor(template, dtype=torch.float32))
    return remove_mask(image.float(), matrix, estimate)


def bit_depth(image: torch.Tensor, step: float) -> torch.Tensor:
    """Quantise every value to the nearest multiple of ``step`` (in [0, 1] units), then to 8 bits."""
    check_photo(image, in_range=False)
    if not 0.0 < step <= 1.0:
        raise ValueError(f"step must be in (0, 1], got {step}")
    return from_uint8(to_uint8((image / step).round() * step), image)


def bilateral(image: torch.Tensor, sigma_color: float) -> torch.Tensor:
    """Bilateral filter (5x5 neighbourhood, spatial sigma 2 px) with colour sigma ``sigma_color`` in [0, 1] units."""
    out = cv2.bilateralFilter(to_uint8(image), 5, float(sigma_color * 255.0), 2.0)
    return from_uint8(out, image)


def nl_means(image: torch.Tensor, strength: float) -> torch.Tensor:
    """OpenCV non-local-means colour denoising with filter strength ``strength`` in [0, 1] units
    (7x7 patches, 21x21 search window: OpenCV's recommended sizes)."""
    h = float(strength * 255.0)
    out = cv2.fastNlMeansDenoisingColored(to_uint8(image)[..., ::-1].copy(), None, h, h, 7, 21)
    return from_uint8(np.ascontiguousarray(out[..., ::-1]), image)


def gaussian(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with ``sigma`` pixels (kernel side ``2*ceil(3 sigma)+1``)."""
    side = 2 * int(np.ceil(3.0 * sigma)) + 1
    return from_uint8(cv2.GaussianBlur(to_uint8(image), (side, side), sigma), image)


@dataclass(frozen=True)
class Purifier:
    """One purification at one strength, set from the budget.

    Attributes:
        name: e.g. ``"bitdepth_x2"``.
        family: ``"bitdepth"``, ``"bilateral"``, ``"nlmeans"`` or ``"blur"``.
        level: multiplier of the family's base strength.
        fn: ``(image (3,H,W), epsilon) -> (3,H,W)``.
    """

    name: str
    family: str
    level: float
    fn: Callable[[torch.Tensor, float], torch.Tensor]

    def __call__(self, image: torch.Tensor, epsilon: float) -> torch.Tensor:
        return self.fn(image, epsilon)


# Strength multipliers tried for each family. Base strengths: bit-depth step = 2*epsilon (levels as far
# apart as the span of a +-epsilon change), bilateral colour sigma = epsilon, NL-means h = epsilon, blur sigma = 1 px.
PURIFIER_LEVELS: tuple[float, ...] = (1.0, 2.0)


def _purifiers() -> dict[str, Purifier]:
    bases = {
        "bitdepth": lambda x, eps, k: bit_depth(x, min(1.0, 2.0 * eps * k)),
        "bilateral": lambda x, eps, k: bilateral(x, eps * k),
        "nlmeans": lambda x, eps, k: nl_means(x, eps * k),
        "blur": lambda x, eps, k: gaussian(x, 1.0 * k),
    }
    out = {}
    for family, fn in bases.items():
        for k in PURIFIER_LEVELS:
            name = f"{family}_x{k:g}"
            out[name] = Purifier(name, family, k, lambda x, eps, fn=fn, k=k: fn(x, eps, k))
    return out


PURIFIERS: dict[str, Purifier] = _purifiers()


def purifier_families() -> list[str]:
    """Families of :data:`PURIFIERS`, in registry order."""
    return list(dict.fromkeys(p.family for p in PURIFIERS.values()))
