"""Helpers of the video tests."""

import numpy as np


def grey_frames(n: int, size=(96, 128), seed: int = 0) -> list[np.ndarray]:
    """``n`` faceless RGB frames: grey with a little seeded texture."""
    rng = np.random.default_rng(seed)
    return [np.clip(118 + rng.normal(0, 10, (*size, 3)), 0, 255).astype(np.uint8) for _ in range(n)]
