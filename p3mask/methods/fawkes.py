"""Fawkes-style protection (Shan et al., "Fawkes: Protecting Privacy against Unauthorized Deep Learning
Models", USENIX Security 2020), written from the paper.

Per user (:meth:`Fawkes.setup`): among candidate target identities, the target ``T`` is the one whose
feature centroid is farthest from the user's features, ``T = argmax_k min_{x in user} D(Phi(x), C_k)``
(the paper's rule), with ``D`` the L2 distance between L2-normalised embeddings averaged over the pool.

Per photo (:meth:`Fawkes.protect`): a cloak ``delta`` is optimised with Adam to move the protected face's
features toward the target's, under a DSSIM budget,

    min_delta  sum_m |Phi_m(x + delta) - C_T,m|^2  +  lambda * max(0, DSSIM(x, x + delta) - rho),

with ``lambda`` adapted each step (doubled while the budget is exceeded, halved while slack, as in
:mod:`p3mask.protect.penalty`). Deviations from the paper, for a like-for-like comparison: the cloak
lives in the canonical face frame shared by every method (the paper perturbs the whole face crop);
the target features are the target's centroid rather than one target photo; the budget ``rho`` is
not one of the paper's levels (it used rho = 0.007) but the shared optimisation budget (face SSIM 0.95);
and the final cloak is scaled to the largest strength that keeps the SSIMULACRA2 of the face in context
at ``quality_target`` (:func:`largest_passing_scale`), matched to Chameleon's measured figure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from p3mask.datasets import load_dataset
from p3mask.methods.base import PhotoInput, frozen, load_photos
from p3mask.methods.per_photo import PerPhotoProtector
from p3mask.methods.photo_face import PhotoFace
from p3mask.methods.user import prepare_user
from p3mask.protect.ssim import face_dssim
from p3mask.recognition import FacePipeline, largest_face

logger = logging.getLogger(__name__)


class Fawkes(PerPhotoProtector):
    """Targeted per-photo cloaking under a DSSIM budget (see the module docstring).

    Args:
        steps: Adam steps per photo (default 20; the paper ran hundreds on a GPU).
        lr: Adam learning rate in [0, 1] image units (default 1/255).
        targets: candidate target identities, name -> photos; default: ``num_candidates`` LFW
            identities drawn under ``seed`` with ``photos_per_candidate`` photos or more.
        num_candidates: number of default candidates (default 10).
        photos_per_candidate: photos used per candidate for its centroid (default 2).
        **kwargs: :class:`~p3mask.methods.per_photo.PerPhotoProtector` arguments (``quality_target``,
            ``max_scale``) and :class:`~p3mask.methods.base.Protector` ones (pool, models, detector, ...).
    """

    name = "fawkes"
    perturbation = "cloak"

    def __init__(
        self,
        steps: int = 20,
        lr: float = 1.0 / 255.0,
        targets: Mapping[str, Sequence[PhotoInput]] | None = None,
        num_candidates: int = 10,
        photos_per_candidate: int = 2,
        **kwargs,
    ) -> None:
        super().__init__(steps, **kwargs)
        if lr <= 0 or num_candidates < 1 or photos_per_candidate < 1:
            raise ValueError(f"expected lr > 0, num_candidates >= 1 and photos_per_candidate >= 1; got {lr}, "
                             f"{num_candidates}, {photos_per_candidate}")
        self.lr = float(lr)
        self.targets = targets
        self.num_candidates = int(num_candidates)
        self.photos_per_candidate = int(photos_per_candidate)
        self._candidates: dict[str, dict[str, torch.Tensor]] | None = None
        self.target_name: str | None = None
        self.target: dict[str, torch.Tensor] | None = None

    # ---------------------------------------------------------------- per user
    def _candidate_photos(self) -> dict[str, list[PhotoInput]]:
        if self.targets is not None:
            return {name: list(photos)[: self.photos_per_candidate] for name, photos in self.targets.items()}
        lfw = load_dataset("lfw")
        names = lfw.sample_identities(self.num_candidates, self.photos_per_candidate, seed=self.seed)
        return {name: lfw.identities[name][: self.photos_per_candidate] for name in names}

    @torch.no_grad()
    def _centroids(self) -> dict[str, dict[str, torch.Tensor]]:
        """Candidate name -> model name -> ``(D,)`` normalised feature centroid (computed once)."""
        if self._candidates is not None:
            return self._candidates
        models = {**self.pool_models(), self.user.match_model: self.model(self.user.match_model)}
        pipeline = FacePipeline(models, self.detector, self.device)
        out = {}
        for name, photos in self._candidate_photos().items():
            feats: dict[str, list[torch.Tensor]] = {m: [] for m in models}
            for image in load_photos(photos):
                found, k = pipeline.locate(image, largest_face)
                if k is None:
                    continue
                for m, emb in pipeline.embed_at(image, found.landmarks[k:k + 1]).items():
                    feats[m].append(emb[0].to(self.device))
            if feats[self.user.match_model]:
                out[name] = {m: F.normalize(torch.stack(v).mean(0), dim=0) for m, v in feats.items()}
        if not out:
            raise ValueError("no face found in any candidate target photo")
        self._candidates = out
        return out

    def setup(self, user_photos: Sequence[PhotoInput]) -> None:
        """Find the user's faces and choose the target identity (see the module docstring)."""
        with frozen(self.pool_models()):
            self.user = prepare_user(self, user_photos)
            candidates = {
                name: c for name, c in self._centroids().items()
                if float(c[self.user.match_model] @ self.user.reference) < self.user.threshold
            }  # a candidate matching the user is the user: never a target
            if not candidates:
                raise ValueError("every candidate target matches the user; give other targets")
            scores = {
                name: min(
                    float(torch.stack([(self.user.features[m][i] - c[m]).norm() for m in self.pool]).mean())
                    for i in range(self.user.count)
                )
                for name, c in candidates.items()
            }
        self.target_name = max(scores, key=scores.get)
        self.target = {m: candidates[self.target_name][m].to(self.device) for m in self.pool}
        logger.info("fawkes target identity %s (min feature distance %.3f)", self.target_name, scores[self.target_name])

    # ---------------------------------------------------------------- per photo
    def _is_set_up(self) -> bool:
        return self.user is not None and self.target is not None

    def _optimise(self, face: PhotoFace, models) -> torch.Tensor:
        """The Adam loop: gradient, step, penalty update; returns the ``(3, fh, fw)`` cloak."""
        budget = self.budget
        _, noise, penalty = self._start(face)
        delta = (noise / 255.0).to(self.device)
        delta.requires_grad_(True)
        optimiser = torch.optim.Adam([delta], lr=self.lr)
        for _ in range(self.steps):
            x, weight = face.protected(delta)
            feats = face.embed(models, x)
            distance = sum(((feats[m] - self.target[m]) ** 2).sum(dim=1).mean() for m in models)
            dssim = face_dssim(x, face.region, weight)
            loss = distance + penalty.weight * F.relu(dssim - budget).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            penalty.update(float(dssim.detach().max()))
        return delta.detach()
