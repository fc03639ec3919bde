"""One face of one photo, prepared for optimising a perturbation in the canonical face frame.

Every method perturbs the same thing: a ``(3, h, w)`` perturbation in the canonical aligned-face frame
(:data:`p3mask.protect.config.CANONICAL_TEMPLATE`, 128x128), faded out at the frame border by the same
feather window (:data:`~p3mask.protect.config.CANONICAL_FEATHER`), pasted into the photo with
:func:`p3mask.face.align.paste_from_crop` and clamped to [0, 1]. The protected photo is re-aligned for
every recogniser with the differentiable warp, so what is optimised is what a recogniser sees after
re-detecting the face. Optimisation runs on the region of the
photo the crops can reach (downscaled when the face is much larger than the frame, as Chameleon does);
the final perturbation is pasted at the photo's full resolution.

Example:
    >>> face = PhotoFace.build(image, landmarks, models)  # doctest: +SKIP
    >>> x, weight = face.protected(delta)  # (1, 3, h, w) region with the perturbation
    >>> feats = face.embed(models, x)  # name -> (1, D)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch

from p3mask.face.align import estimate_similarity, warp_to_crop
from p3mask.face.detect import FaceDetector
from p3mask.methods.base import NoUserFaceError
from p3mask.models.base import FaceRecognizer
from p3mask.protect.config import (
    CANONICAL_FEATHER,
    CANONICAL_MAX_FACE_SCALE,
    CANONICAL_SIZE,
    CANONICAL_TEMPLATE,
    DEFAULT_PRESET,
    PRESETS,
)
from p3mask.protect.floor import PERFECT, strongest_within_floor
from p3mask.protect.optimizer import composite, feather_window
from p3mask.protect.trainset import crop_region, model_frames
from p3mask.quality import SSIMULACRA2Reference, face_in_context
from p3mask.recognition import face_similarities

# Default perceptual budget of the baselines (SSIMULACRA2 of the face in context): Chameleon's default
# preset's floor (its learning margin is Chameleon's own, not part of the budget).
DEFAULT_QUALITY_TARGET = PRESETS[DEFAULT_PRESET].quality_floor
# The DSSIM budget the per-photo baselines' own penalties hold while optimising (face SSIM 0.95, their
# earlier matched budget); their result is then scaled to the perceptual budget.
OPTIMISATION_DSSIM_BUDGET = 0.025


@torch.no_grad()
def find_user_face(
    image: torch.Tensor,
    detector: FaceDetector,
    matcher: FaceRecognizer,
    reference: torch.Tensor,
    threshold: float,
) -> tuple[torch.Tensor, tuple[float, float, float, float]]:
    """The user's face in a photo: the detected face most similar to ``reference``.

    Args:
        image: ``(3, H, W)`` RGB in [0, 1].
        detector: face detector.
        matcher: recogniser whose ``(D,)`` embedding ``reference`` is.
        reference: the user's L2-normalised reference embedding.
        threshold: cosine at or above which a face is the user's.

    Returns:
        ``(landmarks, box)``: ``(5, 2)`` landmarks ``(x, y)`` and the box ``(x1, y1, x2, y2)`` in photo pixels.

    Raises:
        NoUserFaceError: no face detected, or none matches the user.
    """
    found = detector.detect(image)
    if found.is_empty:
        raise NoUserFaceError("no face detected in the photo")
    cos = face_similarities(image, found, matcher, reference)
    best = int(cos.argmax())
    if float(cos[best]) < threshold:
        raise NoUserFaceError(
            f"no face of the user in the photo (best cosine {float(cos[best]):.3f} < {threshold:.3f})"
        )
    return found.landmarks[best].float(), tuple(float(v) for v in found.boxes[best])


def largest_passing_scale(
    quality_at: Callable[[float], float], target: float, max_scale: float = 2.0
) -> tuple[float, float]:
    """Largest ``s`` in ``[0, max_scale]`` with ``quality_at(s) >= target``: the strongest version of a
    perturbation that keeps the budget, the calibration shared by the baselines. The search is
    :func:`p3mask.protect.floor.strongest_within_floor` on ``s / max_scale``, the one Chameleon's keys use.

    Args:
        quality_at: SSIMULACRA2 of the perturbation scaled by ``s`` (100 at ``s = 0``, falling with ``s``).
        target: SSIMULACRA2 to keep, in (0, 100).
        max_scale: largest scale tried (default 2).

    Returns:
        ``(scale, quality_at(scale))``.
    """
    if not 0.0 < target < PERFECT or max_scale <= 0:
        raise ValueError(f"expected 0 < target < {PERFECT:.0f} and max_scale > 0; got {target}, {max_scale}")
    fraction, _, quality = strongest_within_floor(lambda f: (None, quality_at(f * max_scale)), target)
    return fraction * max_scale, quality


@dataclass
class PhotoFace:
    """A face prepared for optimisation (see the module docstring); build with :meth:`build`.

    Attributes:
        image: ``(3, H, W)`` the whole clean photo.
        region: ``(1, 3, h, w)`` clean region around the face that the optimisation works on.
        to_frame: ``(1, 2, 3)`` region -> canonical-frame affine.
        to_crop: model name -> ``(1, 2, 3)`` region -> that model's aligned crop.
        full: ``(1, 3, h', w')`` full-resolution window around the face and its context (for the final paste).
        full_to_frame: ``(1, 2, 3)`` window -> frame affine.
        offset: ``(y0, x0)`` of the window in the photo.
        window: ``(1, 1, fh, fw)`` feather window applied to every perturbation.
        context: ``(y0, y1, x0, x1)`` of the face in context inside ``full`` (``None`` without a face box).
    """

    image: torch.Tensor
    region: torch.Tensor
    to_frame: torch.Tensor
    to_crop: dict[str, torch.Tensor]
    full: torch.Tensor
    full_to_frame: torch.Tensor
    offset: tuple[int, int]
    window: torch.Tensor
    context: tuple[int, int, int, int] | None = None
    # SSIMULACRA2 of the clean face in context, built on first use (its pyramid is filtered once per face)
    _measure: SSIMULACRA2Reference | None = field(default=None, repr=False, compare=False)

    @classmethod
    def build(
        cls,
        image: torch.Tensor,
        landmarks: torch.Tensor,
        models: Mapping[str, FaceRecognizer],
        max_face_scale: float = CANONICAL_MAX_FACE_SCALE,
        device: str | torch.device = "cpu",
        box: tuple[float, float, float, float] | None = None,
    ) -> PhotoFace:
        """Prepare the face at ``landmarks`` ``(5, 2)`` (box ``box``) of ``image`` ``(3, H, W)`` for ``models``."""
        frames = [(CANONICAL_TEMPLATE, CANONICAL_SIZE), *model_frames(models)]
        region, lmk, _ = crop_region(image, landmarks, frames, max_face_scale)
        include = face_in_context(box, *image.shape[1:]) if box is not None else None
        full, full_lmk, context = crop_region(image, landmarks, frames[:1], math.inf, include)
        x0, y0 = (landmarks[0] - full_lmk[0]).round().long().tolist()
        frame = torch.as_tensor(CANONICAL_TEMPLATE, dtype=torch.float32)
        to_crop = {
            name: estimate_similarity(lmk[None], torch.as_tensor(m.template, dtype=torch.float32)).to(device)
            for name, m in models.items()
        }
        return cls(
            image=image, region=region[None].to(device), to_frame=estimate_similarity(lmk[None], frame).to(device),
            to_crop=to_crop, full=full[None].to(device),
            full_to_frame=estimate_similarity(full_lmk[None], frame).to(device),
            offset=(int(y0), int(x0)), window=feather_window(CANONICAL_SIZE, CANONICAL_FEATHER, device),
            context=context,
        )

    def protected(self, delta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The region with ``delta`` ``(3, fh, fw)`` (frame units, [0, 1] image scale) pasted in.

        Returns:
            ``(1, 3, h, w)`` protected region in [0, 1] and ``(1, 1, h, w)`` face-region weight.
        """
        valid = torch.ones_like(self.region[:, :1])
        return composite(self.region, valid, delta * self.window[0], self.to_frame)

    def embed(self, models: Mapping[str, FaceRecognizer], x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings of regions ``x`` ``(B, 3, h, w)`` by every model: name -> ``(B, D)``."""
        out = {}
        for name, model in models.items():
            matrices = self.to_crop[name].expand(x.shape[0], -1, -1)
            out[name] = model(warp_to_crop(x, matrices, model.input_size))
        return out

    @torch.no_grad()
    def full_quality(self, delta: torch.Tensor, scale: float = 1.0) -> tuple[torch.Tensor, float]:
        """Full-resolution window with ``scale * delta`` pasted in (rounded to 8-bit levels, as saved),
        and the SSIMULACRA2 of its face in context (``nan`` without a face box)."""
        valid = torch.ones_like(self.full[:, :1])
        x, _ = composite(self.full, valid, scale * delta * self.window[0], self.full_to_frame)
        x = (self.full + torch.round((x - self.full) * 255.0) / 255.0).clamp(0, 1)
        if self.context is None:
            return x, math.nan
        y0, y1, x0, x1 = self.context
        if self._measure is None:
            self._measure = SSIMULACRA2Reference(self.full[..., y0:y1, x0:x1])
        return x, float(self._measure(x[..., y0:y1, x0:x1]))

    @torch.no_grad()
    def paste(self, window: torch.Tensor) -> torch.Tensor:
        """The whole photo with the full-resolution window ``(1, 3, h', w')`` put back in place."""
        out = self.image.clone()
        y0, x0 = self.offset
        out[:, y0:y0 + window.shape[2], x0:x0 + window.shape[3]] = window[0].to(out.device, out.dtype)
        return out

    @torch.no_grad()
    def finish(
        self, delta: torch.Tensor, quality_target: float | None, max_scale: float = 2.0
    ) -> tuple[torch.Tensor, float, float]:
        """Paste ``delta`` at full resolution, scaled to the perceptual budget when ``quality_target`` is given.

        Returns:
            ``(photo, quality, scale)``: the ``(3, H, W)`` protected photo, the SSIMULACRA2 of its face in
            context and the scale applied to ``delta`` (1 without a target).
        """
        scale = 1.0
        if quality_target is not None:
            if self.context is None:
                raise ValueError("a perceptual budget needs the face box (PhotoFace.build(..., box=...))")
            scale, _ = largest_passing_scale(lambda s: self.full_quality(delta, s)[1], quality_target, max_scale)
        window, quality = self.full_quality(delta, scale)
        return self.paste(window), quality, scale
