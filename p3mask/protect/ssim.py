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
from kornia.filters import filter2d_separable, get_gaussian_kernel1d
from kornia.metrics import ssim as ssim_map

# Window of the SSIM map: 11 taps, Gaussian sigma 1.5 (Wang et al. 2004; kornia's default sigma).
WINDOW_SIZE = 11
# SSIM's constants for a data range of 1 and kornia's denominator guard (as kornia.metrics.ssim).
_C1, _C2, _EPS = 0.01**2, 0.03**2, 1e-12


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


def _region_box(weight: torch.Tensor, window_size: int) -> tuple[slice, slice]:
    """Rows and columns of the box of non-zero weight plus the window radius (the whole image when
    the weight is all zero or the box is too thin for the window)."""
    radius = window_size // 2
    h, w = weight.shape[-2:]
    rows = (weight.detach() > 0).any(dim=0).any(dim=0).any(dim=1).nonzero()
    cols = (weight.detach() > 0).any(dim=0).any(dim=0).any(dim=0).nonzero()
    if rows.numel() == 0:
        return slice(0, h), slice(0, w)
    y0, y1 = max(0, int(rows[0]) - radius), min(h, int(rows[-1]) + radius + 1)
    x0, x1 = max(0, int(cols[0]) - radius), min(w, int(cols[-1]) + radius + 1)
    if min(y1 - y0, x1 - x0) <= radius:
        return slice(0, h), slice(0, w)
    return slice(y0, y1), slice(x0, x1)


def _crop_to_region(img1: torch.Tensor, img2: torch.Tensor, weight: torch.Tensor, window_size: int):
    """Cut all three to the box of non-zero weight plus the window radius (same result, less work).

    Every window centred on a weighted pixel stays inside the cut, so the weighted mean is the one
    of the full images except where the full images themselves end.
    """
    rows, cols = _region_box(weight, window_size)
    return img1[..., rows, cols], img2[..., rows, cols], weight[..., rows, cols]


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


class FixedReferenceSSIM:
    """Face-region SSIM of one candidate image after another against a fixed reference: the search
    for the strongest mask that keeps the floor measures many candidates of one face.

    It computes what :func:`face_ssim` computes (the same Gaussian window, constants and reflect
    padding as :func:`kornia.metrics.ssim`), with the reference's local means and variances filtered
    once and the candidate's three moment maps filtered in one separable pass (9 channels per call
    where :func:`face_ssim` filters 15). The two agree to float rounding (a few 1e-7).

    Args:
        reference: ``(1, 3, H, W)`` RGB in [0, 1].
        weight: ``(1, 1, H, W)`` non-negative weights of the face region, not all zero.
        window_size: odd number of taps of the Gaussian window (default 11).

    Example:
        >>> import torch
        >>> ref = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
        >>> measure = FixedReferenceSSIM(ref, torch.ones(1, 1, 24, 24))
        >>> round(measure(ref), 6)
        1.0
    """

    def __init__(self, reference: torch.Tensor, weight: torch.Tensor, window_size: int = WINDOW_SIZE) -> None:
        _check_pair(reference, reference, weight, window_size)
        if reference.shape[0] != 1 or weight.shape[0] != 1:
            raise ValueError(f"expected one reference and one weight map, got {reference.shape[0]} and "
                             f"{weight.shape[0]}")
        self._rows, self._cols = _region_box(weight, window_size)
        weight = weight[..., self._rows, self._cols].to(reference.dtype)
        if float(weight.sum()) <= 0:
            raise ValueError("weight: the face region needs a positive total weight")
        self._weight = weight / weight.sum() / 3.0  # weighted mean over pixels and channels in one sum
        self._ref = reference[..., self._rows, self._cols]
        self._kernel = get_gaussian_kernel1d(window_size, 1.5, device=reference.device, dtype=reference.dtype)
        mu = self._blur(torch.cat([self._ref, self._ref * self._ref], dim=1))
        self._mu_ref, self._var_ref = mu[:, :3], mu[:, 3:] - mu[:, :3] ** 2

    def _blur(self, stack: torch.Tensor) -> torch.Tensor:
        return filter2d_separable(stack, self._kernel, self._kernel, border_type="reflect")

    @torch.no_grad()
    def __call__(self, candidate: torch.Tensor) -> float:
        """SSIM of ``candidate`` ``(1, 3, H, W)`` (the reference's shape) against the reference."""
        candidate = candidate[..., self._rows, self._cols]
        moments = self._blur(torch.cat([candidate, candidate * candidate, candidate * self._ref], dim=1))
        mu, mu_ref = moments[:, :3], self._mu_ref
        var, cov = moments[:, 3:6] - mu * mu, moments[:, 6:] - mu * mu_ref
        num = (2.0 * mu * mu_ref + _C1) * (2.0 * cov + _C2)
        den = (mu * mu + mu_ref * mu_ref + _C1) * (var + self._var_ref + _C2) + _EPS
        return float(((num / den) * self._weight).sum())


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


