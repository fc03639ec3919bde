"""The "face in context" region where perceptual quality is measured: the square around a face box,
twice its size, with the same centre, clipped to the photo.

Example:
    >>> face_in_context((40, 50, 80, 110), height=250, width=250)
    (20, 140, 0, 120)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch


def face_in_context(box: Sequence[float], height: int, width: int, scale: float = 2.0) -> tuple[int, int, int, int]:
    """Integer pixel box ``(y0, y1, x0, x1)`` (end exclusive) of the face in context.

    Args:
        box: face box ``(x1, y1, x2, y2)`` in photo pixels (as the detector returns it).
        height: photo height in pixels.
        width: photo width in pixels.
        scale: side of the square over the face box's longer side (default 2).

    Returns:
        ``(y0, y1, x0, x1)`` with ``0 <= y0 < y1 <= height`` and ``0 <= x0 < x1 <= width``: the square of
        side ``scale * max(w, h)`` centred on the box, its edges rounded outwards to whole pixels, then
        clipped to the photo.

    Raises:
        ValueError: an empty box, a box entirely outside the photo, or a non-positive size or scale.
    """
    if len(box) != 4:
        raise ValueError(f"box: expected (x1, y1, x2, y2), got {tuple(box)}")
    x1, y1, x2, y2 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or x2 <= x1 or y2 <= y1:
        raise ValueError(f"box: expected finite x1 < x2 and y1 < y2, got {tuple(box)}")
    if height <= 0 or width <= 0 or scale <= 0:
        raise ValueError(f"expected a positive photo size and scale, got {height}x{width} and scale {scale}")
    half = scale * max(x2 - x1, y2 - y1) / 2.0
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    y0, y1i = max(0, math.floor(cy - half)), min(height, math.ceil(cy + half))
    x0, x1i = max(0, math.floor(cx - half)), min(width, math.ceil(cx + half))
    if y1i <= y0 or x1i <= x0:
        raise ValueError(f"box {tuple(box)} lies outside the {height}x{width} photo")
    return y0, y1i, x0, x1i


def changed_box(weight: torch.Tensor) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` (end exclusive): the smallest box holding every pixel where ``weight``
    ``(..., H, W)`` (a mask's coverage) is not 0; the whole ``H x W`` when it is 0 everywhere.

    Example:
        >>> w = torch.zeros(1, 1, 6, 8); w[..., 2:4, 3:7] = 0.5
        >>> changed_box(w)
        (2, 4, 3, 7)
    """
    hit = weight.reshape(-1, *weight.shape[-2:]).ne(0).any(dim=0)
    rows, cols = hit.any(dim=1).nonzero(), hit.any(dim=0).nonzero()
    if not len(rows):
        return 0, hit.shape[0], 0, hit.shape[1]
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


__all__ = ["changed_box", "face_in_context"]
