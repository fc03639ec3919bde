"""ORL / AT&T face database: ``s<1..40>/<1..10>.pgm``, 92x112 greyscale.

Credit: F. Samaria and A. Harter, "Parameterisation of a stochastic model for human face identification",
IEEE WACV 1994.
"""

from __future__ import annotations

from pathlib import Path

from p3mask.datasets.base import FaceDataset, read_identity_folders
from p3mask.paths import data_root


def load_orl(root: str | Path | None = None) -> FaceDataset:
    """Read ORL from ``root`` (default ``data_root() / "orl"``); photos sorted by their number."""
    root = Path(root) if root is not None else data_root() / "orl"
    identities = read_identity_folders(root)
    ordered = {
        name: sorted(photos, key=lambda p: int(p.stem) if p.stem.isdigit() else p.stem)
        for name, photos in sorted(identities.items(), key=lambda kv: int(kv[0][1:]) if kv[0][1:].isdigit() else 0)
    }
    return FaceDataset("orl", root, ordered)
