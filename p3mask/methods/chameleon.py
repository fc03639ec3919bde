"""Chameleon behind the shared :class:`Protector` interface: an adapter over :mod:`p3mask.protect`.

:meth:`ChameleonProtector.setup` learns the user's P3-Mask with :func:`p3mask.protect.learning.learn`
(cross-image optimisation, learning at the perceptual floor, focal-diversity team); :meth:`ChameleonProtector.protect`
applies the key to one photo exactly as ``p3mask protect`` does (:func:`p3mask.protect.apply.protect_image`),
so the comparison measures the product, not a re-implementation of it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from p3mask.checks import check_photo
from p3mask.methods.base import NoUserFaceError, PhotoInput, Protector, frozen, load_photos
from p3mask.protect.apply import protect_image
from p3mask.protect.config import DEFAULT_PRESET, ChameleonConfig, get_config
from p3mask.protect.key import P3Mask
from p3mask.protect.learning import LearnResult, learn

logger = logging.getLogger(__name__)


class ChameleonProtector(Protector):
    """Chameleon (Chow et al., ECCV 2024): one universal mask per user, applied instantly.

    Args:
        preset: ``"low"``, ``"mid"`` (default) or ``"high"``; ignored when ``config`` is given.
        config: a full :class:`ChameleonConfig` (its ``pool`` must equal ``pool``).
        epochs: override of the preset's epochs (``None`` keeps it).
        user: name stored in the learned key (default ``"user"``).
        **kwargs: :class:`Protector` arguments (pool, models, detector, device, seed, thresholds).
    """

    name = "chameleon"
    per_photo = False

    def __init__(
        self,
        preset: str = DEFAULT_PRESET,
        config: ChameleonConfig | None = None,
        epochs: int | None = None,
        user: str = "user",
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.config = config or get_config(preset, epochs=epochs, pool=self.pool)
        if tuple(self.config.pool) != self.pool:
            raise ValueError(f"config.pool {self.config.pool} differs from the protector's pool {self.pool}")
        self.user = user
        self.result: LearnResult | None = None

    @property
    def key(self) -> P3Mask | None:
        """The learned key (``None`` before :meth:`setup`)."""
        return self.result.key if self.result is not None else None

    def setup(self, user_photos: Sequence[PhotoInput]) -> None:
        """Learn the user's P3-Mask from their photos."""
        c = self.config
        names = list(dict.fromkeys([*(c.team or c.pool), c.match_model]))
        models = {n: self.model(n) for n in names}
        with frozen(models):
            self.result = learn(
                load_photos(user_photos), c, user=self.user, device=self.device, seed=self.seed, progress=False,
                models=models, detector=self.detector, thresholds={n: self.threshold(n) for n in names},
            )
        logger.info("chameleon: learned in %.1f s, team %s, training SSIMULACRA2 min %.1f",
                    self.result.seconds, ",".join(self.key.team), self.key.quality_min)

    def protect(self, image: torch.Tensor) -> torch.Tensor:
        """Apply the user's key to ``image`` ``(3, H, W)`` RGB [0, 1] (strangers untouched)."""
        check_photo(image)
        if self.key is None:
            raise RuntimeError("call setup(user_photos) before protect()")
        matcher = self.model(self.key.match_model)
        with frozen({"matcher": matcher}):
            protected, report = protect_image(self.key, image.float().to(self.device), detector=self.detector,
                                              matcher=matcher)
        if report.protected == 0:
            raise NoUserFaceError(f"no face of the user among {len(report.faces)} detected face(s)")
        return protected
