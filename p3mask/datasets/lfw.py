"""Labeled Faces in the Wild (deep-funneled): ``Name/Name_NNNN.jpg`` and the View 2 ``pairs.txt``.

Cite: G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller, "Labeled Faces in the Wild: A Database for Studying
Face Recognition in Unconstrained Environments", UMass Amherst TR 07-49, 2007.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from p3mask.datasets.base import FaceDataset, read_identity_folders
from p3mask.paths import data_root


@dataclass(frozen=True)
class Pair:
    """One verification pair of the View 2 protocol."""

    fold: int  # 0..9
    first: Path
    second: Path
    same: bool  # True for a matched pair (same person)


def lfw_photo(root: Path, name: str, number: int) -> Path:
    """Path of photo ``number`` (1-based) of ``name``: ``root/Name/Name_NNNN.jpg``."""
    return root / name / f"{name}_{number:04d}.jpg"


def load_lfw(root: str | Path | None = None) -> FaceDataset:
    """Read LFW from ``root`` (default ``data_root() / "lfw"``)."""
    root = Path(root) if root is not None else data_root() / "lfw"
    return FaceDataset("lfw", root, read_identity_folders(root))


def read_pairs(root: str | Path | None = None, pairs_file: str | Path | None = None) -> list[Pair]:
    """Parse the View 2 ``pairs.txt``: a header ``folds n``, then per fold n matched and n mismatched pairs.

    Matched lines are ``name i j``; mismatched lines are ``name1 i name2 j``. Paths are returned whether or
    not the images exist; callers skip and count absent ones.
    """
    root = Path(root) if root is not None else data_root() / "lfw"
    pairs_file = Path(pairs_file) if pairs_file is not None else root / "pairs.txt"
    lines = pairs_file.read_text().split("\n")
    try:
        folds, per_side = (int(v) for v in lines[0].split())
    except ValueError as exc:
        raise ValueError(f"{pairs_file}: first line must be '<folds> <pairs per side>', got {lines[0]!r}") from exc
    pairs = []
    for k, line in enumerate(lines[1 : 1 + 2 * folds * per_side]):
        fields = line.split()
        fold = k // (2 * per_side)
        if len(fields) == 3:
            name, i, j = fields
            pairs.append(Pair(fold, lfw_photo(root, name, int(i)), lfw_photo(root, name, int(j)), True))
        elif len(fields) == 4:
            a, i, b, j = fields
            pairs.append(Pair(fold, lfw_photo(root, a, int(i)), lfw_photo(root, b, int(j)), False))
        else:
            raise ValueError(f"{pairs_file}: line {k + 2} is not a pair: {line!r}")
    return pairs
