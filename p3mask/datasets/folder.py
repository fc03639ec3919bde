"""A generic folder-per-identity dataset: ``root/<identity>/<photo>``, any common image format."""

from __future__ import annotations

from pathlib import Path

from p3mask.datasets.base import FaceDataset, read_identity_folders


def load_folder(root: str | Path) -> FaceDataset:
    """Read a folder-per-identity dataset rooted at ``root``."""
    return FaceDataset("folder", Path(root), read_identity_folders(Path(root)))
