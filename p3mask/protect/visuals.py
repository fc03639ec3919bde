"""Pictures written while learning a mask: per-epoch masks and a final before/after sheet.

Layout under the artefacts folder (as in the original Chameleon code):
``jpg/epoch_NNNN.jpg`` (the mask, its [-epsilon, epsilon] range stretched to [0, 255]: a picture for
people, lossy and 8-bit), ``before_after.png`` and, only when asked for (``save_npy``),
``npy/epoch_NNNN.npy`` (the mask as ``(h, w, 3)`` float32 in [0, 1] image units). The npy files are
the key's mask bit for bit (a key can be rebuilt from the last one), so they and their folder are
owner-only (0o600 / 0o700). Epochs are numbered from 1. Every file goes through
:func:`p3mask.atomic.atomic_path`: never over a file that exists unless ``overwrite``.
"""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class LearnArtefacts:
    """Where and what learning writes besides the key.

    Attributes:
        folder: the artefacts folder (``KEY.learn`` beside the key for ``p3mask learn``).
        save_npy: also write the exact per-epoch masks as ``npy/epoch_NNNN.npy`` (owner-only).
        overwrite: replace files already there (default: refuse).
    """

    folder: Path
    save_npy: bool = False
    overwrite: bool = False


def save_epoch_mask(mask: torch.Tensor, epsilon: float, out: str | Path | LearnArtefacts, epoch: int) -> list[Path]:
    """Write the mask of one epoch as ``jpg/epoch_NNNN.jpg`` (and ``npy/epoch_NNNN.npy`` when asked for)."""
    out = out if isinstance(out, LearnArtefacts) else LearnArtefacts(Path(out))
    jpg = out.folder / "jpg" / f"epoch_{epoch:04d}.jpg"
    with atomic_path(jpg, overwrite=out.overwrite) as tmp:
        Image.fromarray(mask_to_uint8(mask, epsilon)).save(tmp, format="JPEG", quality=95)
    if not out.save_npy:
        return [jpg]
    npy = out.folder / "npy" / f"epoch_{epoch:04d}.npy"
    npy.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    npy.parent.chmod(0o700)
    with atomic_path(npy, mode=0o600, overwrite=out.overwrite, verify=np.load) as tmp, open(tmp, "wb") as fh:
        np.save(fh, mask.detach().float().cpu().permute(1, 2, 0).numpy())
    return [jpg, npy]


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    return (image.detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_before_after(clean: torch.Tensor, protected: torch.Tensor, path: str | Path, overwrite: bool = False) -> Path:
    """Sheet of up to four photos: clean | protected | difference (stretched to full range).

    Args:
        clean: ``(N, 3, H, W)`` clean face regions in [0, 1].
        protected: ``(N, 3, H, W)`` the same regions protected.
        path: PNG file to write.
        overwrite: replace ``path`` if it exists (default: refuse).
    """
    rows = []
    for before, after in list(zip(clean, protected))[:_SHEET_ROWS]:
        diff = after - before
        scale = float(diff.abs().max()) or 1.0
        rows.append(np.concatenate([_to_uint8(before), _to_uint8(after), _to_uint8(diff / scale / 2 + 0.5)], axis=1))
    with atomic_path(path, overwrite=overwrite) as tmp:
        Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="PNG")
    return Path(path)


def save_zoomed_png(image: torch.Tensor, path: str | Path, zoom: int = 2, overwrite: bool = False) -> Path:
    """Write ``image`` ``(3, H, W)`` RGB in [0, 1] as a PNG enlarged ``zoom`` times, pixels kept square
    (nearest neighbour), as people look at a protected face up close."""
    pixels = _to_uint8(image)
    sheet = Image.fromarray(pixels).resize((pixels.shape[1] * zoom, pixels.shape[0] * zoom), Image.NEAREST)
    with atomic_path(path, overwrite=overwrite) as tmp:
        sheet.save(tmp, format="PNG")
    return Path(path)
