"""Authorised de-obfuscation: whoever holds a user's key removes the P3-Mask from protected photos.

A protected photo is ``x + paste(mask) * coverage``: the key's mask, warped from its canonical frame onto
the face (weakened on faces where the full mask would break the perceptual floor, clamped to [0, 1] and
stored in 8 bits). The holder of the key re-detects the face, re-aligns it into the key's frame,
measures how much of the mask the face carries (:func:`p3mask.evaluate.register.mask_strength`) and
subtracts that much of the mask pasted back. Detection on a protected photo is not
pixel-exact (the mask itself moves the detected landmarks by a few pixels), and a mask shifted by a
pixel does not cancel, so the face is first registered to the mask
(:func:`p3mask.evaluate.register.refine_matrices`: the alignment at which the face's fine detail
correlates best with the mask's). The peak correlation also tells whether a face carries this key's
mask at all.

A wrong user's key has an unrelated mask: subtracting it leaves the real mask in place (and adds a second
perturbation), so the face stays unrecognisable; the evaluation measures exactly that.

Example:
    >>> key = P3Mask.load("alice.p3m")  # doctest: +SKIP
    >>> result = unlock_image(load_image("protected.jpg"), key)  # doctest: +SKIP
    >>> result.image.shape, result.correlations  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from p3mask.evaluate.register import REFINE_STEPS, mask_strength, refine_matrices
from p3mask.face.align import estimate_similarity, paste_from_crop
from p3mask.face.checks import check_photo
from p3mask.face.detect import FaceDetector

logger = logging.getLogger(__name__)

def remove_mask(
    image: torch.Tensor, matrices: torch.Tensor, mask: torch.Tensor, strengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Subtract ``mask`` pasted onto each face at ``matrices``; ``(3, H, W)`` in [0, 1].

    Args:
        image: ``(3, H, W)`` protected photo in [0, 1].
        matrices: ``(N, 2, 3)`` photo -> frame affines of the faces to unlock.
        mask: ``(3, h, w)`` mask in the frame.
        strengths: optional ``(N,)`` fraction of the mask to subtract on each face (default 1).
    """
    if matrices.shape[0] == 0:
        return image.clone()
    n = matrices.shape[0]
    pasted, weight = paste_from_crop(mask[None].float().expand(n, -1, -1, -1).contiguous(), matrices.float(), image.shape[-2:])
    if strengths is not None:
        pasted = pasted * strengths.float().reshape(n, 1, 1, 1)
    return (image - (pasted * weight).sum(0)).clamp(0.0, 1.0)


@dataclass(frozen=True)
class UnlockResult:
    """Outcome of :func:`unlock_image`.

    Attributes:
        image: ``(3, H, W)`` photo with the mask removed from the unlocked faces.
        unlocked: indices (into the detections, largest first) of the faces unlocked.
        correlations: ``(N,)`` mask correlation of every detected face after registration.
        strengths: ``(N,)`` measured fraction of the mask each face carries (what was subtracted).
        landmarks: ``(N, 5, 2)`` landmarks used.
    """

    image: torch.Tensor
    unlocked: list[int]
    correlations: torch.Tensor
    strengths: torch.Tensor
    landmarks: torch.Tensor


def unlock_image(
    image: torch.Tensor,
    key,
    detector: FaceDetector | None = None,
    landmarks: torch.Tensor | None = None,
    min_correlation: float | None = None,
    refine_steps: int = REFINE_STEPS,
    register: bool = True,
) -> UnlockResult:
    """Remove a key's mask from the faces of one photo.

    Args:
        image: ``(3, H, W)`` RGB in [0, 1].
        key: a :class:`p3mask.protect.key.P3Mask` (its ``mask``, ``template`` and ``frame_size`` are used).
        detector: face detector (default: a new YuNet :class:`FaceDetector`); unused with ``landmarks``.
        landmarks: optional ``(N, 5, 2)`` face landmarks instead of detecting.
        min_correlation: unlock only faces whose registered mask correlation reaches this (default
            ``None``: every detected face).
        refine_steps: gradient registration steps after the grid search (default none).
        register: register faces to the mask at all (default True; False trusts the landmarks).

    Returns:
        :class:`UnlockResult`; a photo without a face comes back unchanged with nothing unlocked.
    """
    check_photo(image, in_range=False)
    if landmarks is None:
        landmarks = (detector or FaceDetector()).detect(image).landmarks
    if landmarks.ndim != 3 or landmarks.shape[1:] != (5, 2):
        raise ValueError(f"landmarks: expected (N,5,2), got {tuple(landmarks.shape)}")
    image = image.float()
    if landmarks.shape[0] == 0:
        return UnlockResult(image.clone(), [], torch.zeros(0), torch.zeros(0), landmarks)
    mask = key.mask.float()
    matrices = estimate_similarity(landmarks.float(), torch.tensor(key.template, dtype=torch.float32))
    matrices, corr = refine_matrices(image, matrices, mask, refine_steps if register else 0, search=register)
    strengths = mask_strength(image, matrices, mask)
    chosen = [i for i, c in enumerate(corr.tolist()) if min_correlation is None or c >= min_correlation]
    out = remove_mask(image, matrices[chosen], mask, strengths[chosen])
    logger.debug("unlock: correlations %s, strengths %s, unlocked %s",
                 [round(c, 3) for c in corr.tolist()], [round(v, 3) for v in strengths.tolist()], chosen)
    return UnlockResult(out, chosen, corr, strengths, landmarks)
