"""Test-only numpy kernels with TensorFlow semantics (NHWC), shared by the TFJS and tflite reference runtimes.

Convolutions are sliding windows + tensordot, in float64 (inputs are widened), with TensorFlow's
padding rules: ``SAME`` pads ``total // 2`` before and the rest after, ``VALID`` pads nothing.
Nothing here touches PyTorch or the p3mask port.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding (before, after) of one spatial axis."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _windows(x: np.ndarray, kh: int, kw: int, strides: tuple[int, int], padding: str) -> np.ndarray:
    """``(B, H, W, C)`` -> strided patches ``(B, Ho, Wo, C, kh, kw)`` after TF padding."""
    if padding == "SAME":
        pads = [(0, 0), same_pads(x.shape[1], kh, strides[0]), same_pads(x.shape[2], kw, strides[1]), (0, 0)]
        x = np.pad(x, pads)
    elif padding != "VALID":
        raise NotImplementedError(f"padding {padding!r}")
    win = sliding_window_view(x, (kh, kw), axis=(1, 2))
    return win[:, :: strides[0], :: strides[1]]


def conv2d(x: np.ndarray, w_hwio: np.ndarray, strides: tuple[int, int], padding: str) -> np.ndarray:
    """Conv2D: ``(B, H, W, Cin)`` with kernel ``(kh, kw, Cin, Cout)`` -> ``(B, Ho, Wo, Cout)``."""
    kh, kw = w_hwio.shape[:2]
    win = _windows(x.astype(np.float64), kh, kw, strides, padding)
    return np.tensordot(win, w_hwio.astype(np.float64), axes=([3, 4, 5], [2, 0, 1]))


def depthwise_conv2d(x: np.ndarray, w_hwcm: np.ndarray, strides: tuple[int, int], padding: str) -> np.ndarray:
    """Depthwise conv: ``(B, H, W, C)`` with kernel ``(kh, kw, C, M)`` -> ``(B, Ho, Wo, C * M)``."""
    kh, kw, c, m = w_hwcm.shape
    win = _windows(x.astype(np.float64), kh, kw, strides, padding)
    out = np.einsum("bhwcij,ijcm->bhwcm", win, w_hwcm.astype(np.float64), optimize=True)
    return out.reshape(*out.shape[:3], c * m)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two ``(N, D)`` arrays."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
