"""Pictures written while learning a mask: per-epoch masks and a final before/after sheet.

Layout under the output folder (as in the original Chameleon code):
``jpg/epoch_NNNN.jpg`` (the mask, its [-epsilon, epsilon] range stretched to [0, 255]),
``npy/epoch_NNNN.npy`` (the mask as ``(h, w, 3)`` float32 in [0, 1] image units) and
``before_after.png``. Epochs are numbered from 1. Every file is written atomically.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p3mask.atomic import atomic_path

_SHEET_ROWS = 4  # photos shown on the before/after sheet


def mask_to_uint8(mask: torch.Tensor, epsilon: float) -> np.ndarray:
    """``(3, h, w)`` mask in ``[-epsilon, epsilon]`` -> ``(h, w, 3)`` uint8, 0 = -epsilon, 255 = +epsilon."""
    x = ((mask.detach().float().cpu() / epsilon + 1.0) / 2.0).clamp(0, 1)
    return (x * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_epoch_mask(mask: torch.Tensor, epsilon: float, out_dir: str | Path, epoch: int) -> tuple[Path, Path]:
    """Write the mask of one epoch as ``jpg/epoch_NNNN.jpg`` and ``npy/epoch_NNNN.npy``."""
    out_dir = Path(out_dir)
    jpg = out_dir / "jpg" / f"epoch_{epoch:04d}.jpg"
    npy = out_dir / "npy" / f"epoch_{epoch:04d}.npy"
    with atomic_path(jpg) as tmp:
        Image.fromarray(mask_to_uint8(mask, epsilon)).save(tmp, format="JPEG", quality=95)
    with atomic_path(npy) as tmp, open(tmp, "wb") as fh:
        np.save(fh, mask.detach().float().cpu().permute(1, 2, 0).numpy())
    return jpg, npy


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_before_after(clean: torch.Tensor, protected: torch.Tensor, path: str | Path) -> Path:
    """Sheet of up to four photos: clean | protected | difference (stretched to full range).

    Args:
        clean: ``(N, 3, H, W)`` clean face regions in [0, 1].
        protected: ``(N, 3, H, W)`` the same regions protected.
        path: PNG file to write.
    """
    rows = []
    for before, after in list(zip(clean, protected))[:_SHEET_ROWS]:
        diff = after - before
        scale = float(diff.abs().max()) or 1.0
        rows.append(np.concatenate([_to_uint8(before), _to_uint8(after), _to_uint8(diff / scale / 2 + 0.5)], axis=1))
    with atomic_path(path) as tmp:
        Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG")
    return Path(path)
