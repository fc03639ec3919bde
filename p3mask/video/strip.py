"""A strip of consecutive frames: the original clip above, the protected clip below (for the README)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

from p3mask.atomic import atomic_path


def save_strip(original: Path, protected: Path, start: int, path: Path, count: int = 8,
               box: tuple[int, int, int, int] | None = None, overwrite: bool = False) -> Path:
    """Write ``count`` consecutive frames from ``start`` as a PNG: original row above, protected row below.

    Args:
        original, protected: the two video files.
        start: index of the first frame.
        path: PNG file (written atomically).
        count: frames in the strip (default 8).
        box: ``(y0, y1, x0, x1)`` crop of every frame (default: the whole frame).
        overwrite: replace ``path`` if it exists (default: refuse, as every writer does).

    Raises:
        ValueError: the clips have fewer than ``start + count`` frames.
    """
    rows = []
    for clip in (original, protected):
        with av.open(str(clip)) as c:
            frames = []
            for i, frame in enumerate(c.decode(c.streams.video[0])):
                if i >= start:
                    rgb = frame.to_ndarray(format="rgb24")
                    frames.append(rgb if box is None else rgb[box[0]:box[1], box[2]:box[3]])
                if len(frames) == count:
                    break
        if len(frames) < count:
            raise ValueError(f"{clip.name}: fewer than {start + count} frames")
        rows.append(np.concatenate(frames, axis=1))
    with atomic_path(path, overwrite=overwrite) as tmp:
        Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG")
    return Path(path)


__all__ = ["save_strip"]
