"""The "face in context" region where perceptual quality is measured: the square around a face box,
twice its size, with the same centre, clipped to the photo.

Example:
    >>> face_in_context((40, 50, 80, 110), height=250, width=250)
    (20, 140, 0, 120)
"""

from __future__ import annotations

import math
from collections.abc import Sequence


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


__all__ = ["face_in_context"]
