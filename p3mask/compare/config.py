"""What ``p3mask compare`` runs: one frozen dataclass whose fields the CLI flags map onto."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from p3mask.protect.config import PRESETS
from p3mask.registries import entry

# Order in which methods run: Chameleon first, because its measured face SSIM is the budget the
# baselines are calibrated to.
METHOD_ORDER = ("chameleon", "fawkes", "lowkey", "opom")


@dataclass(frozen=True)
class CompareConfig:
    """Settings of a comparison run.

    The protocol is the evaluation's (:mod:`p3mask.evaluate.runner`): users are identities with at least
    ``min_photos`` photos drawn under ``seed``, their photos capped at ``max_photos``, 70% used to set
    the method up and the other 30% protected and searched in the clean gallery.
    """

    dataset: str = "lfw"  # "lfw", "orl" or "folder"
    root: Path | None = None  # dataset folder (default: the data root's lfw/ or orl/)
    users: int = 3  # number of users
    methods: tuple[str, ...] = METHOD_ORDER  # methods compared (Chameleon is run first when present)
    preset: str = "mid"  # Chameleon preset whose image-quality budget every baseline is matched to
    seed: int = 0  # draws users, photo splits, distractors; seeds every method
    min_photos: int = 10  # users need at least this many photos
    max_photos: int | None = 10  # photos per user are capped at this (seeded draw): 7 for setup, 3 protected
    train_fraction: float = 0.7  # share of a user's photos given to setup()
    # SSIMULACRA2 (face in context) the baselines are calibrated to; None: Chameleon's measured mean
    quality_target: float | None = None
    gallery_identities: int | None = None  # None: every identity of the dataset; K: the users plus K drawn others
    epochs: int | None = None  # override of Chameleon's epochs
    method_options: dict[str, dict] = field(default_factory=dict)  # extra hyperparameters per method name
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
    use_cache: bool = True  # read/write the gallery embedding cache

    def __post_init__(self) -> None:
        from p3mask.methods import METHODS  # the registry imports models; keep this module light

        unknown = [m for m in self.methods if m not in METHODS]
        if unknown or not self.methods:
            raise ValueError(f"unknown or no methods {unknown}; valid methods: {', '.join(METHODS)}")
        entry(PRESETS, self.preset, "preset")
        if self.users < 1 or self.min_photos < 2:
            raise ValueError(f"expected users >= 1 and min_photos >= 2, got {self.users}, {self.min_photos}")
        if self.max_photos is not None and self.max_photos < self.min_photos:
            raise ValueError(f"max_photos ({self.max_photos}) must be >= min_photos ({self.min_photos})")
        if self.quality_target is not None and not 0.0 < self.quality_target < 100.0:
            raise ValueError(f"quality_target must be in (0, 100), got {self.quality_target}")
        if self.gallery_identities is not None and self.gallery_identities < 1:
            raise ValueError(f"gallery_identities must be >= 1, got {self.gallery_identities}")
        if not 0.0 < self.train_fraction < 1.0:
            raise ValueError(f"train_fraction must be in (0, 1), got {self.train_fraction}")

    def ordered_methods(self) -> list[str]:
        """The methods in running order (Chameleon first), without duplicates."""
        chosen = list(dict.fromkeys(self.methods))
        return sorted(chosen, key=lambda m: METHOD_ORDER.index(m) if m in METHOD_ORDER else len(METHOD_ORDER))
