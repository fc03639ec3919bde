"""A face dataset as identities -> photo paths, with deterministic (seeded) splits."""

from __future__ import annotations

import random
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path

from p3mask.face.image_io import IMAGE_SUFFIXES


@dataclass(frozen=True)
class FaceDataset:
    """Photos grouped by identity.

    Attributes:
        name: dataset name ("lfw", "orl" or "folder").
        root: folder the photos were read from.
        identities: identity -> sorted list of photo paths (only identities with at least one photo).
    """

    name: str
    root: Path
    identities: dict[str, list[Path]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.identities)

    @property
    def num_photos(self) -> int:
        """Total number of photos over all identities."""
        return sum(len(p) for p in self.identities.values())

    def with_at_least(self, n: int) -> list[str]:
        """Identities (sorted) that have ``n`` or more photos."""
        return sorted(name for name, photos in self.identities.items() if len(photos) >= n)

    def sample_identities(self, k: int, min_photos: int, seed: int = 0) -> list[str]:
        """``k`` identities with ``>= min_photos`` photos, drawn deterministically under ``seed``.

        Raises:
            ValueError: fewer than ``k`` identities qualify.
        """
        pool = self.with_at_least(min_photos)
        if k > len(pool):
            raise ValueError(
                f"{self.name}: asked for {k} identities with >= {min_photos} photos, only {len(pool)} exist"
            )
        return sorted(random.Random(seed).sample(pool, k))

    def split_photos(self, identity: str, train_fraction: float = 0.7, seed: int = 0) -> tuple[list[Path], list[Path]]:
        """Split one identity's photos into (train, test), deterministically under ``seed``.

        Both parts are non-empty when the identity has at least two photos.
        """
        if not 0.0 < train_fraction < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
        photos = list(self.identities[identity])
        random.Random(f"{seed}:{identity}").shuffle(photos)
        n_train = min(max(1, round(train_fraction * len(photos))), len(photos) - 1)
        return sorted(photos[:n_train]), sorted(photos[n_train:])


def read_identity_folders(root: Path, suffixes: Collection[str] = IMAGE_SUFFIXES) -> dict[str, list[Path]]:
    """Identity -> photos for a folder-per-identity layout (``root/<identity>/<photo>``): the files whose
    lower-case suffix is in ``suffixes`` (default: every photo type p3mask reads)."""
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    identities = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if photos:
            identities[folder.name] = photos
    return identities
