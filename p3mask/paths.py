"""Where p3mask keeps its cache and where it finds benchmark data.

* Cache: ``$P3MASK_HOME`` if set, else ``$XDG_CACHE_HOME/p3mask`` (default ``~/.cache/p3mask``).
* Data:  ``$P3MASK_DATA`` if set, else ``../shared/data`` beside the project checkout.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Root of the p3mask cache (archives, converted weights). Not created here."""
    home = os.environ.get("P3MASK_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "p3mask"


def archives_dir() -> Path:
    """Folder holding the registry archives exactly as downloaded."""
    return cache_dir() / "archives"


def weights_dir() -> Path:
    """Folder holding converted weights (safetensors, ONNX detectors)."""
    return cache_dir() / "weights"


def data_root() -> Path:
    """Root folder of the benchmark datasets (``lfw/``, ``orl/``)."""
    env = os.environ.get("P3MASK_DATA")
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    return (checkout.parent / "shared" / "data").resolve()
