"""What the per-photo baselines (Fawkes, LowKey) share: protecting a photo is finding the user's face,
optimising a perturbation for it in the canonical face frame under a DSSIM penalty, and scaling the
result to the SSIM budget.

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

from p3mask.methods.base import Protector, check_photo, frozen
from p3mask.methods.photo_face import PhotoFace, find_user_face
from p3mask.methods.user import UserState
from p3mask.models.base import FaceRecognizer
from p3mask.protect.penalty import AdaptivePenalty


class PerPhotoProtector(Protector):
    """Base of the methods that run an optimisation for every photo they protect.

    Args:
        ssim_target: face-region SSIM every protected photo keeps, in (0, 1).
        max_scale: largest factor the final budget calibration may scale the perturbation by, > 0
            (checked by the subclass, with its other hyperparameters).
        **kwargs: :class:`~p3mask.methods.base.Protector` arguments (pool, models, detector, device, seed,
            thresholds).

    Attributes:
        perturbation: what the method calls its perturbation in its log line ("cloak", "perturbation").
        user: the user's faces and features, set by ``setup``.
    """

    per_photo = True
    perturbation: ClassVar[str] = "perturbation"

    def __init__(self, ssim_target: float, max_scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        if not 0.0 < ssim_target < 1.0:
            raise ValueError(f"ssim_target must be in (0, 1), got {ssim_target}")
        self.ssim_target = float(ssim_target)
        self.max_scale = float(max_scale)
        self.user: UserState | None = None

    @property
    def budget(self) -> float:
        """DSSIM budget ``(1 - ssim_target) / 2`` the penalty holds the face region to while optimising."""
        return (1.0 - self.ssim_target) / 2.0

    def _is_set_up(self) -> bool:
        """Whether :meth:`setup` has prepared everything :meth:`protect` needs."""
        return self.user is not None

    def protect(self, image: torch.Tensor) -> torch.Tensor:
        """Protect the user's face in ``image`` ``(3, H, W)`` RGB [0, 1]; returns the protected photo.

        The perturbation of :meth:`_optimise` is scaled (bisection, at most ``max_scale``) to the largest
        strength that keeps the face-region SSIM at ``ssim_target``.
        """
        check_photo(image)
        if not self._is_set_up():
            raise RuntimeError("call setup(user_photos) before protect()")
        models = self.pool_models()
        matcher = self.model(self.user.match_model)
        with frozen({**models, "matcher": matcher}):
            landmarks = find_user_face(image, self.detector, matcher, self.user.reference, self.user.threshold)
            face = PhotoFace.build(image.float(), landmarks, models, device=self.device)
            delta = self._optimise(face, models)
            photo, ssim, scale = face.finish(delta, self.ssim_target, self.max_scale)
        logging.getLogger(type(self).__module__).info(
            "%s: face SSIM %.4f (%s scaled by %.3f)", self.name, ssim, self.perturbation, scale)
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
