"""Image quality of protected photos: what people see (SSIMULACRA2, Butteraugli, CIEDE2000), SSIM and PSNR.

SSIMULACRA2 (:mod:`p3mask.quality.ssimulacra2`) is the measure the presets' floors are set in: it is
measured on the face in context (:func:`p3mask.quality.face_in_context`, the square twice the face box
around it, at the photo's resolution) and on the whole photo. Butteraugli (libjxl's
``butteraugli_main``, when installed) is the independent audit the optimiser never sees: its max on the
face in context is reported beside it. CIEDE2000 (mean, and the share of pixels over 3 after a 1-px
blur) is measured on the face box. SSIM is the measure Chameleon constrained before
(:func:`p3mask.protect.ssim.face_ssim`: per-pixel SSIM map with an 11-tap Gaussian window, averaged
over channels, then over a region with a weight map). The face region of a photo is the coverage of
the key's canonical frame warped onto the face (:func:`face_region`): exactly the pixels a mask can
change. PSNR uses the same weights on the squared error.

LPIPS (Zhang et al., CVPR 2018) is not computed: its backbones (AlexNet/VGG ImageNet weights) are
downloaded at run time by torchvision and no package on the registries this project can reach ships
them (the ``lpips`` wheel holds only the small linear heads). :data:`LPIPS_STATUS` says so in reports.

Example:
    >>> import torch
    >>> x = torch.rand(3, 40, 40, generator=torch.Generator().manual_seed(0))
    >>> q = photo_quality(x, x)
    >>> q.ssim_full, q.psnr_full, q.ssimulacra2_full
    (1.0, inf, 100.0)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch

from p3mask.face.align import estimate_similarity, paste_from_crop
from p3mask.protect.ssim import face_ssim
from p3mask.quality import butteraugli, colour_report, face_in_context, ssimulacra2

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
        ssimulacra2_face: SSIMULACRA2 of the face in context (``nan`` without a face box).
        ssimulacra2_full: SSIMULACRA2 of the whole photo.
        butteraugli_face: Butteraugli max on the face in context (``nan`` without a box or the tool).
        butteraugli_pnorm3_face: Butteraugli 3-norm on the face in context (same).
        ciede2000_face: mean CIEDE2000 on the face box (``nan`` without a box).
        ciede2000_over3_face: share of face-box pixels with CIEDE2000 > 3 (same).
    """

    ssim_face: float
    psnr_face: float
    ssim_full: float
    psnr_full: float
    ssimulacra2_face: float = math.nan
    ssimulacra2_full: float = math.nan
    butteraugli_face: float = math.nan
    butteraugli_pnorm3_face: float = math.nan
    ciede2000_face: float = math.nan
    ciede2000_over3_face: float = math.nan

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def gamed(self) -> bool:
        """SSIMULACRA2 says at most "barely noticeable" (>= 70) while Butteraugli says badly damaged
        (max > 4.2, worse than JPEG q50 of the same photos): the mask may be gaming the measure."""
        return self.ssimulacra2_face >= 70.0 and self.butteraugli_face > GAMED_BUTTERAUGLI


# Butteraugli max of JPEG q50 on the demo photos (the perceptual-quality issue's reference table).
GAMED_BUTTERAUGLI = 4.2


def photo_quality(
    clean: torch.Tensor,
    protected: torch.Tensor,
    region: torch.Tensor | None = None,
    box: Sequence[float] | None = None,
    audit: bool = True,
) -> PhotoQuality:
    """Quality of a protected photo against its original.

    Args:
        clean: ``(3, H, W)`` original in [0, 1].
        protected: ``(3, H, W)`` protected photo in [0, 1].
        region: optional ``(1, 1, H, W)`` face-region weights (see :func:`face_region`) for SSIM and PSNR.
        box: optional face box ``(x1, y1, x2, y2)`` in photo pixels: SSIMULACRA2 and Butteraugli on the
            face in context, CIEDE2000 on the box.
        audit: run Butteraugli (when installed).

    Returns:
        :class:`PhotoQuality`.
    """
    if clean.ndim != 3 or clean.shape != protected.shape:
        raise ValueError(f"expected two (3,H,W) photos of one size, got {tuple(clean.shape)} and "
                         f"{tuple(protected.shape)}")
    a, b = clean[None].float(), protected[None].float()
    face_s = face_p = math.nan
    if region is not None and float(region.sum()) > 0:
        face_s = float(ssim(a, b, region))
        face_p = float(psnr(a, b, region))
    extra = {"ssimulacra2_full": float(ssimulacra2(a.double(), b.double()))} if min(a.shape[-2:]) >= 8 else {}
    if box is not None:
        y0, y1, x0, x1 = face_in_context(box, *clean.shape[1:])
        ctx_a, ctx_b = a[..., y0:y1, x0:x1], b[..., y0:y1, x0:x1]
        if min(ctx_a.shape[-2:]) >= 8:
            extra["ssimulacra2_face"] = float(ssimulacra2(ctx_a.double(), ctx_b.double()))
        score = butteraugli(ctx_a, ctx_b) if audit else None
        if score is not None:
            extra.update(butteraugli_face=score.max_distance, butteraugli_pnorm3_face=score.pnorm3)
        x1b, y1b, x2b, y2b = box
        h, w = clean.shape[1:]
        face = (max(0, int(y1b)), min(h, int(math.ceil(y2b))), max(0, int(x1b)), min(w, int(math.ceil(x2b))))
        if face[0] < face[1] and face[2] < face[3]:
            colour = colour_report(a, b, face)
            extra.update(ciede2000_face=colour.mean_de00, ciede2000_over3_face=colour.share_over_3)
    return PhotoQuality(face_s, face_p, float(ssim(a, b)), float(psnr(a, b)), **extra)


_MEANS = ("ssim_face", "psnr_face", "ssim_full", "psnr_full", "ssimulacra2_face", "ssimulacra2_full",
          "butteraugli_face", "butteraugli_pnorm3_face", "ciede2000_face", "ciede2000_over3_face")


def mean_quality(items: Sequence[PhotoQuality]) -> dict[str, float]:
    """Mean of each field over photos (``nan`` entries skipped); also minima and maxima that matter.

    Returns:
        the mean of every :class:`PhotoQuality` field, ``ssim_face_min``, ``ssimulacra2_face_min``,
        ``butteraugli_face_max`` (the worst photo), ``gamed`` (photos SSIMULACRA2 calls at most barely
        noticeable while Butteraugli calls them badly damaged) and ``photos``; PSNR means skip infinite
        values (identical photos).
    """
    out: dict[str, float] = {}
    for name in _MEANS:
        values = [getattr(q, name) for q in items if math.isfinite(getattr(q, name))]
        out[name] = sum(values) / len(values) if values else math.nan
    for name, pick in (("ssim_face", min), ("ssimulacra2_face", min), ("butteraugli_face", max)):
        values = [getattr(q, name) for q in items if math.isfinite(getattr(q, name))]
        out[f"{name}_{pick.__name__}"] = pick(values) if values else math.nan
    out["gamed"] = sum(q.gamed for q in items)
    out["photos"] = len(items)
    return out
