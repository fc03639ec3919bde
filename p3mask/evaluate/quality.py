"""Image quality of protected photos: SSIM and PSNR on the face region and on the whole photo.

SSIM is the same measure Chameleon constrains (:func:`p3mask.protect.ssim.face_ssim`: per-pixel SSIM map
with an 11-tap Gaussian window, averaged over channels, then over a region with a weight map), so the
figures here can be compared directly with the preset's SSIM floor. The face region of a photo is the
coverage of the key's canonical frame warped onto the face (:func:`face_region`): exactly the pixels a
mask can change. PSNR uses the same weights on the squared error.

LPIPS (Zhang et al., CVPR 2018) is not computed: its backbones (AlexNet/VGG ImageNet weights) are
downloaded at run time by torchvision and no package on the registries this project can reach ships
them (the ``lpips`` wheel holds only the small linear heads). :data:`LPIPS_STATUS` says so in reports.

Example:
    >>> import torch
    >>> x = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))
    >>> q = photo_quality(x, x)
    >>> q.ssim_full, q.psnr_full
    (1.0, inf)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from p3mask.face.align import estimate_similarity, paste_from_crop
from p3mask.protect.ssim import face_ssim

LPIPS_STATUS = (
    "unavailable offline: LPIPS needs ImageNet AlexNet/VGG weights that torchvision downloads at run time; "
    "no package on PyPI/npm reachable here ships them (the lpips wheel holds only its linear heads)"
)


def _check_batch(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name}: expected a float torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected (B,3,H,W) RGB in [0,1], got {tuple(x.shape)}")


def psnr(img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB for images in [0, 1] (peak 1).

    Args:
        img1: ``(B, 3, H, W)`` RGB in [0, 1].
        img2: same shape.
        weight: optional ``(B, 1, H, W)`` or ``(1, 1, H, W)`` region weights (mean squared error is
            weighted by them).

    Returns:
        ``(B,)`` PSNR; ``inf`` for identical images.
    """
    _check_batch("img1", img1)
    _check_batch("img2", img2)
    if img1.shape != img2.shape:
        raise ValueError(f"img1 and img2 must have the same shape, got {tuple(img1.shape)} and {tuple(img2.shape)}")
    err = (img1.float() - img2.float()).pow(2).mean(dim=1, keepdim=True)  # (B,1,H,W)
    if weight is None:
        mse = err.flatten(1).mean(dim=1)
    else:
        if weight.ndim != 4 or weight.shape[1] != 1 or weight.shape[-2:] != img1.shape[-2:]:
            raise ValueError(f"weight: expected (B,1,H,W) with H,W={tuple(img1.shape[-2:])}, got {tuple(weight.shape)}")
        w = weight.float().expand_as(err)
        total = w.flatten(1).sum(dim=1)
        if bool((total <= 0).any()):
            raise ValueError("weight: every image needs a region with positive total weight")
        mse = (err * w).flatten(1).sum(dim=1) / total
    return 10.0 * torch.log10(1.0 / mse)


def ssim(img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """Mean SSIM over the image or over a weighted region; ``(B,)`` (see :func:`p3mask.protect.ssim.face_ssim`)."""
    return face_ssim(img1, img2, weight)


def face_region(
    landmarks: torch.Tensor,
    image_size: Sequence[int],
    template: Sequence[Sequence[float]],
    frame_size: Sequence[int],
) -> torch.Tensor:
    """Where a mask in the canonical frame lands on a face: the frame's coverage in photo pixels.

    Args:
        landmarks: ``(5, 2)`` landmarks ``(x, y)`` of the face in the photo.
        image_size: photo ``(H, W)``.
        template: the frame's five landmarks ``(x, y)`` in frame pixels (a key's ``template``).
        frame_size: the frame's ``(h, w)`` (a key's ``frame_size``).

    Returns:
        ``(1, 1, H, W)`` weights in [0, 1] (1 inside, a one-pixel ramp at the edge, 0 outside).
    """
    if landmarks.shape != (5, 2):
        raise ValueError(f"landmarks: expected (5, 2), got {tuple(landmarks.shape)}")
    matrix = estimate_similarity(landmarks[None].float(), torch.as_tensor(template, dtype=torch.float32))
    ones = torch.ones(1, 1, int(frame_size[0]), int(frame_size[1]))
    return paste_from_crop(ones, matrix, image_size)[1]


@dataclass(frozen=True)
class PhotoQuality:
    """Quality of one protected photo against its clean original.

    Attributes:
        ssim_face: SSIM over the face region (``nan`` when no region was given).
        psnr_face: PSNR over the face region, dB (``nan`` when no region was given).
        ssim_full: SSIM over the whole photo.
        psnr_full: PSNR over the whole photo, dB.
    """

    ssim_face: float
    psnr_face: float
    ssim_full: float
    psnr_full: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def photo_quality(clean: torch.Tensor, protected: torch.Tensor, region: torch.Tensor | None = None) -> PhotoQuality:
    """SSIM and PSNR of a protected photo against its original.

    Args:
        clean: ``(3, H, W)`` original in [0, 1].
        protected: ``(3, H, W)`` protected photo in [0, 1].
        region: optional ``(1, 1, H, W)`` face-region weights (see :func:`face_region`).

    Returns:
        :class:`PhotoQuality`.
    """
    if clean.ndim != 3 or clean.shape != protected.shape:
        raise ValueError(f"expected two (3,H,W) photos of one size, got {tuple(clean.shape)} and {tuple(protected.shape)}")
    a, b = clean[None].float(), protected[None].float()
    face_s = face_p = math.nan
    if region is not None and float(region.sum()) > 0:
        face_s = float(ssim(a, b, region))
        face_p = float(psnr(a, b, region))
    return PhotoQuality(face_s, face_p, float(ssim(a, b)), float(psnr(a, b)))


def mean_quality(items: Sequence[PhotoQuality]) -> dict[str, float]:
    """Mean of each field over photos (``nan`` entries skipped); also the minimum face SSIM.

    Returns:
        ``{"ssim_face", "psnr_face", "ssim_full", "psnr_full", "ssim_face_min", "photos"}``; PSNR means
        skip infinite values (identical photos).
    """
    out: dict[str, float] = {}
    for name in ("ssim_face", "psnr_face", "ssim_full", "psnr_full"):
        values = [getattr(q, name) for q in items if math.isfinite(getattr(q, name))]
        out[name] = sum(values) / len(values) if values else math.nan
    faces = [q.ssim_face for q in items if math.isfinite(q.ssim_face)]
    out["ssim_face_min"] = min(faces) if faces else math.nan
    out["photos"] = len(items)
    return out
