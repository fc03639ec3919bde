"""SSIMULACRA2 (Cloudinary / JPEG XL) in PyTorch: differentiable, batched, CPU and CUDA.

SSIMULACRA2 (Jon Sneyers, 2022; ``tools/ssimulacra2.cc`` in libjxl) scores a distorted image against
its reference on a 0..100 scale: 90 visually lossless, 80 not noticeable side by side, 70 barely
noticeable side by side at 1:1, 50 medium quality, 30 low quality (it can go below 0).

The computation, as in the PyPI reference implementation ``ssimulacra2==0.3.0`` which this module
matches to a few 1e-6 points in float64 and 1e-4 in float32 (tests/quality/test_ssimulacra2.py):

1. sRGB -> linear RGB (the piecewise sRGB curve), then the JPEG XL opsin absorbance matrix plus bias,
   cube root, bias removed, then XYB made positive (``X*14 + 0.42``, ``Y + 0.01``, ``B - Y + 0.55``).
2. Six scales; each next scale is a 2x2 box mean of the *linear* RGB (an odd last row or column averages
   the pixels it has), converted to XYB again. A scale whose side is under 8 pixels is not measured and
   ends the pyramid (a 128x128 image has 5 scales, 250x250 has 6).
3. Per scale and XYB channel, with Gaussian-blurred means (sigma 1.5, 11 taps, zero padding along the
   width and symmetric padding along the height, exactly the reference's borders):
   an SSIM-like map ``max(0, 1 - (1 - (mu1-mu2)^2) (2 cov + C2) / (var1 + var2 + C2))`` with C2 = 9e-4,
   and the edge ratio ``d = (1 + |img2 - mu2|) / (1 + |img1 - mu1|) - 1``, split into artefacts
   ``max(d, 0)`` and detail loss ``max(-d, 0)``. Each map is pooled by its mean and by the 4-th root of
   the mean of its 4-th power.
4. A weighted sum with the published 108 weights (taken in order over channel, measured scale, norm and
   term: with fewer than 6 scales the later channels take earlier weights, as the reference does), then
   ``s * 0.9562382616834844``, the cubic ``2.3268 s - 0.020885 s^2 + 6.2485e-5 s^3`` and
   ``100 - 10 s^0.62763`` (100 when ``s <= 0``).

Example:
    >>> import torch
    >>> x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> ssimulacra2(x, x).tolist()
    [100.0, 100.0]
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

NUM_SCALES = 6  # kNumScales in the reference
MIN_SIDE = 8  # a scale with a side under 8 pixels is not measured (the reference's loop break)
C2 = 0.0009  # kC2 in the reference
SIGMA = 1.5  # Gaussian blur of the local means
RADIUS = 5  # scipy's int(3.33 * 1.5 + 0.5) taps each side (the reference calls truncate=3.33)

# JPEG XL opsin absorbance matrix and bias (libjxl opsin_params.h: kM00..kM22, kB0..kB2).
_OPSIN = (
    (0.30, 1.0 - 0.078 - 0.30, 0.078),
    (0.23, 1.0 - 0.078 - 0.23, 0.078),
    (0.24342268924547819, 0.20476744424496821, 1.0 - 0.24342268924547819 - 0.20476744424496821),
)
_OPSIN_BIAS = 0.0037930732552754493

# The published SSIMULACRA2 weights (libjxl tools/ssimulacra2.cc; the same in ssimulacra2==0.3.0), in
# the order they are consumed: channel X, Y, B; then scale; then norm (1-norm, 4-norm); then term
# (SSIM map, edge artefact, detail loss). With all six scales measured each row is one (channel, scale).
_WEIGHTS = (
    0.0, 0.0007376606707406586, 0.0, 0.0, 0.0007793481682867309, 0.0,
    0.0, 0.0004371155730107379, 0.0, 1.1041726426657346, 0.00066284834129271, 0.00015231632783718752,
    0.0, 0.0016406437456599754, 0.0, 1.8422455520539298, 11.441172603757666, 0.0,
    0.0007989109436015163, 0.000176816438078653, 0.0, 1.8787594979546387, 10.94906990605142, 0.0,
    0.0007289346991508072, 0.9677937080626833, 0.0, 0.00014003424285435884, 0.9981766977854967,
    0.00031949755934435053,
    0.0004550992113792063, 0.0, 0.0, 0.0013648766163243398, 0.0, 0.0,
    0.0, 0.0, 0.0, 7.466890328078848, 0.0, 17.445833984131262,
    0.0006235601634041466, 0.0, 0.0, 6.683678146179332, 0.00037724407979611296, 1.027889937768264,
    225.20515300849274, 0.0, 0.0, 19.213238186143016, 0.0011401524586618361, 0.001237755635509985,
    176.39317598450694, 0.0, 0.0, 24.43300999870476, 0.28520802612117757, 0.0004485436923833408,
    0.0, 0.0, 0.0, 34.77906344483772, 44.835625328877896, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0008680556573291698, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0005313191874358747, 0.0, 0.00016533814161379112, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0004179171803251336, 0.0017290828234722833, 0.0,
    0.0020827005846636437, 0.0, 0.0, 8.826982764996862, 23.19243343998926, 0.0,
    95.1080498811086, 0.9863978034400682, 0.9834382792465353, 0.0012286405048278493, 171.2667255897307,
    0.9807858872435379,
    0.0, 0.0, 0.0, 0.0005130064588990679, 0.0, 0.00010854057858411537,
)
assert len(_WEIGHTS) == 3 * NUM_SCALES * 2 * 3

# Final nonlinearity (libjxl tools/ssimulacra2.cc, Msssim::Score).
_PRE_SCALE = 0.9562382616834844
_CUBIC = (2.326765642916932, -0.020884521182843837, 6.248496625763138e-05)
_EXPONENT = 0.6276336467831387


def _check_images(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name}: expected a float torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected (B,3,H,W) RGB in [0,1], got {tuple(x.shape)}")
    if min(x.shape[-2:]) < MIN_SIDE:
        raise ValueError(
            f"{name}: SSIMULACRA2 needs images of at least {MIN_SIDE}x{MIN_SIDE} pixels, got {tuple(x.shape[-2:])}"
        )


def num_scales(height: int, width: int) -> int:
    """How many scales SSIMULACRA2 measures on an image of ``height`` x ``width`` pixels (0 to 6)."""
    count = 0
    while count < NUM_SCALES and min(height, width) >= MIN_SIDE:
        count += 1
        height, width = (height + 1) // 2, (width + 1) // 2
    return count


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """The sRGB transfer curve inverted: ``(..)`` sRGB in [0, 1] -> linear light in [0, 1]."""
    # x ** 2.4 as exp(2.4 log x): the same values, about twice as fast on CPU (vectorised exp and log);
    # clamped so the unused branch has no NaN gradient
    curve = torch.exp(2.4 * torch.log((x.clamp_min(0.04045) + 0.055) / 1.055))
    return torch.where(x <= 0.04045, x / 12.92, curve)


@functools.lru_cache(maxsize=16)
def _xyb_maps(
    dtype: torch.dtype, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """1x1-convolution weights: linear RGB -> opsin mix, and cube roots -> positive XYB (plus its offset).

    With ``r_i = cbrt(mix_i)`` and ``k = cbrt(bias)``: X = (r0 - r1) / 2, Y = (r0 + r1) / 2 - k and
    B = r2 - k; made positive, X*14 + 0.42, Y + 0.01 and B - Y + 0.55 = r2 - (r0 + r1) / 2 + 0.55.
    """
    opsin = torch.tensor(_OPSIN, dtype=dtype, device=device).view(3, 3, 1, 1)
    roots = torch.tensor([[7.0, -7.0, 0.0], [0.5, 0.5, 0.0], [-0.5, -0.5, 1.0]], dtype=dtype, device=device)
    cube_bias = _OPSIN_BIAS ** (1.0 / 3.0)
    offset = torch.tensor([0.42, 0.01 - cube_bias, 0.55], dtype=dtype, device=device)
    bias = torch.full((3,), _OPSIN_BIAS, dtype=dtype, device=device)
    return opsin, bias, roots.view(3, 3, 1, 1), offset


def linear_to_xyb(linear: torch.Tensor) -> torch.Tensor:
    """Linear RGB ``(B, 3, H, W)`` -> SSIMULACRA2's positive XYB ``(B, 3, H, W)`` (channels X, Y, B).

    Best on contiguous (not channels-last) tensors: there a 1x1 convolution is about fifteen times faster
    on CPU.
    """
    opsin, bias, roots, offset = _xyb_maps(linear.dtype, linear.device)
    mixed = F.conv2d(linear, opsin, bias)  # > 0: the bias is positive and linear light is not negative
    # cube roots as exp(log(x) / 3): the same values, about twice as fast on CPU as a power
    return F.conv2d(torch.exp(torch.log(mixed.clamp_min(0.0)) * (1.0 / 3.0)), roots, offset)


def _downsample(linear: torch.Tensor) -> torch.Tensor:
    # 2x2 box mean; with ceil_mode and no padding a window past an odd edge averages the pixels it covers
    return F.avg_pool2d(linear, kernel_size=2, stride=2, ceil_mode=True)


def _gaussian_taps(dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    offsets = torch.arange(-RADIUS, RADIUS + 1, dtype=torch.float64)
    taps = torch.exp(-0.5 * (offsets / SIGMA) ** 2)
    return (taps / taps.sum()).to(dtype=dtype, device=device)


def _pad(xyb: torch.Tensor, fill: torch.Tensor, top: int = RADIUS, bottom: int = RADIUS, left: int = RADIUS,
         right: int = RADIUS) -> torch.Tensor:
    """The reference's borders around ``(B, 3, h, w)``: ``left`` and ``right`` columns of ``fill`` ``(3,)``
    (the value that stands for 0 in centred XYB), then ``top`` and ``bottom`` rows repeating the first and
    last rows in mirror order (symmetric padding; ``RADIUS`` of each around a whole scale, fewer around
    a box of it that is nearer than ``RADIUS`` to only some of its borders). Channels-last out."""
    b, c, h, w = xyb.shape
    wide = fill.view(1, c, 1, 1).expand(b, c, h, w + left + right).contiguous(memory_format=torch.channels_last)
    wide[..., left : left + w] = xyb
    return torch.cat([wide[:, :, :top].flip(2), wide, wide[:, :, h - bottom :].flip(2)], dim=2)


def _blur(padded: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian of a padded ``(N, C, H + 2R, W + 2R)`` stack -> ``(N, C, H, W)``.

    Depthwise convolutions on channels-last tensors: on CPU about ten times faster than one-channel
    planes (oneDNN vectorises across channels there). The result stays channels-last (the scores keep
    every map in that layout, so no copy is made between the blurs and the element-wise terms).
    """
    c = padded.shape[1]
    padded = padded.contiguous(memory_format=torch.channels_last)
    vertical = taps.view(1, 1, -1, 1).expand(c, 1, -1, 1).contiguous()
    horizontal = taps.view(1, 1, 1, -1).expand(c, 1, 1, -1).contiguous()
    return F.conv2d(F.conv2d(padded, vertical, groups=c), horizontal, groups=c)


def _root(mean: torch.Tensor, exponent: float) -> torch.Tensor:
    """``mean ** exponent`` for ``mean >= 0``, 0 at 0 with a zero (not infinite) gradient there."""
    positive = mean > 0
    return torch.where(positive, torch.where(positive, mean, torch.ones_like(mean)) ** exponent, 0.0)


def _pool(maps: torch.Tensor, count: int) -> torch.Tensor:
    """``(B, 3, h, w)`` non-negative map, zero outside these ``h x w`` of a scale's ``count`` pixels ->
    ``(B, 3, 2)``: the mean and the 4-norm per channel over all ``count`` pixels."""
    squared = maps * maps
    sums = torch.stack([maps.sum(dim=(2, 3)), (squared * squared).sum(dim=(2, 3))], dim=-1) / count
    return torch.stack([sums[..., 0], _root(sums[..., 1], 0.25)], dim=-1)


def _to_score(weighted: torch.Tensor) -> torch.Tensor:
    s = weighted * _PRE_SCALE
    s = _CUBIC[0] * s + _CUBIC[1] * s * s + _CUBIC[2] * s * s * s
    return torch.where(s > 0, 100.0 - 10.0 * _root(s.clamp_min(0.0), _EXPONENT), 100.0)


Box = tuple[int, int, int, int]  # y0, y1, x0, x1: rows y0..y1-1 and columns x0..x1-1


def _halve(box: Box) -> Box:
    """The pixels of the next (2x2 box mean) scale that depend on the pixels of ``box``."""
    y0, y1, x0, x1 = box
    return y0 // 2, (y1 + 1) // 2, x0 // 2, (x1 + 1) // 2


def _grow(box: Box, by: int, height: int, width: int) -> Box:
    y0, y1, x0, x1 = box
    return max(y0 - by, 0), min(y1 + by, height), max(x0 - by, 0), min(x1 + by, width)


class _ReferenceScale:
    """What one scale needs from the reference, on the part of it a change can reach.

    A distorted image may differ from the reference only inside ``changed`` (this scale's pixels); every
    map of SSIMULACRA2 is then zero beyond ``RADIUS`` pixels from it (the blurs' reach), so the maps are
    computed on ``maps`` = ``changed`` grown by ``RADIUS`` and pooled over all ``count`` pixels of the
    scale: the same score as the whole scale, for a fraction of the work when the change is small.

    Both sides are centred on the reference's channel means ``c`` near the change (so float32 loses
    little to the cancellation in ``E[x^2] - E[x]^2``); the reference's zero padding along W becomes
    padding with ``-c``, and every map is invariant to the shift, so each equals the reference's.

    Attributes:
        linear: ``(B, 3, H, W)`` the reference's linear RGB at this scale.
        changed, maps: boxes of this scale (see above).
        borders: ``(top, bottom, left, right)`` rows and columns of the reference's borders (outside
            the scale) in :attr:`padded`.
        centre: ``(1, 3, 1, 1)`` channel means of the reference's XYB there (any constant gives the same
            maps; the mean keeps float32 rounding small).
        padded: the reference's centred XYB on ``maps`` grown by ``RADIUS``, with the reference's
            borders where that leaves the scale; channels-last.
        mu, var, edge, inv_edge: ``(B, 3, h, w)`` blurred mean, variance, ``|x - mu|`` and
            ``1 / (1 + |x - mu|)`` on ``maps``.
    """

    def __init__(self, linear: torch.Tensor, taps: torch.Tensor, changed: Box) -> None:
        height, width = linear.shape[-2:]
        self.linear, self.count, self.changed = linear, height * width, changed
        self.maps = y0, y1, x0, x1 = _grow(changed, RADIUS, height, width)
        # what the blurs read: the maps' box grown by RADIUS, where it leaves the scale the borders
        sy0, sy1, sx0, sx1 = _grow(self.maps, RADIUS, height, width)
        self.borders = (RADIUS - (y0 - sy0), RADIUS - (sy1 - y1), RADIUS - (x0 - sx0), RADIUS - (sx1 - x1))
        xyb = linear_to_xyb(linear[..., sy0:sy1, sx0:sx1])
        self.centre = xyb.mean(dim=(0, 2, 3)).view(1, 3, 1, 1)
        self.padded = _pad(xyb - self.centre, -self.centre.view(3), *self.borders)
        moments = _blur(torch.cat([self.padded, self.padded * self.padded], dim=1), taps)
        self.mu = moments[:, :3]
        self.var = moments[:, 3:] - self.mu * self.mu
        self.edge = (_inner(self.padded) - self.mu).abs()
        self.inv_edge = 1.0 / (1.0 + self.edge)

    def distorted_padded(self, linear: torch.Tensor) -> torch.Tensor:
        """The padded, centred XYB of a distorted image on :attr:`padded`'s box, from ``linear``
        ``(B, 3, h, w)``, its linear RGB on :attr:`changed` (elsewhere it is the reference's)."""
        y0, y1, x0, x1 = self.changed
        top, bottom = self.borders[:2]
        # row y of the scale is row y - maps[0] + RADIUS of the padded box (likewise for columns)
        row, col = RADIUS - self.maps[0], RADIUS - self.maps[2]
        padded = self.padded.expand(linear.shape[0], -1, -1, -1).clone(memory_format=torch.channels_last)
        padded[:, :, y0 + row : y1 + row, x0 + col : x1 + col] = linear_to_xyb(linear) - self.centre
        # the symmetric borders repeat the scale's first and last rows: redo them where those changed
        if y0 < top:
            padded[:, :, :top] = padded[:, :, top : 2 * top].flip(2)
        if y1 > self.linear.shape[2] - bottom:
            end = padded.shape[2]
            padded[:, :, end - bottom :] = padded[:, :, end - 2 * bottom : end - bottom].flip(2)
        return padded


def _inner(padded: torch.Tensor) -> torch.Tensor:
    return padded[:, :, RADIUS:-RADIUS, RADIUS:-RADIUS]


def _scale_terms(ref: _ReferenceScale, linear: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """``(B, 3, 2, 3)`` pooled terms of one scale: channel, norm, (SSIM map, artefact, detail loss), of
    the distorted image whose linear RGB on ``ref.changed`` is ``linear``.

    Written without the cancellations of the reference's ``1 - num / den`` and ``a / b - 1`` (same
    values, far less float32 rounding): with ``e = E[(x1 - x2)^2] - (mu1 - mu2)^2`` (which equals
    ``var1 + var2 - 2 cov``), ``1 - num / den = (e + (mu1 - mu2)^2 (2 cov + C2)) / (var1 + var2 + C2)``.
    """
    padded = ref.distorted_padded(linear)
    diff = padded - ref.padded
    moments = _blur(torch.cat([padded, padded * padded, diff * diff], dim=1), taps)
    mu = moments[:, :3]
    mu_diff = ref.mu - mu
    mu_diff2 = mu_diff * mu_diff
    var_sum = ref.var + (moments[:, 3:6] - mu * mu)
    spread = moments[:, 6:] - mu_diff2  # var1 + var2 - 2 cov
    ssim = ((spread + mu_diff2 * (var_sum - spread + C2)) / (var_sum + C2)).clamp_min(0.0)
    edge = ((_inner(padded) - mu).abs() - ref.edge) * ref.inv_edge
    count = ref.count
    return torch.stack([_pool(ssim, count), _pool(edge.clamp_min(0.0), count), _pool((-edge).clamp_min(0.0), count)],
                       dim=-1)


def _next_linear(ref: _ReferenceScale, linear: torch.Tensor, changed: Box) -> torch.Tensor:
    """The distorted linear RGB of the next scale on its ``changed`` box, from ``linear`` on ``ref.changed``
    (the 2x2 box means of the pixels it covers, the reference's pixels where the change is not)."""
    y0, y1, x0, x1 = changed
    height, width = ref.linear.shape[-2:]
    rows, cols = slice(2 * y0, min(2 * y1, height)), slice(2 * x0, min(2 * x1, width))
    block = ref.linear[:, :, rows, cols].expand(linear.shape[0], -1, -1, -1).clone()
    cy0, cy1, cx0, cx1 = ref.changed
    block[:, :, cy0 - 2 * y0 : cy1 - 2 * y0, cx0 - 2 * x0 : cx1 - 2 * x0] = linear
    return _downsample(block)


class SSIMULACRA2Reference:
    """SSIMULACRA2 of many distorted images against one fixed reference.

    Everything that depends only on the reference (its linear-RGB and XYB pyramids, blurred means,
    variances and edge denominators) is computed once here; :meth:`score` does only the distorted side
    (per scale one separable blur of 9 channels per image, where the plain function blurs 15). Scores
    equal :func:`ssimulacra2` of the same pair (float rounding). Differentiable in the distorted images;
    wrap calls in ``torch.no_grad()`` when only the score is needed.

    When the distorted images differ from the reference only inside a box (``changed``: a mask pasted
    on a face), only the pixels a change there can reach are measured, at every scale: the same score
    (the maps are zero elsewhere), several times faster for a box of a quarter of the image. Pixels of
    a distorted image outside the box are then not read: they are taken to be the reference's.

    Args:
        reference: ``(1, 3, H, W)`` or ``(B, 3, H, W)`` RGB in [0, 1], sides of at least 8 pixels. With
            ``B > 1`` each distorted batch must have the same ``B`` (pairs scored item by item).
        changed: ``(y0, y1, x0, x1)``, the rows ``y0..y1-1`` and columns ``x0..x1-1`` where distorted
            images may differ from the reference (default: the whole image).

    Example:
        >>> import torch
        >>> ref = torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(0))
        >>> measure = SSIMULACRA2Reference(ref)
        >>> measure.score(torch.cat([ref, (ref + 0.05).clamp(0, 1)])).shape
        torch.Size([2])
    """

    def __init__(self, reference: torch.Tensor, changed: Box | None = None) -> None:
        _check_images("reference", reference)
        self.shape = tuple(reference.shape[1:])
        height, width = reference.shape[-2:]
        box = (0, height, 0, width) if changed is None else tuple(int(v) for v in changed)
        if not (0 <= box[0] < box[1] <= height and 0 <= box[2] < box[3] <= width):
            raise ValueError(
                f"changed: expected a non-empty box (y0, y1, x0, x1) inside {height}x{width}, got {changed}"
            )
        self.changed = box
        self._taps = _gaussian_taps(reference.dtype, reference.device)
        self._scales: list[_ReferenceScale] = []
        linear = srgb_to_linear(reference)
        for index in range(num_scales(height, width)):
            if index:
                linear, box = _downsample(linear), _halve(box)
            self._scales.append(_ReferenceScale(linear, self._taps, box))
        count = len(self._scales)
        # the weights are consumed in order over (channel, measured scale, norm, term), so with fewer
        # scales only the first 18 per scale are used (the module docstring, point 4)
        weights = torch.tensor(_WEIGHTS[: 3 * count * 6], dtype=reference.dtype, device=reference.device)
        self._weights = weights.view(3, count, 2, 3)
        self._batch = reference.shape[0]

    def score(self, distorted: torch.Tensor) -> torch.Tensor:
        """SSIMULACRA2 scores ``(B,)`` of ``distorted`` ``(B, 3, H, W)`` RGB in [0, 1] (the reference's
        size) against the reference."""
        _check_images("distorted", distorted)
        if tuple(distorted.shape[1:]) != self.shape:
            raise ValueError(f"distorted: expected (B,{self.shape[0]},{self.shape[1]},{self.shape[2]}) like the "
                             f"reference, got {tuple(distorted.shape)}")
        if self._batch > 1 and distorted.shape[0] != self._batch:
            raise ValueError(
                f"distorted: expected a batch of {self._batch} like the reference, got {distorted.shape[0]}"
            )
        y0, y1, x0, x1 = self.changed
        linear = srgb_to_linear(distorted[..., y0:y1, x0:x1].to(self._taps.dtype).contiguous())
        terms = []
        for index, ref in enumerate(self._scales):
            if index:
                linear = _next_linear(self._scales[index - 1], linear, ref.changed)
            terms.append(_scale_terms(ref, linear, self._taps))
        weighted = (torch.stack(terms, dim=2) * self._weights).sum(dim=(1, 2, 3, 4))
        return _to_score(weighted)

    __call__ = score


def ssimulacra2(reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
    """SSIMULACRA2 score of each distorted image against its reference.

    Args:
        reference: ``(B, 3, H, W)`` RGB in [0, 1] (sRGB-encoded, as decoded from an 8-bit photo),
            sides of at least 8 pixels.
        distorted: same shape (or ``(1, 3, H, W)`` reference with a ``(B, 3, H, W)`` distorted batch).

    Returns:
        ``(B,)`` scores, 100 for identical images, lower is worse (90 visually lossless, 70 barely
        noticeable side by side, 30 low quality; can be negative). Differentiable in both inputs.
    """
    _check_images("reference", reference)
    _check_images("distorted", distorted)
    if reference.shape[0] not in (1, distorted.shape[0]) or reference.shape[1:] != distorted.shape[1:]:
        raise ValueError(
            "reference and distorted must have the same shape, "
            f"got {tuple(reference.shape)} and {tuple(distorted.shape)}"
        )
    return SSIMULACRA2Reference(reference).score(distorted)


class SSIMULACRA2(nn.Module):
    """Module form of :func:`ssimulacra2`: ``forward(reference, distorted) -> (B,)`` scores."""

    def forward(self, reference: torch.Tensor, distorted: torch.Tensor) -> torch.Tensor:
        return ssimulacra2(reference, distorted)


__all__ = [
    "NUM_SCALES", "SSIMULACRA2", "SSIMULACRA2Reference", "linear_to_xyb", "num_scales", "srgb_to_linear", "ssimulacra2",
]
