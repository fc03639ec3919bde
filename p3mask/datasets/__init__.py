"""Benchmark datasets: LFW, ORL and a generic folder-per-identity layout."""

from __future__ import annotations

from pathlib import Path

from p3mask.datasets.base import FaceDataset
from p3mask.datasets.folder import load_folder
from p3mask.datasets.lfw import Pair, load_lfw, read_pairs
from p3mask.datasets.orl import load_orl
from p3mask.registries import entry

DATASETS = {"lfw": load_lfw, "orl": load_orl, "folder": load_folder}


def load_dataset(name: str, root: str | Path | None = None) -> FaceDataset:
    """Load a dataset by name; ``root`` overrides the default location (required for "folder")."""
    load = entry(DATASETS, name, "dataset")
    if name == "folder" and root is None:
        raise ValueError("the 'folder' dataset needs --root PATH")
    return load(root)


__all__ = ["DATASETS", "FaceDataset", "Pair", "load_dataset", "load_folder", "load_lfw", "load_orl", "read_pairs"]
