"""The flicker figure: how much a protected clip changes from frame to frame on the face, beyond the original.

For consecutive frames ``t-1, t`` that are both protected, the mean absolute change
``|x_t - x_{t-1}|`` (RGB, [0, 1] units) is taken over the mask's footprint at frame ``t`` (the face
region, :func:`p3mask.evaluate.quality.face_region`), for the original clip and for the protected one,
both as decoded from their files. ``added = protected - original``: 0 means the mask adds no flicker;
``relative = added / original``. A mask that follows the face moves with it and adds little; one that
jitters with the detector's noise adds its own change on every frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import torch

from p3mask.evaluate.quality import face_region
from p3mask.video.io import frame_to_tensor


def frame_change(previous: torch.Tensor, current: torch.Tensor, region: torch.Tensor) -> float:
    """Mean ``|current - previous|`` over ``region``.

    Args:
        previous, current: ``(3, H, W)`` frames in [0, 1].
        region: ``(1, 1, H, W)`` weights in [0, 1].
    """
    if previous.shape != current.shape or region.shape[-2:] != current.shape[-2:]:
        raise ValueError(f"expected frames and region of one size, got {tuple(previous.shape)}, "
                         f"{tuple(current.shape)}, {tuple(region.shape)}")
    w = region[0, 0]
    total = float(w.sum())
    if total <= 0:
        raise ValueError("region is empty")
    return float(((current - previous).abs().mean(0) * w).sum()) / total


def flicker(original: Path, protected: Path, landmarks: Sequence[torch.Tensor | None], template, frame_size) -> dict:
    """The flicker figure of a protected clip against its original.

    Args:
        original, protected: the two video files (same frame count).
        landmarks: per frame, the ``(5, 2)`` landmarks the mask was placed on, None where not protected.
        template, frame_size: the key's frame (``key.template``, ``key.frame_size``).

    Returns:
        ``{"original", "protected", "added", "relative", "pairs"}``: the mean changes, their difference,
        the difference over the original's, and the number of frame pairs measured.
    """
    sums, pairs, last = [0.0, 0.0], 0, None
    with av.open(str(original)) as a, av.open(str(protected)) as b:
        for lmk, fa, fb in zip(landmarks, a.decode(a.streams.video[0]), b.decode(b.streams.video[0])):
            now = (frame_to_tensor(fa), frame_to_tensor(fb))
            if lmk is not None and last is not None:
                region = face_region(lmk, now[0].shape[1:], template, frame_size)
                sums[0] += frame_change(last[0], now[0], region)
                sums[1] += frame_change(last[1], now[1], region)
                pairs += 1
            last = now if lmk is not None else None
    if pairs == 0:
        raise ValueError(f"{protected.name}: no two consecutive protected frames to measure flicker on")
    orig, prot = sums[0] / pairs, sums[1] / pairs
    return {"original": orig, "protected": prot, "added": prot - orig, "relative": (prot - orig) / max(orig, 1e-12),
            "pairs": pairs}


__all__ = ["flicker", "frame_change"]
