"""Face-region SSIM and DSSIM: the perceptibility measure Chameleon constrains.

SSIM (Wang et al., "Image quality assessment: from error visibility to structural similarity", IEEE TIP
2004) is computed as a per-pixel map by :func:`kornia.metrics.ssim` (Gaussian window, sigma 1.5),
averaged over the three colour channels, and then averaged over the face region with a weight map
(for a pasted mask: its coverage in the photo, so that untouched background does not inflate the score).
DSSIM = (1 - SSIM) / 2, as in Chameleon.

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> float(face_ssim(x, x).min())
    1.0
"""

from __future__ import annotations

import torch
from kornia.metrics import ssim as ssim_map
from torch import nn

# Window of the SSIM map: 11 taps, Gaussian sigma 1.5 (Wang et al. 2004; kornia's default sigma).
WINDOW_SIZE = 11


def _check_pair(img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor | None, window_size: int) -> None:
    for name, img in (("img1", img1), ("img2", img2)):
        if not isinstance(img, torch.Tensor) or not img.is_floating_point():
            raise TypeError(f"{name}: expected a float torch.Tensor, got {type(img).__name__}")
        if img.ndim != 4 or img.shape[1] != 3:
            raise ValueError(f"{name}: expected (B,3,H,W) RGB in [0,1], got {tuple(img.shape)}")
    if img1.shape != img2.shape:
        raise ValueError(f"img1 and img2 must have the same shape, got {tuple(img1.shape)} and {tuple(img2.shape)}")
    if min(img1.shape[-2:]) <= window_size // 2:
        raise ValueError(f"images must be larger than {window_size // 2} px per side, got {tuple(img1.shape[-2:])}")
    if weight is not None:
        b, _, h, w = img1.shape
        if weight.ndim != 4 or weight.shape[1] != 1 or weight.shape[0] not in (1, b) or weight.shape[-2:] != (h, w):
            raise ValueError(f"weight: expected (B,1,H,W) or (1,1,H,W) with H,W={h},{w}, got {tuple(weight.shape)}")


def _crop_to_region(img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor, window_size: int):
    """Cut all three to the box of non-zero weight plus the window radius (same result, less work).

    Every window centred on a weighted pixel stays inside the cut, so the weighted mean is the one
    of the full images except where the full images themselves end.
    """
    radius = window_size // 2
    rows = (weight.detach() > 0).any(dim=0).any(dim=0).any(dim=1).nonzero()
    cols = (weight.detach() > 0).any(dim=0).any(dim=0).any(dim=0).nonzero()
    if rows.numel() == 0:
        return img1, img2, weight
    h, w = img1.shape[-2:]
    y0, y1 = max(0, int(rows[0]) - radius), min(h, int(rows[-1]) + radius + 1)
    x0, x1 = max(0, int(cols[0]) - radius), min(w, int(cols[-1]) + radius + 1)
    if min(y1 - y0, x1 - x0) <= radius:  # too thin for the window: keep the full images
        return img1, img2, weight
    return img1[..., y0:y1, x0:x1], img2[..., y0:y1, x0:x1], weight[..., y0:y1, x0:x1]


def face_ssim(
    img1: torch.Tensor,
    img2: torch.Tensor,
    weight: torch.Tensor | None = None,
    window_size: int = WINDOW_SIZE,
) -> torch.Tensor:
    """Weighted mean SSIM of two image batches (differentiable).

    Args:
        img1: ``(B, 3, H, W)`` RGB in [0, 1].
        img2: ``(B, 3, H, W)`` RGB in [0, 1].
        weight: ``(B, 1, H, W)`` or ``(1, 1, H, W)`` non-negative weights of the face region
            (default: every pixel weighs 1). Each image's weights must not all be zero.
        window_size: odd number of taps of the Gaussian window (default 11).

    Returns:
        ``(B,)`` SSIM in [-1, 1]; 1 means identical inside the region.
    """
    _check_pair(img1, img2, weight, window_size)
    if weight is None:
        per_pixel = ssim_map(img1, img2, window_size, max_val=1.0).mean(dim=1, keepdim=True)  # (B,1,H,W)
        return per_pixel.flatten(1).mean(dim=1)
    img1, img2, weight = _crop_to_region(img1, img2, weight, window_size)
    per_pixel = ssim_map(img1, img2, window_size, max_val=1.0).mean(dim=1, keepdim=True)
    weight = weight.to(per_pixel.dtype).expand_as(per_pixel)
    total = weight.flatten(1).sum(dim=1)
    if bool((total <= 0).any()):
        raise ValueError("weight: every image needs a face region with positive total weight")
    return (per_pixel * weight).flatten(1).sum(dim=1) / total


def face_dssim(
    img1: torch.Tensor,
    img2: torch.Tensor,
    weight: torch.Tensor | None = None,
    window_size: int = WINDOW_SIZE,
) -> torch.Tensor:
    """Structural dissimilarity ``(1 - SSIM) / 2`` of the face region; ``(B,)`` in [0, 1].

    Arguments as in :func:`face_ssim`.
    """
    return (1.0 - face_ssim(img1, img2, weight, window_size)) / 2.0


class FaceSSIM(nn.Module):
    """Module form of :func:`face_ssim`; ``forward(img1, img2, weight=None) -> (B,)``."""

    def __init__(self, window_size: int = WINDOW_SIZE) -> None:
        super().__init__()
        self.window_size = window_size

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return face_ssim(img1, img2, weight, self.window_size)


class FaceDSSIM(nn.Module):
    """Module form of :func:`face_dssim`; ``forward(img1, img2, weight=None) -> (B,)``."""

    def __init__(self, window_size: int = WINDOW_SIZE) -> None:
        super().__init__()
        self.window_size = window_size

    def forward(self, img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        return face_dssim(img1, img2, weight, self.window_size)
