"""CIEDE2000 colour difference of protected photos (Sharma, Wu and Dalal, Color Res. Appl. 30(1), 2005).

sRGB in [0, 1] -> linear RGB (the sRGB curve, as in :mod:`p3mask.quality.ssimulacra2`) -> CIE XYZ
(the sRGB primaries, D65) -> CIELAB with the D65 white -> dE00 with the formulation and the
hue conventions of Sharma et al. (their 34 published test pairs are in tests/quality/test_colour.py).
A dE00 of about 1 is a just-noticeable difference of two flat patches; above 3 is clearly visible.

Example:
    >>> import torch
    >>> lab1 = torch.tensor([[50.0, 2.6772, -79.7751]])
    >>> lab2 = torch.tensor([[50.0, 0.0, -82.7485]])
    >>> round(float(ciede2000(lab1, lab2)), 4)
    2.0425
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from p3mask.quality.ssimulacra2 import srgb_to_linear

# linear sRGB -> XYZ (IEC 61966-2-1, D65)
_RGB_TO_XYZ = (
    (0.4124564, 0.3575761, 0.1804375),
    (0.2126729, 0.7151522, 0.0721750),
    (0.0193339, 0.1191920, 0.9503041),
)
_WHITE_D65 = (0.95047, 1.0, 1.08883)  # the D65 reference white, Y = 1
_EPSILON = 216.0 / 24389.0  # CIE: (6/29)^3
_KAPPA = 24389.0 / 27.0  # CIE: (29/3)^3
VISIBLE_DE00 = 3.0  # the threshold of the report's "share of pixels over 3"


def srgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` sRGB in [0, 1] -> ``(B, 3, H, W)`` CIELAB (L in [0, 100], D65 white)."""
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected (B,3,H,W) RGB in [0,1], got {tuple(rgb.shape)}")
    matrix = torch.tensor(_RGB_TO_XYZ, dtype=rgb.dtype, device=rgb.device)
    white = torch.tensor(_WHITE_D65, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    xyz = torch.einsum("ij,bjhw->bihw", matrix, srgb_to_linear(rgb)) / white
    cube = xyz.clamp_min(_EPSILON) ** (1.0 / 3.0)
    f = torch.where(xyz > _EPSILON, cube, (_KAPPA * xyz + 16.0) / 116.0)
    return torch.stack([116.0 * f[:, 1] - 16.0, 500.0 * (f[:, 0] - f[:, 1]), 200.0 * (f[:, 1] - f[:, 2])], dim=1)


def _hue_degrees(b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    hue = torch.rad2deg(torch.atan2(b, a))
    hue = torch.where(hue < 0, hue + 360.0, hue)
    return torch.where((a == 0) & (b == 0), torch.zeros_like(hue), hue)


def _cos(degrees: torch.Tensor) -> torch.Tensor:
    return torch.cos(torch.deg2rad(degrees))


def ciede2000(lab1: torch.Tensor, lab2: torch.Tensor) -> torch.Tensor:
    """CIEDE2000 colour difference (kL = kC = kH = 1) of two CIELAB tensors.

    Args:
        lab1: ``(B, 3, ...)`` L, a, b on dim 1.
        lab2: same shape.

    Returns:
        ``(B, ...)`` dE00, >= 0.
    """
    if lab1.shape != lab2.shape or lab1.ndim < 2 or lab1.shape[1] != 3:
        raise ValueError(
            f"expected two (B,3,...) Lab tensors of one shape, got {tuple(lab1.shape)} and {tuple(lab2.shape)}"
        )
    l1, a1, b1 = lab1.unbind(1)
    l2, a2, b2 = lab2.unbind(1)
    c_mean7 = ((torch.hypot(a1, b1) + torch.hypot(a2, b2)) / 2.0) ** 7
    g = 0.5 * (1.0 - torch.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1p, a2p = (1.0 + g) * a1, (1.0 + g) * a2
    c1p, c2p = torch.hypot(a1p, b1), torch.hypot(a2p, b2)
    h1p, h2p = _hue_degrees(b1, a1p), _hue_degrees(b2, a2p)
    chroma_zero = (c1p * c2p) == 0

    dh = h2p - h1p
    dh = torch.where(dh > 180.0, dh - 360.0, torch.where(dh < -180.0, dh + 360.0, dh))
    dh = torch.where(chroma_zero, torch.zeros_like(dh), dh)
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2.0 * torch.sqrt(c1p * c2p) * torch.sin(torch.deg2rad(dh / 2.0))

    l_mean, c_mean = (l1 + l2) / 2.0, (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_mean = torch.where(
        (h1p - h2p).abs() <= 180.0,
        h_sum / 2.0,
        torch.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
    )
    h_mean = torch.where(chroma_zero, h_sum, h_mean)
    t = 1.0 - 0.17 * _cos(h_mean - 30.0) + 0.24 * _cos(2.0 * h_mean) + 0.32 * _cos(3.0 * h_mean + 6.0)
    t = t - 0.20 * _cos(4.0 * h_mean - 63.0)
    d_theta = 30.0 * torch.exp(-(((h_mean - 275.0) / 25.0) ** 2))
    c_mean7 = c_mean**7
    r_c = 2.0 * torch.sqrt(c_mean7 / (c_mean7 + 25.0**7))
    l50 = (l_mean - 50.0) ** 2
    s_l = 1.0 + 0.015 * l50 / torch.sqrt(20.0 + l50)
    s_c = 1.0 + 0.045 * c_mean
    s_h = 1.0 + 0.015 * c_mean * t
    r_t = -torch.sin(torch.deg2rad(2.0 * d_theta)) * r_c
    tl, tc, th = d_l / s_l, d_c / s_c, d_h / s_h
    return torch.sqrt((tl * tl + tc * tc + th * th + r_t * tc * th).clamp_min(0.0))


def blur3(x: torch.Tensor) -> torch.Tensor:
    """The report's 1-pixel blur: a 3x3 box mean with edge replication, ``(B, C, H, W)`` -> same."""
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernel_size=3, stride=1)


@dataclass(frozen=True)
class ColourReport:
    """CIEDE2000 of one face region."""

    mean_de00: float  # mean dE00 over the region's pixels, after the 3x3 box blur of both images
    share_over_3: float  # share of the region's pixels with dE00 > 3 (same blur), in [0, 1]
    pixels: int  # number of pixels in the region


def colour_report(
    reference: torch.Tensor, distorted: torch.Tensor, region: tuple[int, int, int, int] | None = None
) -> ColourReport:
    """Mean dE00 and share of pixels over 3 of a face region, both images blurred by :func:`blur3` first.

    Args:
        reference: ``(1, 3, H, W)`` or ``(3, H, W)`` RGB in [0, 1].
        distorted: same shape.
        region: ``(y0, y1, x0, x1)`` pixel box (as :func:`p3mask.quality.context.face_in_context`
            returns), or None for the whole image. The blur runs on the whole image, so the region's
            border pixels see their true neighbours.
    """
    if reference.ndim == 3:
        reference, distorted = reference.unsqueeze(0), distorted.unsqueeze(0)
    if reference.shape != distorted.shape or reference.ndim != 4 or reference.shape[:2] != (1, 3):
        raise ValueError(
            f"expected two (1,3,H,W) RGB images of one shape, got {tuple(reference.shape)} and {tuple(distorted.shape)}"
        )
    de = ciede2000(srgb_to_lab(blur3(reference)), srgb_to_lab(blur3(distorted)))[0]
    if region is not None:
        y0, y1, x0, x1 = region
        if not (0 <= y0 < y1 <= de.shape[0] and 0 <= x0 < x1 <= de.shape[1]):
            raise ValueError(f"region {region} is empty or outside the {de.shape[0]}x{de.shape[1]} image")
        de = de[y0:y1, x0:x1]
    return ColourReport(float(de.mean()), float((de > VISIBLE_DE00).float().mean()), int(de.numel()))


__all__ = ["ColourReport", "VISIBLE_DE00", "blur3", "ciede2000", "colour_report", "srgb_to_lab"]
