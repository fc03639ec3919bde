"""The one interface every protection method has: Chameleon and the baselines it is compared with.

A :class:`Protector` is built with its hyperparameters, prepared once per user with
:meth:`Protector.setup` (the user's photos: learning a universal mask, choosing a target identity,
or only finding the user's face), then protects one new photo at a time with
:meth:`Protector.protect`. ``per_photo`` says whether protecting a photo runs an optimisation
(Fawkes, LowKey) or only applies something learned in ``setup`` (Chameleon, OPOM).

Every method uses the same model pool (:data:`p3mask.protect.config.DEFAULT_POOL`, never the held-out
dlib ResNet), the same YuNet detector and the same differentiable photo -> aligned-crop warp, so that
differences between methods are the methods' own.

Example:
    >>> from p3mask.methods import get_method  # doctest: +SKIP
    >>> method = get_method("fawkes", quality_target=70.0)  # doctest: +SKIP
    >>> method.setup(["alice/1.jpg", "alice/2.jpg"])  # doctest: +SKIP
    >>> protected = method.protect(load_image("alice/new.jpg"))  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar

import torch

from p3mask.checks import check_photo
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import iter_image_files, load_image
from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer
from p3mask.models.thresholds import match_threshold
from p3mask.protect.config import DEFAULT_POOL, HELD_OUT_MODELS

logger = logging.getLogger(__name__)

PhotoInput = str | os.PathLike | torch.Tensor


class NoUserFaceError(ValueError):
    """A photo holds no face of the user, so nothing was protected."""


def load_photos(photos: Sequence[PhotoInput]) -> list[torch.Tensor]:
    """The user's photos as ``(3, H, W)`` float32 CPU tensors in [0, 1].

    Args:
        photos: paths of photos or folders of photos, and/or ``(3, H, W)`` RGB [0, 1] tensors.

    Raises:
        ValueError: no photo given, or a tensor of the wrong shape.
        p3mask.face.image_io.ImageLoadError: an unreadable file.
    """
    if isinstance(photos, (str, os.PathLike, torch.Tensor)) or len(photos) == 0:
        raise ValueError("expected a non-empty list of photo paths or (3,H,W) tensors")
    images = []
    for i, item in enumerate(photos):
        if isinstance(item, torch.Tensor):
            check_photo(item, f"photo {i}")
            images.append(item.detach().float().cpu())
        else:
            images.extend(load_image(p) for p in iter_image_files([Path(item)]))
    if not images:
        raise ValueError("no readable photo of the user was given")
    return images


@contextmanager
def frozen(models: Mapping[str, FaceRecognizer]) -> Iterator[None]:
    """Eval mode and no parameter gradients for ``models`` inside the block; restored on exit."""
    saved = {name: (m.training, [p.requires_grad for p in m.parameters()]) for name, m in models.items()}
    try:
        for m in models.values():
            m.eval().requires_grad_(False)
        yield
    finally:
        for name, m in models.items():
            training, flags = saved[name]
            m.train(training)
            for p, flag in zip(m.parameters(), flags):
                p.requires_grad_(flag)


def check_pool(pool: Sequence[str]) -> tuple[str, ...]:
    """The pool as a tuple; ``ValueError`` if empty or if it holds the held-out model."""
    pool = tuple(pool)
    if not pool:
        raise ValueError("the model pool must name at least one model")
    held = [m for m in pool if m in HELD_OUT_MODELS]
    if held:
        raise ValueError(f"{held[0]!r} is a held-out recogniser and never used for optimisation")
    return pool


class Protector(abc.ABC):
    """Base class of protection methods (see the module docstring).

    Args:
        pool: recognisers the method optimises against (default: the four-model pool, never dlib).
        models: already loaded recognisers by name; missing ones are loaded from the cache on first use.
        detector: face detector (default: a YuNet :class:`FaceDetector`, built on first use).
        device: where the models run (``"cpu"`` or a CUDA device).
        seed: seeds every random choice, so a method is deterministic on the CPU.
        thresholds: match thresholds (cosine at FAR = 1e-3) by model name; default:
            :func:`p3mask.models.thresholds.match_threshold`.

    Attributes:
        name: registry name of the method.
        per_photo: ``True`` when :meth:`protect` runs an optimisation for every photo.
    """

    name: ClassVar[str]
    per_photo: ClassVar[bool]

    def __init__(
        self,
        pool: Sequence[str] = DEFAULT_POOL,
        models: Mapping[str, FaceRecognizer] | None = None,
        detector: FaceDetector | None = None,
        device: str | torch.device = "cpu",
        seed: int = 0,
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        self.pool = check_pool(pool)
        self.thresholds = dict(thresholds or {})
        self._models = dict(models or {})
        self._detector = detector
        self.device = torch.device(device)
        self.seed = int(seed)

    def model(self, name: str) -> FaceRecognizer:
        """A recogniser by name, loaded (and kept) on first use."""
        if name not in self._models:
            self._models[name] = load_model(name, self.device)
        return self._models[name].to(self.device)

    def threshold(self, name: str) -> float:
        """Match threshold of model ``name`` (given at construction, else the calibrated one)."""
        if name not in self.thresholds:
            self.thresholds[name] = match_threshold(name)
        return float(self.thresholds[name])

    def pool_models(self) -> dict[str, FaceRecognizer]:
        """The pool's recognisers by name."""
        return {name: self.model(name) for name in self.pool}

    @property
    def detector(self) -> FaceDetector:
        """The face detector (built on first use)."""
        if self._detector is None:
            self._detector = FaceDetector()
        return self._detector

    @abc.abstractmethod
    def setup(self, user_photos: Sequence[PhotoInput]) -> None:
        """Per-user preparation from the user's photos (paths, folders or ``(3, H, W)`` tensors in [0, 1])."""

    @abc.abstractmethod
    def protect(self, image: torch.Tensor) -> torch.Tensor:
        """Protect the user's face in one photo.

        Args:
            image: ``(3, H, W)`` RGB in [0, 1].

        Returns:
            ``(3, H, W)`` protected photo in [0, 1] (other faces untouched).

        Raises:
            NoUserFaceError: the photo holds no face of the user.
            RuntimeError: :meth:`setup` was not called.
        """

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        return self.protect(image)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(pool={','.join(self.pool)}, device={self.device}, seed={self.seed})"
