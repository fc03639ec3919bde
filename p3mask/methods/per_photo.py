"""What the per-photo baselines (Fawkes, LowKey) share: protecting a photo is finding the user's face,
optimising a perturbation for it in the canonical face frame under a DSSIM penalty, and scaling the
result to the perceptual budget (SSIMULACRA2 of the face in context).

A subclass prepares the user in :meth:`~p3mask.methods.base.Protector.setup` (setting ``user``) and
implements :meth:`PerPhotoProtector._optimise`, the method's own loop; :meth:`PerPhotoProtector._start`
gives that loop its seeded generator, initial noise and adaptive penalty.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Mapping
from typing import ClassVar

import torch

from p3mask.checks import check_photo
from p3mask.methods.base import Protector, frozen
from p3mask.methods.photo_face import DEFAULT_QUALITY_TARGET, OPTIMISATION_DSSIM_BUDGET, PhotoFace, find_user_face
from p3mask.methods.user import UserState
from p3mask.models.base import FaceRecognizer
from p3mask.protect.penalty import AdaptivePenalty


class PerPhotoProtector(Protector):
    """Base of the methods that run an optimisation for every photo they protect.

    Args:
        steps: optimisation steps per photo, >= 1 (the subclass's default).
        quality_target: SSIMULACRA2 (face in context) every protected photo keeps, in (0, 100) (default:
            the floor of Chameleon's default preset).
        max_scale: largest factor the final budget calibration may scale the perturbation by, > 0
            (default 2).
        **kwargs: :class:`~p3mask.methods.base.Protector` arguments (pool, models, detector, device, seed,
            thresholds).

    Attributes:
        perturbation: what the method calls its perturbation in its log line ("cloak", "perturbation").
        user: the user's faces and features, set by ``setup``.
    """

    per_photo = True
    perturbation: ClassVar[str] = "perturbation"

    def __init__(
        self, steps: int, quality_target: float = DEFAULT_QUALITY_TARGET, max_scale: float = 2.0, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        if not 0.0 < quality_target < 100.0:
            raise ValueError(f"quality_target must be in (0, 100), got {quality_target}")
        if steps < 1 or max_scale <= 0:
            raise ValueError(f"expected steps >= 1 and max_scale > 0; got {steps}, {max_scale}")
        self.steps = int(steps)
        self.quality_target = float(quality_target)
        self.max_scale = float(max_scale)
        self.user: UserState | None = None

    @property
    def budget(self) -> float:
        """DSSIM budget the penalty holds the face region to while optimising (the result is then scaled
        to ``quality_target``)."""
        return OPTIMISATION_DSSIM_BUDGET

    def _is_set_up(self) -> bool:
        """Whether :meth:`setup` has prepared everything :meth:`protect` needs."""
        return self.user is not None

    def protect(self, image: torch.Tensor) -> torch.Tensor:
        """Protect the user's face in ``image`` ``(3, H, W)`` RGB [0, 1]; returns the protected photo.

        The perturbation of :meth:`_optimise` is scaled (bisection, at most ``max_scale``) to the largest
        strength that keeps the SSIMULACRA2 of the face in context at ``quality_target``.
        """
        check_photo(image)
        if not self._is_set_up():
            raise RuntimeError("call setup(user_photos) before protect()")
        models = self.pool_models()
        matcher = self.model(self.user.match_model)
        with frozen({**models, "matcher": matcher}):
            landmarks, box = find_user_face(image, self.detector, matcher, self.user.reference, self.user.threshold)
            face = PhotoFace.build(image.float(), landmarks, models, device=self.device, box=box)
            delta = self._optimise(face, models)
            photo, quality, scale = face.finish(delta, self.quality_target, self.max_scale)
        logging.getLogger(type(self).__module__).info(
            "%s: SSIMULACRA2 %.1f (%s scaled by %.3f)", self.name, quality, self.perturbation, scale)
        return photo

    def _start(self, face: PhotoFace) -> tuple[torch.Generator, torch.Tensor, AdaptivePenalty]:
        """What every optimisation starts from.

        Returns:
            A CPU generator seeded with ``seed``; ``(3, fh, fw)`` CPU noise uniform in [-1, 1), the first
            draw of that generator, for the method to scale into its initial perturbation; and the DSSIM
            penalty on :attr:`budget`, weight 1 in [1/128, 1024].
        """
        gen = torch.Generator().manual_seed(self.seed)
        noise = torch.rand(3, *face.window.shape[-2:], generator=gen) * 2 - 1
        penalty = AdaptivePenalty(self.budget, init=1.0, min_weight=1.0 / 128.0, max_weight=1024.0)
        return gen, noise, penalty

    @abc.abstractmethod
    def _optimise(self, face: PhotoFace, models: Mapping[str, FaceRecognizer]) -> torch.Tensor:
        """The method's loop on one face; returns the ``(3, fh, fw)`` perturbation in the face frame."""
