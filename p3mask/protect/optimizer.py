"""The P3-Mask optimiser of Chameleon (Chow et al., ECCV 2024): the loop of :func:`p3mask.protect.chameleon.learn`.

1. **Cross-image optimisation.** One mask ``delta`` ``(3, h, w)`` lives in the canonical aligned-face
   frame, bounded in L-inf by ``epsilon``. For a mini-batch of the user's photos it is warped into each
   photo region with :func:`p3mask.face.align.paste_from_crop`, the protected region is clamped to
   [0, 1] and re-aligned for every team model with :func:`p3mask.face.align.warp_to_crop` (optionally
   with a small random jitter of the alignment, as re-detection would give), so what is optimised is
   what a recogniser sees after re-detecting the face. The feature loss of a team model is the mean over
   photos of the angular distance ``arccos(cos(f(x + delta), r))`` to the user's clean reference
   embedding ``r`` (the normalised mean clean embedding); members' losses are weighted by how little
   the mask fools them so far (``config.focus``: a softmax of their negated mean angular distances), so that the
   hardest member is not left behind by easy ones that a plain mean would keep pushing.
   The objective is maximised with signed-gradient steps
   (with momentum; cosine-decayed step size), each followed by projection onto the L-inf ball.
2. **Perceptibility optimisation.** ``loss = -sum_m w_m angle_m + lambda * mean(max(0, DSSIM - budget))``
   with the face-region DSSIM of :mod:`p3mask.protect.ssim` and the adaptive ``lambda`` of
   :mod:`p3mask.protect.penalty` (driven by the batch's mean or worst DSSIM, ``config.penalty_on``).
   After learning, each training photo gets the largest strength <= 1 of the mask that keeps its
   SSIM at the preset's floor, the same rule :func:`p3mask.protect.apply.protect_image` applies to
   every new photo, so the floor holds on every protected photo.
3. **Focal-diversity ensemble.** The team is selected from the pool by :mod:`p3mask.protect.focal`
   at the start and reselected every ``reselect_every`` epochs from the current mask's outcomes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from p3mask.face.align import paste_from_crop, warp_to_crop
from p3mask.models.base import FaceRecognizer
from p3mask.protect import visuals
from p3mask.protect.config import ChameleonConfig
from p3mask.protect.focal import failure_matrix, select_team
from p3mask.protect.penalty import AdaptivePenalty
from p3mask.protect.ssim import face_dssim, face_ssim
from p3mask.protect.trainset import TrainingSet
from p3mask.protect.unlink import unlinkability_loss

logger = logging.getLogger(__name__)

_COS_CLAMP = 1.0 - 1e-6  # keeps arccos differentiable at |cos| = 1
_EVAL_CHUNK = 16  # photos per forward pass when only evaluating
_FLOOR_BISECT_STEPS = 10  # resolution 2^-10 of the per-photo strength that holds the SSIM floor


@dataclass(frozen=True)
class EpochStats:
    """What one epoch did (means over its mini-batches unless said otherwise)."""

    epoch: int  # 1-based
    seconds: float  # wall time of the epoch's optimisation steps
    loss: float  # total loss
    feature_distance: float  # angular distance to the clean reference, radians, mean over team and photos
    dssim: float  # face-region DSSIM
    ssim: float  # face-region SSIM
    ssim_min: float  # lowest face-region SSIM of any photo in the epoch
    penalty: float  # adaptive penalty weight at the end of the epoch
    team: tuple[str, ...]  # team used during the epoch


@dataclass
class MaskResult:
    """Output of :meth:`Chameleon.fit`."""

    mask: torch.Tensor  # (3, h, w) final mask in the canonical frame, |mask| <= epsilon
    team: tuple[str, ...]  # team at the end of learning
    references: dict[str, torch.Tensor]  # model -> (D,) clean reference embedding
    history: list[EpochStats]
    ssim: torch.Tensor  # (N,) face-region SSIM of each training photo with the final mask at its strength
    clean_cosine: dict[str, torch.Tensor] = field(default_factory=dict)  # model -> (N,) clean photo vs reference
    protected_cosine: dict[str, torch.Tensor] = field(default_factory=dict)  # model -> (N,) protected vs reference
    strength: torch.Tensor | None = None  # (N,) fraction of the mask each training photo takes (SSIM floor)


@dataclass
class _State:
    """Working values of one :meth:`Chameleon.fit` call."""

    param: torch.Tensor  # (1, 3, h/k, w/k) the mask before upsampling and feathering
    velocity: torch.Tensor  # momentum buffer, same shape
    window: torch.Tensor  # (1, 1, h, w) feathering weights
    penalty: AdaptivePenalty
    team: tuple[str, ...]
    generator: torch.Generator  # photo order and jitter (CPU, seeded)
    step: int = 0
    total_steps: int = 1
    # model -> (N, D) latest embedding of every training photo (``config.unlink_weight > 0`` only)
    bank: dict[str, torch.Tensor] = field(default_factory=dict)


def feather_window(size: tuple[int, int], width: float, device=None) -> torch.Tensor:
    """``(1, 1, h, w)`` weights in [0, 1]: 1 inside, a raised-cosine fade to 0 over ``width`` px at the border."""
    h, w = size
    if width <= 0:
        return torch.ones(1, 1, h, w, device=device)

    def ramp(n: int) -> torch.Tensor:
        pos = torch.arange(n, dtype=torch.float32, device=device)
        dist = torch.minimum(pos + 0.5, n - 0.5 - pos) / width  # distance to the border, in widths
        return 0.5 - 0.5 * torch.cos(math.pi * dist.clamp(0, 1))

    return (ramp(h)[:, None] * ramp(w)[None, :])[None, None]


def composite(
    regions: torch.Tensor, valid: torch.Tensor, delta: torch.Tensor, to_frame: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste ``delta`` onto every region; ``(protected, weight)`` with ``weight`` the face-region map.

    Args:
        regions: ``(B, 3, H, W)`` clean photo regions in [0, 1].
        valid: ``(B, 1, H, W)`` 1 on real pixels.
        delta: ``(3, h, w)`` mask in the canonical frame.
        to_frame: ``(B, 2, 3)`` region -> frame affines.

    Returns:
        ``(B, 3, H, W)`` protected regions in [0, 1] and ``(B, 1, H, W)`` coverage of the mask.
    """
    pasted, cover = paste_from_crop(delta.expand(regions.shape[0], -1, -1, -1), to_frame, regions.shape[-2:])
    weight = cover * valid
    return (regions + pasted * weight).clamp(0.0, 1.0), weight


def jitter_matrices(matrices: torch.Tensor, size: tuple[int, int], amount: float, generator) -> torch.Tensor:
    """Compose ``(B, 2, 3)`` photo -> crop affines with a random similarity about the crop centre.

    Each point of the crop border moves by up to about ``amount`` crop pixels (translation up to
    ``amount``, rotation and relative scale up to ``amount / (crop half-size)``), as landmark noise
    of a re-detection would move it.
    """
    if amount <= 0:
        return matrices
    b = matrices.shape[0]
    u = (torch.rand(b, 4, generator=generator) * 2 - 1).to(matrices)
    half = min(size) / 2
    angle, scale = u[:, 0] * amount / half, 1 + u[:, 1] * amount / half
    cx, cy = (size[1] - 1) / 2, (size[0] - 1) / 2
    cos, sin = scale * torch.cos(angle), scale * torch.sin(angle)
    tx = cx - cos * cx + sin * cy + u[:, 2] * amount
    ty = cy - sin * cx - cos * cy + u[:, 3] * amount
    jitter = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)  # (B, 2, 3)
    return jitter[:, :, :2] @ matrices + torch.cat([matrices.new_zeros(b, 2, 2), jitter[:, :, 2:]], 2)


def _angles(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return torch.arccos((emb * ref).sum(dim=1).clamp(-_COS_CLAMP, _COS_CLAMP))


class Chameleon:
    """The P3-Mask optimiser. Hyperparameters here; :meth:`fit` holds only the loop.

    Args:
        models: loaded recognisers by name: every model of the pool (or of the fixed team).
        thresholds: model name -> match threshold (cosine at FAR = 1e-3), for focal diversity.
        config: a :class:`ChameleonConfig`.
        seed: seeds the initial mask, the photo order and the jitter (deterministic on the CPU).
        progress: show one tqdm line per epoch.
        out_dir: if given, per-epoch masks go to ``out_dir/jpg/epoch_NNNN.jpg`` and ``npy/``, and
            ``before_after.png`` is written at the end.
    """

    def __init__(
        self,
        models: Mapping[str, FaceRecognizer],
        thresholds: Mapping[str, float],
        config: ChameleonConfig,
        seed: int = 0,
        progress: bool = True,
        out_dir: str | Path | None = None,
    ) -> None:
        self.candidates = tuple(config.team) if config.team is not None else tuple(config.pool)
        missing = [n for n in self.candidates if n not in models or (config.team is None and n not in thresholds)]
        if missing:
            raise ValueError(f"models or thresholds missing for {missing}; got models {sorted(models)}")
        self.models = {n: models[n] for n in self.candidates}
        self.thresholds = {n: float(thresholds[n]) for n in self.candidates if n in thresholds}
        self.config = config
        self.seed = int(seed)
        self.progress = progress
        self.out_dir = Path(out_dir) if out_dir is not None else None

    # ------------------------------------------------------------- evaluation
    def _embed(self, name: str, images: torch.Tensor, to_crop: torch.Tensor) -> torch.Tensor:
        model = self.models[name]
        return model(warp_to_crop(images, to_crop, model.input_size))

    @torch.no_grad()
    def _embed_all(self, name: str, images: torch.Tensor, to_crop: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._embed(name, images[i:i + _EVAL_CHUNK], to_crop[i:i + _EVAL_CHUNK])
                          for i in range(0, images.shape[0], _EVAL_CHUNK)])

    def _cosines(self, images: torch.Tensor, crops, refs) -> dict[str, torch.Tensor]:
        """model -> ``(N,)`` cosine of each image's face to the user's reference."""
        return {n: (self._embed_all(n, images, crops[n]) * refs[n]).sum(1).cpu() for n in self.candidates}

    @torch.no_grad()
    def _protect_all(self, data: TrainingSet, to_frame, delta) -> tuple[torch.Tensor, torch.Tensor]:
        parts = [composite(data.regions[i:i + _EVAL_CHUNK], data.valid[i:i + _EVAL_CHUNK], delta,
                           to_frame[i:i + _EVAL_CHUNK]) for i in range(0, len(data), _EVAL_CHUNK)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _select(self, cosines: Mapping[str, torch.Tensor], current) -> tuple[str, ...]:
        if self.config.team is not None:
            return tuple(self.config.team)
        choice = select_team(failure_matrix(cosines, self.thresholds), self.config.team_size, current)
        logger.info("team %s (focal diversity %.3f)", ",".join(choice.team), choice.score)
        return choice.team

    # ---------------------------------------------------------------- the loop
    def _delta(self, state: _State) -> torch.Tensor:
        """``(3, h, w)`` mask: the parameter upsampled bilinearly and feathered at the border."""
        param = state.param
        if param.shape[-2:] != state.window.shape[-2:]:
            param = F.interpolate(param, size=state.window.shape[-2:], mode="bilinear", align_corners=False)
        return (param * state.window)[0]

    def _step_size(self, state: _State) -> float:
        c = self.config
        frac = 0.5 * (1.0 + math.cos(math.pi * state.step / max(state.total_steps - 1, 1)))
        return c.epsilon * (c.final_step_size + (c.step_size - c.final_step_size) * frac)

    def _member_weights(self, per_model: torch.Tensor) -> torch.Tensor:
        """``(team,)`` weights summing to 1: uniform, or (``config.focus > 0``) a softmax of the members'
        negated angular distances at temperature ``focus``, so the member the mask fools least leads."""
        if self.config.focus <= 0:
            return torch.full_like(per_model, 1.0 / per_model.numel())
        return torch.softmax(-per_model.detach() / self.config.focus, dim=0)

    def _spread(self, state: _State, name: str, emb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Unlinkability term of one member (:mod:`p3mask.protect.unlink`): the batch's protected embeddings
        against the latest ones of the user's other photos; the batch's rows of the bank are then updated."""
        bank = state.bank[name]
        others = bank[~torch.isin(torch.arange(bank.shape[0], device=bank.device), idx)]
        term = unlinkability_loss(emb, others)
        bank[idx] = emb.detach()
        return term

    def _step(self, state: _State, batch, refs, idx: torch.Tensor | None = None) -> dict[str, float]:
        """One signed-gradient step on one mini-batch (photos ``idx`` of the training set); updates
        ``state`` in place."""
        c = self.config
        regions, valid, to_frame, crops = batch
        state.param.requires_grad_(True)
        protected, weight = composite(regions, valid, self._delta(state), to_frame)
        angles, spread = [], []
        for name in state.team:
            size = self.models[name].input_size
            to_crop = jitter_matrices(crops[name], size, c.align_jitter, state.generator)
            emb = self.models[name](warp_to_crop(protected, to_crop, size))
            angles.append(_angles(emb, refs[name]))
            if state.bank and idx is not None:
                spread.append(self._spread(state, name, emb, idx))
        per_model = torch.stack([a.mean() for a in angles])  # (team,) mean angular distance per member
        feature = per_model.mean()
        dssim = face_dssim(protected, regions, weight)
        objective = (self._member_weights(per_model) * per_model).sum()
        loss = -objective + state.penalty.weight * F.relu(dssim - state.penalty.budget).mean()
        if spread:
            loss = loss + c.unlink_weight * torch.stack(spread).mean()
        (grad,) = torch.autograd.grad(loss, state.param)
        state.param.requires_grad_(False)
        with torch.no_grad():
            state.velocity.mul_(c.momentum).add_(grad / grad.abs().mean().clamp_min(1e-12))
            state.param.sub_(self._step_size(state) * state.velocity.sign()).clamp_(-c.epsilon, c.epsilon)
        state.step += 1
        dssim = dssim.detach()
        state.penalty.update(float(dssim.max() if c.penalty_on == "max" else dssim.mean()))
        return {"loss": float(loss.detach()), "feat": float(feature.detach()), "dssim": float(dssim.mean()),
                "ssim": float(1 - 2 * dssim.mean()), "ssim_min": float(1 - 2 * dssim.max())}

    def _epoch(self, epoch: int, state: _State, data: TrainingSet, to_frame, crops, refs) -> EpochStats:
        c = self.config
        order = torch.randperm(len(data), generator=state.generator).to(data.regions.device)
        batches = [order[i:i + c.batch_size] for i in range(0, len(data), c.batch_size)]
        bar = tqdm(batches, desc=f"epoch {epoch}/{c.epochs}", leave=True, disable=not self.progress,
                   dynamic_ncols=True, unit="batch")
        logs, start = [], time.perf_counter()
        for idx in bar:
            batch = (data.regions[idx], data.valid[idx], to_frame[idx], {k: v[idx] for k, v in crops.items()})
            logs.append(self._step(state, batch, refs, idx))
            mean = {k: sum(d[k] for d in logs) / len(logs) for k in logs[0]}
            bar.set_postfix_str(f"L {mean['loss']:.4f} | feat {mean['feat']:.4f} | DSSIM {mean['dssim']:.4f} | "
                                f"SSIM {mean['ssim']:.4f} | team {','.join(state.team)}")
        bar.close()
        return EpochStats(epoch, time.perf_counter() - start, mean["loss"], mean["feat"], mean["dssim"],
                          mean["ssim"], min(d["ssim_min"] for d in logs), state.penalty.weight, state.team)

    def _init_state(self, data: TrainingSet, team: tuple[str, ...]) -> _State:
        c = self.config
        generator = torch.Generator().manual_seed(self.seed)
        shape = (1, 3, c.frame_size[0] // c.mask_downsample, c.frame_size[1] // c.mask_downsample)
        device = data.regions.device
        param = ((torch.rand(shape, generator=generator) * 2 - 1) * c.epsilon * c.step_size).to(device)
        penalty = AdaptivePenalty(c.dssim_budget, c.penalty_init, c.penalty_min, c.penalty_max, c.penalty_band)
        return _State(param, torch.zeros_like(param), feather_window(c.frame_size, c.feather, device), penalty,
                      team, generator, 0, c.epochs * math.ceil(len(data) / c.batch_size))

    def fit(self, data: TrainingSet) -> MaskResult:
        """Learn the mask from a :class:`TrainingSet` on the models' device."""
        c = self.config
        to_frame = data.matrices(c.frame_template)
        crops = {n: data.matrices(m.template) for n, m in self.models.items()}
        clean_emb = {n: self._embed_all(n, data.regions, crops[n]) for n in self.candidates}
        refs = {n: F.normalize(e.mean(0), dim=0) for n, e in clean_emb.items()}
        clean = {n: (e * refs[n]).sum(1).cpu() for n, e in clean_emb.items()}
        state = self._init_state(data, self._select(clean, None))
        if c.unlink_weight > 0:  # clean embeddings until a photo's first protected one
            state.bank = {n: e.detach().clone() for n, e in clean_emb.items()}
        history = []
        for epoch in range(1, c.epochs + 1):
            history.append(self._epoch(epoch, state, data, to_frame, crops, refs))
            if self.out_dir is not None:
                visuals.save_epoch_mask(self._delta(state), c.epsilon, self.out_dir, epoch)
            if c.team is None and epoch % c.reselect_every == 0 and epoch < c.epochs:
                protected, _ = self._protect_all(data, to_frame, self._delta(state))
                state.team = self._select(self._cosines(protected, crops, refs), state.team)
        delta = self._delta(state).detach()
        protected, ssims, strength = self._hold_floor(data, to_frame, delta)
        if self.out_dir is not None:
            visuals.save_before_after(data.regions, protected, self.out_dir / "before_after.png")
        return MaskResult(delta.cpu(), state.team, {k: v.cpu() for k, v in refs.items()}, history, ssims,
                          clean, self._cosines(protected, crops, refs), strength)

    # -------------------------------------------------------------- SSIM floor
    @torch.no_grad()
    def _hold_floor(self, data: TrainingSet, to_frame, delta) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Protect every training photo at the largest strength <= 1 that keeps its SSIM >= the floor.

        Returns:
            ``(protected (N,3,H,W), ssim (N,), strength (N,))``; strength found by bisection, only
            for the photos below the floor at full strength.
        """
        floor = self.config.ssim_floor
        parts = [paste_from_crop(delta.expand(len(idx), -1, -1, -1), to_frame[idx], data.regions.shape[-2:])
                 for idx in torch.arange(len(data), device=data.regions.device).split(_EVAL_CHUNK)]
        weight = torch.cat([p[1] for p in parts]) * data.valid
        change = torch.cat([p[0] for p in parts]) * weight

        def measure(idx: torch.Tensor, strength: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            out = (data.regions[idx] + strength.view(-1, 1, 1, 1) * change[idx]).clamp(0, 1)
            return out, face_ssim(out, data.regions[idx], weight[idx])

        everyone = torch.arange(len(data), device=delta.device)
        strength = torch.ones(len(data), device=delta.device)
        _, ssims = measure(everyone, strength)
        need = (ssims < floor).nonzero().flatten()
        if need.numel():
            lo, hi = torch.zeros(need.numel(), device=delta.device), torch.ones(need.numel(), device=delta.device)
            for _ in range(_FLOOR_BISECT_STEPS):
                mid = (lo + hi) / 2
                ok = measure(need, mid)[1] >= floor
                lo, hi = torch.where(ok, mid, lo), torch.where(ok, hi, mid)
            strength[need] = lo
            logger.info("%d of %d training photos take a weaker mask (min strength %.3f) to keep SSIM >= %.3f",
                        need.numel(), len(data), float(lo.min()), floor)
        protected, ssims = measure(everyone, strength)
        return protected, ssims.cpu(), strength.cpu()
