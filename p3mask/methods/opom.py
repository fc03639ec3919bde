"""OPOM-style protection (Zhong & Deng, "OPOM: Customized Invisible Cloak towards Face Privacy
Protection", TPAMI 2022), written from the paper: one person, one mask.

Per user (:meth:`OPOM.setup`), one class-wise universal mask ``delta`` is learned from the user's
training photos. The person's feature subspace is approximated, per model, from the clean features of
those photos by their affine hull (default), convex hull or class centre (:mod:`p3mask.methods.hulls`),
and the mask pushes every training face's features away from it:

    max_{|delta|_inf <= eps}  mean_i mean_m  dist(f_m(A(x_i + delta)), H_m)^2,

with iterative signed-gradient ascent with momentum (MI-FGSM, as OPOM optimises) and projection on the
L-inf ball after every mini-batch step. The mask is then applied unchanged to every new photo of the
person (:meth:`OPOM.protect`: no optimisation per photo).

Budget: OPOM's only budget is ``eps``. For a comparison at equal image quality, ``eps`` is calibrated
on the training photos: the learned mask is scaled (bisection on a factor in ``[0, max_scale]``) until
the mean SSIMULACRA2 (face in context) over the training photos equals ``quality_target``, ``eps`` is multiplied by that
factor and the mask is learned again inside the new bound, starting from the scaled mask
(``calibration_rounds`` times), and a last search fixes the final scale. This is how Chameleon's own
quality is set on its training photos; re-learning makes the final mask one optimised for the bound it
is used at (a sign-gradient mask saturates at ``+-eps``), not a shrunken copy of a larger one. The mask
lives in the canonical face frame shared by every method, faded at its border by the same feather window.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from p3mask.checks import check_photo
from p3mask.face.align import warp_to_crop
from p3mask.methods.base import PhotoInput, Protector, frozen
from p3mask.methods.hulls import HULLS, hull_distance
from p3mask.methods.photo_face import (
    DEFAULT_QUALITY_TARGET,
    PhotoFace,
    find_user_face,
    largest_passing_scale,
)
from p3mask.methods.user import UserState, prepare_user
from p3mask.protect.config import CANONICAL_FEATHER, CANONICAL_SIZE, CANONICAL_TEMPLATE, DEFAULT_PRESET, PRESETS
from p3mask.protect.optimizer import PerceptualLoss, composite, feather_window
from p3mask.registries import entry

logger = logging.getLogger(__name__)


class OPOM(Protector):
    """Class-wise universal L-inf mask against the person's feature hull (see the module docstring).

    Args:
        quality_target: mean SSIMULACRA2 (face in context) over the training photos after calibration
            (default: mid's floor); ``None`` keeps the learned mask at ``epsilon``.
        epsilon: L-inf bound while learning, [0, 1] units (default: the epsilon of Chameleon's default preset).
        hull: ``"affine"`` (default), ``"convex"`` or ``"center"``.
        epochs: passes over the training photos (default 8).
        batch_size: photos per step (default 4).
        step_size: signed-gradient step as a fraction of ``epsilon`` (default 0.25).
        momentum: MI-FGSM decay of the accumulated gradient (default 1.0; 0 gives plain I-FGSM).
        max_scale: largest calibration factor (default 2).
        calibration_rounds: with a quality target, learn this many times (default 2): after each round
            ``epsilon`` is multiplied by the calibration scale and the mask is learned again from the
            scaled one, so that the final mask is optimised for the bound it is used at.
        **kwargs: :class:`Protector` arguments (pool, models, detector, device, seed, thresholds).
    """

    name = "opom"
    per_photo = False

    def __init__(
        self,
        quality_target: float | None = DEFAULT_QUALITY_TARGET,
        epsilon: float = PRESETS[DEFAULT_PRESET].epsilon,
        hull: str = "affine",
        epochs: int = 8,
        batch_size: int = 4,
        step_size: float = 0.25,
        momentum: float = 1.0,
        max_scale: float = 2.0,
        calibration_rounds: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if quality_target is not None and not 0.0 < quality_target < 100.0:
            raise ValueError(f"quality_target must be in (0, 100) or None, got {quality_target}")
        entry(HULLS, hull, "hull")
        if not 0.0 < epsilon <= 1.0 or min(epochs, batch_size, calibration_rounds) < 1:
            raise ValueError("expected 0 < epsilon <= 1 and epochs, batch_size, calibration_rounds >= 1")
        if step_size <= 0 or momentum < 0 or max_scale <= 0:
            raise ValueError("expected step_size > 0, momentum >= 0 and max_scale > 0")
        self.quality_target = quality_target
        self.epsilon = float(epsilon)
        self.hull = hull
        self.epochs = int(epochs)
        self.batch_size = int(batch_size)
        self.step_size = float(step_size)
        self.momentum = float(momentum)
        self.max_scale = float(max_scale)
        self.calibration_rounds = int(calibration_rounds)
        self.user: UserState | None = None
        self.mask: torch.Tensor | None = None  # (3, fh, fw) learned mask times the calibration scale
        self.scale: float = 1.0  # calibration factor applied to the last learned mask
        self.bound: float = float("nan")  # L-inf bound of the final mask, [0, 1] units
        self.quality_train: float = float("nan")  # mean training SSIMULACRA2 (face in context) with the final mask

    # ---------------------------------------------------------------- per user
    def setup(self, user_photos: Sequence[PhotoInput]) -> None:
        """Learn the user's mask from their photos, then calibrate it to the perceptual budget."""
        models = self.pool_models()
        with frozen(models):
            self.user = prepare_user(self, user_photos)
            data = self.user.data
            to_frame = data.matrices(CANONICAL_TEMPLATE)
            to_crop = {n: data.matrices(m.template) for n, m in models.items()}
            window = feather_window(CANONICAL_SIZE, CANONICAL_FEATHER, self.device)
            eps, delta = self.epsilon, None
            rounds = self.calibration_rounds if self.quality_target is not None else 1
            for r in range(rounds):
                if r:  # learn again inside the calibrated bound, from the scaled mask
                    eps, delta = eps * self.scale, delta * self.scale
                delta = self._learn(models, data, to_frame, to_crop, window, eps, delta)
                self.scale, self.quality_train = self._calibrate(data, to_frame, (delta * window)[0])
        self.mask = delta[0] * self.scale  # PhotoFace applies the same feather window when pasting
        self.bound = eps * self.scale
        logger.info("opom: L-inf bound %.4f (last scale %.3f), mean training SSIMULACRA2 %.1f",
                    self.bound, self.scale, self.quality_train)

    def _loss(self, models, x: torch.Tensor, to_crop, idx: torch.Tensor) -> torch.Tensor:
        """Mean squared distance of the protected faces' features to each model's hull."""
        terms = []
        for name, model in models.items():
            feats = model(warp_to_crop(x, to_crop[name][idx], model.input_size))
            terms.append(hull_distance(feats, self.user.features[name], self.hull).pow(2).mean())
        return torch.stack(terms).mean()

    def _learn(self, models, data, to_frame, to_crop, window, eps: float, init: torch.Tensor | None) -> torch.Tensor:
        """The MI-FGSM loop over mini-batches of training photos within ``|delta| <= eps``;
        returns ``(1, 3, fh, fw)``. Starts from ``init`` or from small seeded noise."""
        gen = torch.Generator().manual_seed(self.seed)
        step = self.step_size * eps
        noise = ((torch.rand(1, 3, *CANONICAL_SIZE, generator=gen) * 2 - 1) * step).to(self.device)
        delta = noise if init is None else init.clamp(-eps, eps)
        velocity = torch.zeros_like(delta)
        for epoch in range(self.epochs):
            order = torch.randperm(len(data), generator=gen).to(self.device)
            for start in range(0, len(data), self.batch_size):
                idx = order[start:start + self.batch_size]
                delta.requires_grad_(True)
                x, _ = composite(data.regions[idx], data.valid[idx], (delta * window)[0], to_frame[idx])
                loss = self._loss(models, x, to_crop, idx)
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    velocity = self.momentum * velocity + grad / grad.abs().mean().clamp_min(1e-12)
                    delta = (delta + step * velocity.sign()).clamp(-eps, eps).detach()
            logger.debug("opom epoch %d: hull distance^2 %.4f", epoch + 1, float(loss.detach()))
        return delta

    @torch.no_grad()
    def _calibrate(self, data, to_frame, mask: torch.Tensor) -> tuple[float, float]:
        """Scale making the mean training SSIMULACRA2 (face in context) equal ``quality_target`` (1 without one)."""
        _, coverage = composite(data.regions, data.valid, mask, to_frame)
        perceptual = PerceptualLoss(data.regions, data.contexts, coverage)

        def mean_quality(scale: float) -> float:
            x, _ = composite(data.regions, data.valid, mask * scale, to_frame)
            return float(perceptual(x).mul(-100.0).add(100.0).mean())

        if self.quality_target is None:
            return 1.0, mean_quality(1.0)
        return largest_passing_scale(mean_quality, self.quality_target, self.max_scale)

    # ---------------------------------------------------------------- per photo
    def protect(self, image: torch.Tensor) -> torch.Tensor:
        """Paste the user's mask onto their face in ``image`` ``(3, H, W)`` RGB [0, 1]."""
        check_photo(image)
        if self.user is None or self.mask is None:
            raise RuntimeError("call setup(user_photos) before protect()")
        matcher = self.model(self.user.match_model)
        with torch.no_grad(), frozen({"matcher": matcher}):
            landmarks, box = find_user_face(image, self.detector, matcher, self.user.reference, self.user.threshold)
            face = PhotoFace.build(image.float(), landmarks, {}, device=self.device, box=box)
            photo, _, _ = face.finish(self.mask, None)
        return photo
