"""LowKey-style protection (Cherepanova et al., "LowKey: Leveraging Adversarial Attacks to Protect
Social Media Users from Facial Recognition", ICLR 2021), written from the paper.

Per photo, an untargeted perturbation is optimised against the whole ensemble: it maximises the
distance between the features of the protected face and those of the clean face, both as published
and after Gaussian smoothing (the paper's expectation over a blur transform), while a perceptual
penalty holds back visible damage:

    max_delta  sum_m [ |f_m(A(x + delta)) - f_m(A(x))|^2 / |f_m(A(x))|^2
                       + |f_m(A(G(x + delta))) - f_m(A(x))|^2 / |f_m(A(x))|^2 ]  -  alpha * P(x, x + delta)

with ``A`` the re-detection alignment (the differentiable warp), ``G`` a Gaussian blur whose sigma is
drawn each step from ``[sigma_min, sigma_max]``, and signed-gradient ascent steps. Deviations from the
paper, for a like-for-like comparison: LPIPS is not available offline here (see
:data:`p3mask.evaluate.quality.LPIPS_STATUS`), so the perceptual penalty ``P`` is the face-region DSSIM;
its weight ``alpha`` is adapted each step (doubled while DSSIM exceeds the shared optimisation budget,
face SSIM 0.95, halved while it is below), which calibrates the paper's fixed weight to the budget; the
perturbation lives in the canonical face frame shared by every method; and the final perturbation is
scaled to the largest strength that keeps the SSIMULACRA2 of the face in context at ``quality_target``.
The embeddings are L2-normalised, so the denominators are 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from kornia.filters import gaussian_blur2d

from p3mask.methods.base import PhotoInput, frozen
from p3mask.methods.per_photo import PerPhotoProtector
from p3mask.methods.photo_face import PhotoFace
from p3mask.methods.user import prepare_user
from p3mask.protect.ssim import face_dssim


class LowKey(PerPhotoProtector):
    """Untargeted per-photo ensemble attack with blur EOT and a perceptual penalty (see the module docstring).

    Args:
        steps: signed-gradient steps per photo (default 15; the paper used more on a GPU).
        step_size: step in [0, 1] image units (default 1/255).
        sigma_min: smallest blur sigma of the EOT, in region pixels (default 0.5).
        sigma_max: largest blur sigma of the EOT (default 1.5).
        kernel: side of the blur kernel, odd (default 7).
        **kwargs: :class:`~p3mask.methods.per_photo.PerPhotoProtector` arguments (``quality_target``,
            ``max_scale``) and :class:`~p3mask.methods.base.Protector` ones (pool, models, detector, ...).
    """

    name = "lowkey"

    def __init__(
        self,
        steps: int = 15,
        step_size: float = 1.0 / 255.0,
        sigma_min: float = 0.5,
        sigma_max: float = 1.5,
        kernel: int = 7,
        **kwargs,
    ) -> None:
        super().__init__(steps, **kwargs)
        if step_size <= 0:
            raise ValueError(f"expected step_size > 0, got {step_size}")
        if not 0.0 < sigma_min <= sigma_max or kernel < 3 or kernel % 2 == 0:
            raise ValueError(f"expected 0 < sigma_min <= sigma_max and an odd kernel >= 3; got {sigma_min}, "
                             f"{sigma_max}, {kernel}")
        self.step_size = float(step_size)
        self.sigma_min = float(sigma_min)
        self.sigma_max = float(sigma_max)
        self.kernel = int(kernel)

    def setup(self, user_photos: Sequence[PhotoInput]) -> None:
        """Learn the user's reference face (LowKey needs nothing else per user)."""
        with frozen(self.pool_models()):
            self.user = prepare_user(self, user_photos)

    def _blur(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        sigma = self.sigma_min + (self.sigma_max - self.sigma_min) * float(torch.rand((), generator=gen))
        return gaussian_blur2d(x, (self.kernel, self.kernel), (sigma, sigma), border_type="reflect")

    def _optimise(self, face: PhotoFace, models) -> torch.Tensor:
        """The signed-gradient loop: gradient, step, penalty update; returns the ``(3, fh, fw)`` perturbation."""
        gen, noise, penalty = self._start(face)
        with torch.no_grad():
            clean = face.embed(models, face.region)
        delta = (noise * self.step_size).to(self.device)
        for _ in range(self.steps):
            delta.requires_grad_(True)
            x, weight = face.protected(delta)
            both = torch.cat([x, self._blur(x, gen)])  # the published photo and its smoothed version
            feats = face.embed(models, both)
            distance = sum(((feats[m] - clean[m]) ** 2).sum(dim=1).sum() for m in models)
            dssim = face_dssim(x, face.region, weight)
            loss = distance - penalty.weight * dssim.sum()
            (grad,) = torch.autograd.grad(loss, delta)
            with torch.no_grad():
                delta = (delta + self.step_size * grad.sign()).detach()
            penalty.update(float(dssim.detach().max()))
        return delta
