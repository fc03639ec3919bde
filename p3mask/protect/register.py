"""Registering a face to a known mask: where exactly, in the canonical frame, a key's mask sits on a face.

A protected face was masked at the landmarks detected on the *clean* photo; detection on the protected
photo lands a few pixels away (the mask perturbs the detector too: 2-6 px on LFW faces). To remove the
mask, the holder of the key needs its position to a fraction of a pixel. The mask's fine detail is the
signal: the high-pass of the aligned face correlates with the high-pass of the mask at the right
alignment and not elsewhere.

For each face (:func:`refine_matrices`):

1. **Grid search** (:func:`coarse_search`): for a grid of scales and rotations about the frame centre,
   a crop with a margin is taken and its high-pass is cross-correlated with the mask's high-pass for
   every shift at once (FFT), normalised by the crop's local energy; the best (scale, rotation, shift)
   wins. A finer grid around it, with the shift refined to a fraction of a pixel by a parabola through
   the correlation peak, follows.
2. **Optional gradient steps**: Adam on a similarity correction (shift, log-scale, rotation) maximising
   the normalised cross-correlation through the differentiable warp. Off by default: on LFW faces the
   grid search alone brings unlocked faces to cosine 0.993-0.999 of the clean face (SFace), 20 steps
   add under 0.002 at four times the cost.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from kornia.filters import gaussian_blur2d
from torch.optim.adam import adam

from p3mask.face.align import paste_from_crop, warp_to_crop

HIGHPASS_SIGMA = 2.0  # Gaussian sigma (frame pixels) whose blur is removed to keep the mask's fine detail
SEARCH_MARGIN = 10  # largest shift searched, frame pixels (detections on protected photos move 2-6 px)
# Scale and rotation corrections tried by the coarse search. Measured on LFW faces protected with a
# mid mask: detection on the protected photo is off by up to ~10% in scale and ~6 degrees; the grid
# steps are what the fine stage recovers from (about 1.5% and 1.5 degrees).
SEARCH_SCALES = (0.90, 0.925, 0.95, 0.975, 1.0, 1.025, 1.05, 1.075, 1.10)
SEARCH_ANGLES = (-7.5, -5.0, -2.5, 0.0, 2.5, 5.0, 7.5)  # degrees
REFINE_STEPS = 0  # Adam steps after the grid search (the sub-pixel grid search is usually enough)
REFINE_LR = 0.1  # first Adam step, frame pixels of shift (cosine-decayed to a tenth)
# Rotation (radians) and log-scale per unit of their parameters, so one step moves the corners of a
# 128-pixel frame by about as much as one step of shift does.
ANGLE_UNIT = LOG_SCALE_UNIT = 0.01


def highpass(x: torch.Tensor, sigma: float = HIGHPASS_SIGMA) -> torch.Tensor:
    """``x`` minus its Gaussian blur: the detail a mask adds and a face mostly lacks; ``(B, C, h, w)``."""
    side = 2 * int(3 * sigma + 0.5) + 1
    return x - gaussian_blur2d(x, (side, side), (sigma, sigma), border_type="reflect")


def ncc(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Normalised cross-correlation of each ``a[i]`` with ``b[i]`` (or a shared ``b``): ``(B,)``."""
    a = a.flatten(1) - a.flatten(1).mean(1, keepdim=True)
    b = b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp_min(1e-12)


def correction(params: torch.Tensor, center: tuple[float, float]) -> torch.Tensor:
    """``(B, 2, 3)`` frame -> frame similarities from ``(tx, ty, log_scale, angle)`` rows (the last two
    in units of :data:`LOG_SCALE_UNIT` and :data:`ANGLE_UNIT`), about ``center``."""
    tx, ty, log_s, angle = params.unbind(1)
    s, angle = (log_s * LOG_SCALE_UNIT).exp(), angle * ANGLE_UNIT
    a, b = s * angle.cos(), s * angle.sin()
    cx, cy = center
    row0 = torch.stack([a, -b, cx - a * cx + b * cy + tx], 1)
    row1 = torch.stack([b, a, cy - b * cx - a * cy + ty], 1)
    return torch.stack([row0, row1], 1)


def compose(first: torch.Tensor, then: torch.Tensor) -> torch.Tensor:
    """The affine ``then ∘ first`` of two ``(B, 2, 3)`` batches (apply ``first``, then ``then``)."""
    lin = then[:, :, :2] @ first[:, :, :2]
    shift = then[:, :, :2] @ first[:, :, 2:] + then[:, :, 2:]
    return torch.cat([lin, shift], 2)


def mask_correlation(image: torch.Tensor, matrices: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """How strongly each aligned face carries ``mask``: NCC of their high-passes, ``(N,)`` in [-1, 1].

    Args:
        image: ``(3, H, W)`` photo in [0, 1].
        matrices: ``(N, 2, 3)`` photo -> frame affines.
        mask: ``(3, h, w)`` mask in the frame.
    """
    crops = warp_to_crop(image[None].float().expand(matrices.shape[0], -1, -1, -1), matrices.float(), mask.shape[-2:])
    return ncc(highpass(crops), highpass(mask[None].float()))


def mask_strength(image: torch.Tensor, matrices: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Least-squares amplitude of ``mask`` in each registered face, clipped to [0, 1]: ``(N,)``.

    Protection weakens a mask on faces where the full mask would break the perceptual floor, so the
    amplitude to subtract is measured. The reference signal is the mask as it appears in the aligned
    face after its trip into the photo and back (pasted, then re-sampled: both interpolate), so a fully
    applied mask measures 1: ``<hp(face), hp(trip)> / <hp(trip), hp(trip)>``.
    """
    n = matrices.shape[0]
    size = mask.shape[-2:]
    m = matrices.float()
    pasted, cover = paste_from_crop(mask[None].float().expand(n, -1, -1, -1).contiguous(), m, image.shape[-2:])
    trip = highpass(warp_to_crop(pasted * cover, m, size))
    crops = highpass(warp_to_crop(image[None].float().expand(n, -1, -1, -1), m, size))
    amplitude = (crops * trip).flatten(1).sum(1) / trip.pow(2).flatten(1).sum(1).clamp_min(1e-12)
    return amplitude.clamp(0.0, 1.0)


def _highpass_transfer(hh: int, ww: int, sigma: float = HIGHPASS_SIGMA) -> torch.Tensor:
    """``1 - G(f)`` on the ``rfft2`` grid of an ``hh`` x ``ww`` image: :func:`highpass` in the frequency
    domain (circular instead of reflected borders), ``(hh, ww // 2 + 1)``."""
    fy = torch.fft.fftfreq(hh)[:, None]
    fx = torch.fft.rfftfreq(ww)[None, :]
    return 1.0 - torch.exp(-2.0 * math.pi**2 * sigma**2 * (fx**2 + fy**2))


def _shift_scores(crops: torch.Tensor, mask_hp: torch.Tensor, margin: int) -> torch.Tensor:
    """Normalised correlation of the mask's high-pass with every ``(2m+1)^2`` window of the high-pass
    of margin-padded crops ``(B, 3, h + 2m, w + 2m)``, all by FFT.

    Returns:
        ``(B, 2m+1, 2m+1)``: entry ``[dy, dx]`` scores the mask placed at offset ``(dx - m, dy - m)``.
    """
    b, c, hh, ww = crops.shape
    h, w = mask_hp.shape[-2:]
    spectrum = torch.fft.rfft2(crops) * _highpass_transfer(hh, ww)
    crops_hp = torch.fft.irfft2(spectrum, s=(hh, ww))
    kernel = torch.fft.rfft2(F.pad(mask_hp, (0, ww - w, 0, hh - h)))
    corr = torch.fft.irfft2((spectrum * kernel.conj()).sum(1), s=(hh, ww))[:, : 2 * margin + 1, : 2 * margin + 1]
    ones = torch.fft.rfft2(F.pad(torch.ones(1, 1, h, w), (0, ww - w, 0, hh - h)))
    energy = torch.fft.irfft2(torch.fft.rfft2(crops_hp.pow(2).sum(1, keepdim=True)) * ones.conj(), s=(hh, ww))
    energy = energy[:, 0, : 2 * margin + 1, : 2 * margin + 1]
    return corr / (energy.clamp_min(1e-12).sqrt() * mask_hp.norm())


def _peak_offset(scores: torch.Tensor, dy: int, dx: int) -> tuple[float, float]:
    """Sub-pixel offset of a 2-D score peak at ``(dy, dx)`` by a parabola through it and its neighbours."""
    def vertex(left: float, mid: float, right: float) -> float:
        curve = left - 2 * mid + right
        return 0.0 if curve >= 0 else max(-0.5, min(0.5, 0.5 * (left - right) / curve))
    h, w = scores.shape
    oy = vertex(float(scores[dy - 1, dx]), float(scores[dy, dx]), float(scores[dy + 1, dx])) if 0 < dy < h - 1 else 0.0
    ox = vertex(float(scores[dy, dx - 1]), float(scores[dy, dx]), float(scores[dy, dx + 1])) if 0 < dx < w - 1 else 0.0
    return oy, ox


def _grid_search(image, matrix, mask_hp, grid, margin: int) -> tuple[torch.Tensor, float]:
    """Best of the (scale, angle in degrees) corrections in ``grid`` and of every shift up to ``margin``
    pixels (sub-pixel by a parabola at the peak) for one face; ``(matrix (2, 3), score)``."""
    h, w = mask_hp.shape[-2:]
    center = ((w - 1) / 2.0, (h - 1) / 2.0)
    params = torch.tensor([[0.0, 0.0, math.log(s) / LOG_SCALE_UNIT, math.radians(a) / ANGLE_UNIT] for s, a in grid])
    pad = torch.tensor([[1.0, 0.0, float(margin)], [0.0, 1.0, float(margin)]])[None].expand(len(grid), -1, -1)
    candidates = compose(matrix[None].expand(len(grid), -1, -1), correction(params, center))
    big = warp_to_crop(image[None].float().expand(len(grid), -1, -1, -1), compose(candidates, pad),
                       (h + 2 * margin, w + 2 * margin))
    scores = _shift_scores(big, mask_hp, margin)  # (G, 2m+1, 2m+1)
    flat = int(scores.flatten().argmax())
    g, rest = divmod(flat, scores.shape[1] * scores.shape[2])
    dy, dx = divmod(rest, scores.shape[2])
    oy, ox = _peak_offset(scores[g], dy, dx)
    shift = torch.tensor([[1.0, 0.0, -(dx + ox - margin)], [0.0, 1.0, -(dy + oy - margin)]])[None]
    return compose(candidates[g:g + 1], shift)[0], float(scores[g, dy, dx])


def coarse_search(image: torch.Tensor, matrices: torch.Tensor, mask: torch.Tensor,
                  margin: int = SEARCH_MARGIN) -> torch.Tensor:
    """Best correction per face: every integer shift up to ``margin`` pixels for each of
    :data:`SEARCH_SCALES` x :data:`SEARCH_ANGLES`, then a finer grid (a quarter of the steps) around the
    winner with sub-pixel shifts; returns the corrected ``(N, 2, 3)`` affines."""
    mask_hp = highpass(mask[None].float())
    wide = [(s, a) for s in SEARCH_SCALES for a in SEARCH_ANGLES]
    scale_step = (SEARCH_SCALES[1] - SEARCH_SCALES[0]) / 4
    angle_step = (SEARCH_ANGLES[1] - SEARCH_ANGLES[0]) / 4
    fine = [(1.0 + i * scale_step, j * angle_step) for i in (-1, 0, 1) for j in (-1, 0, 1)]
    best = []
    for m in matrices.float():
        found, _ = _grid_search(image, m, mask_hp, wide, margin)
        best.append(_grid_search(image, found, mask_hp, fine, 2)[0])
    return torch.stack(best) if best else matrices.float()


def _adam(objective, params: torch.Tensor, steps: int) -> None:
    """Minimise ``objective(params)`` in place with Adam (Kingma & Ba, ICLR 2015; torch's betas 0.9/0.999),
    the step cosine-decayed from :data:`REFINE_LR` to a tenth of it. torch's functional
    :func:`torch.optim.adam.adam` does the update: the :class:`torch.optim.Adam` class imports
    ``torch._dynamo`` on its first step (seconds on a small machine)."""
    first, second, count = torch.zeros_like(params), torch.zeros_like(params), torch.zeros(())
    for t in range(1, steps + 1):
        p = params.detach().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(objective(p), p)
        lr = REFINE_LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (t - 1) / steps)))
        adam([params], [grad], [first], [second], [], [count], foreach=False, amsgrad=False,
             beta1=0.9, beta2=0.999, lr=lr, weight_decay=0.0, eps=1e-8, maximize=False)


def refine_matrices(
    image: torch.Tensor, matrices: torch.Tensor, mask: torch.Tensor, steps: int = REFINE_STEPS, search: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """Register each face to the mask (coarse search, then fine gradient steps).

    Args:
        image: ``(3, H, W)`` photo in [0, 1].
        matrices: ``(N, 2, 3)`` photo -> frame affines from detected landmarks.
        mask: ``(3, h, w)`` the key's mask.
        steps: Adam steps after the grid search (default :data:`REFINE_STEPS`, none).
        search: run the grid search first (default True). With ``steps=0`` and ``search=False`` the
            matrices are kept.

    Returns:
        ``(refined (N, 2, 3), correlation (N,))``: the best affines found and their NCC (never worse
        than the unrefined ones).
    """
    matrices = matrices.detach().float()
    start = mask_correlation(image, matrices, mask)
    if matrices.shape[0] == 0 or (steps <= 0 and not search):
        return matrices, start
    current = coarse_search(image, matrices, mask) if search else matrices
    if steps > 0:
        h, w = mask.shape[-2:]
        center = ((w - 1) / 2.0, (h - 1) / 2.0)
        target = highpass(mask[None].float())
        batch = image[None].float().expand(current.shape[0], -1, -1, -1)
        params = torch.zeros(current.shape[0], 4)

        def objective(p: torch.Tensor) -> torch.Tensor:
            return -ncc(highpass(warp_to_crop(batch, compose(current, correction(p, center)), (h, w))), target).sum()

        _adam(objective, params, steps)
        current = compose(current, correction(params, center))
    corr = mask_correlation(image, current, mask)
    better = corr > start
    return torch.where(better[:, None, None], current, matrices), torch.where(better, corr, start)
