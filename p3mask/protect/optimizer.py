"""The P3-Mask optimiser of Chameleon (Chow et al., ECCV 2024): the loop of :func:`p3mask.protect.learning.learn`.

1. **Cross-image optimisation.** One mask ``delta`` ``(3, h, w)`` lives in the canonical aligned-face
   frame, bounded in L-inf by ``epsilon``. For a mini-batch of the user's photos it is warped into each
   photo region with :func:`p3mask.face.align.paste_from_crop`, the protected region is clamped to
   [0, 1] and re-aligned for every team model with :func:`p3mask.face.align.warp_to_crop` (optionally
   with a small random jitter of the alignment, as re-detection would give), so what is optimised is
   what a recogniser sees after re-detecting the face. The feature loss of a team model is the mean over
   photos of the angular distance ``arccos(cos(f(x + delta), r))`` to the user's clean reference
   embedding ``r`` (the normalised mean clean embedding); members' losses are weighted by how little
   the mask fools them so far (``config.focus``: a softmax of their negated mean angular distances),
   so that the hardest member is not left behind by easy ones that a plain mean would keep pushing.
   By default (``config.members_per_step = 1``) a step back-propagates through one member, the
   members taken in turn, so that three times as many steps fit the time of whole-team steps; the
   momentum carries the others' latest gradients (and the member weighting acts only when a step runs
   several). The objective is maximised with signed-gradient steps (with momentum; cosine-decayed step
   size), each followed by projection onto the L-inf box.
2. **Perceptibility optimisation.** The mask is parametrised in YCbCr: its luma is bounded by
   ``epsilon`` and each chroma component by ``chroma_ratio * epsilon`` (people see skin-tone shifts
   first). Every training photo sees the mask at a strength held just short of the one it will be
   saved with: the largest strength <= 1 that keeps its SSIMULACRA2 (face in context,
   :class:`PerceptualLoss`: differentiable, the clean side computed once) at the preset's floor plus
   ``config.quality_margin``, tracked as the mask changes and differentiated implicitly
   (:class:`p3mask.protect.strength.FloorStrengths`), so the loss is ``-sum_m w_m angle_m`` alone and
   its gradient carries what the budget costs; the margin makes the mask work at less than the strength
   it is saved with. After learning, each training photo gets the strength
   :func:`p3mask.protect.floor.strongest_within_floor` finds for it at the floor itself, the rule
   :func:`p3mask.protect.apply.protect_image` applies to every new photo.
3. **Focal-diversity ensemble.** The team is selected from the pool by :mod:`p3mask.protect.focal`
   at the start and reselected every ``reselect_every`` epochs from the current mask's outcomes, when
   the pool is larger than the team (by default the team is the whole pool of four: measured to
   transfer better than the best three, at no cost with one member a step).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from p3mask.face.align import paste_from_crop, warp_to_crop
from p3mask.models.base import FaceRecognizer
from p3mask.protect import visuals
from p3mask.protect.config import CHROMA_TO_RGB, ChameleonConfig
from p3mask.protect.floor import TOLERANCE, strongest_within_floor
from p3mask.protect.focal import failure_matrix, select_team
from p3mask.protect.strength import FloorStrengths
from p3mask.protect.trainset import TrainingSet
from p3mask.protect.unlink import unlinkability_loss
from p3mask.quality import SSIMULACRA2Reference, changed_box
from p3mask.timing import NO_TIMINGS, Timings

logger = logging.getLogger(__name__)

_COS_CLAMP = 1.0 - 1e-6  # keeps arccos differentiable at |cos| = 1
_EVAL_CHUNK = 32  # photos per forward pass when only evaluating (a whole training set in one)


@dataclass(frozen=True)
class EpochStats:
    """What one epoch did (means over its mini-batches unless said otherwise)."""

    epoch: int  # 1-based
    seconds: float  # wall time of the epoch's optimisation steps
    loss: float  # total loss
    feature_distance: float  # angular distance to the clean reference, radians, mean over team and photos
    quality: float  # SSIMULACRA2 of the face in context
    quality_min: float  # lowest SSIMULACRA2 of any photo in the epoch
    strength: float  # mean strength of the mask on the training photos at the end of the epoch
    team: tuple[str, ...]  # team used during the epoch


@dataclass
class MaskResult:
    """Output of :meth:`MaskOptimizer.fit`."""

    mask: torch.Tensor  # (3, h, w) final RGB mask in the canonical frame, |mask| <= config.rgb_bound
    team: tuple[str, ...]  # team at the end of learning
    references: dict[str, torch.Tensor]  # model -> (D,) clean reference embedding
    history: list[EpochStats]
    quality: torch.Tensor  # (N,) SSIMULACRA2 (face in context) of each training photo at its strength
    clean_cosine: dict[str, torch.Tensor] = field(default_factory=dict)  # model -> (N,) clean photo vs reference
    protected_cosine: dict[str, torch.Tensor] = field(default_factory=dict)  # model -> (N,) protected vs reference
    strength: torch.Tensor | None = None  # (N,) fraction of the mask each training photo takes (quality floor)


@dataclass
class _State:
    """Working values of one :meth:`MaskOptimizer.fit` call."""

    param: torch.Tensor  # (1, 3, h/k, w/k) the mask in YCbCr (Y, Cb, Cr) before upsampling and feathering
    bound: torch.Tensor  # (1, 3, 1, 1) L-inf bound of each YCbCr component
    velocity: torch.Tensor  # momentum buffer, same shape as param
    window: torch.Tensor  # (1, 1, h, w) feathering weights
    perceptual: PerceptualLoss  # the training photos' perceptual loss (references computed once)
    strengths: FloorStrengths  # each training photo's strength, held at the quality floor
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


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` YCbCr change (Y, Cb, Cr; BT.601, no offsets) -> ``(B, 3, H, W)`` RGB change."""
    matrix = torch.tensor(CHROMA_TO_RGB, dtype=ycbcr.dtype, device=ycbcr.device)  # (3, 2)
    return ycbcr[:, :1] + torch.einsum("rc,bchw->brhw", matrix, ycbcr[:, 1:])


class PerceptualLoss:
    """``(100 - SSIMULACRA2) / 100`` of training photos' faces in context, differentiable in the protected
    photos.

    The reference side of SSIMULACRA2 (each clean face in context) is computed once here, not at every
    step; given the mask's coverage, each measure reads only the box the mask reaches
    (:class:`p3mask.quality.SSIMULACRA2Reference` with ``changed``): the same scores, for less work.

    Args:
        regions: ``(N, 3, H, W)`` clean regions in [0, 1].
        contexts: ``(N, 4)`` ``(y0, y1, x0, x1)`` of each face in context in region pixels.
        weight: ``(N, 1, H, W)`` coverage of the mask on each region (the protected regions differ from
            the clean ones only where it is not 0); None: anywhere in the context.
    """

    def __init__(self, regions: torch.Tensor, contexts: torch.Tensor, weight: torch.Tensor | None = None) -> None:
        self.contexts = [tuple(box) for box in contexts.tolist()]
        self.measures = []
        for i, (y0, y1, x0, x1) in enumerate(self.contexts):
            changed = None if weight is None else changed_box(weight[i, :, y0:y1, x0:x1])
            self.measures.append(SSIMULACRA2Reference(regions[i:i + 1, :, y0:y1, x0:x1], changed))

    def __len__(self) -> int:
        return len(self.measures)

    def quality(self, index: int, protected: torch.Tensor) -> torch.Tensor:
        """``(B,)`` SSIMULACRA2 of photo ``index``'s face in context in ``protected`` ``(B, 3, H, W)``
        (versions of that photo's region)."""
        y0, y1, x0, x1 = self.contexts[index]
        return self.measures[index](protected[..., y0:y1, x0:x1])

    def __call__(self, protected: torch.Tensor, idx: torch.Tensor | None = None) -> torch.Tensor:
        """``(B,)`` losses of ``protected`` ``(B, 3, H, W)``: the photos ``idx`` ``(B,)`` of the set (all
        of them, in order, when None)."""
        indices = range(len(self)) if idx is None else idx.tolist()
        return torch.cat([(100.0 - self.quality(j, protected[k:k + 1])) / 100.0 for k, j in enumerate(indices)])


def _angles(emb: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    return torch.arccos((emb * ref).sum(dim=1).clamp(-_COS_CLAMP, _COS_CLAMP))


class MaskOptimizer:
    """The P3-Mask optimiser. Hyperparameters here; :meth:`fit` holds only the loop.

    Args:
        models: loaded recognisers by name: every model of the pool (or of the fixed team).
        thresholds: model name -> match threshold (cosine at FAR = 1e-3), for focal diversity.
        config: a :class:`ChameleonConfig`.
        seed: seeds the initial mask, the photo order and the jitter (deterministic on the CPU).
        progress: show one tqdm line per epoch.
        out_dir: if given (a folder, or a :class:`p3mask.protect.visuals.LearnArtefacts`), per-epoch
            masks go to ``jpg/epoch_NNNN.jpg`` in it (and ``npy/`` when asked for), and
            ``before_after.png`` is written at the end.
        on_epoch: called with each epoch's :class:`EpochStats` as soon as it is done (progress for a
            caller such as the web page); an exception it raises stops learning.
        timings: where the parts of learning add their wall seconds (``bench learn``'s time split):
            ``reference_embeddings``, ``perceptual_references``, ``team_selection``, and per step
            ``paste``, ``team_forward``, ``perceptual_forward``, ``backward``, ``update``; then
            ``floor_search`` and ``final_cosines``.
    """

    def __init__(
        self,
        models: Mapping[str, FaceRecognizer],
        thresholds: Mapping[str, float],
        config: ChameleonConfig,
        seed: int = 0,
        progress: bool = True,
        out_dir: str | Path | visuals.LearnArtefacts | None = None,
        on_epoch: Callable[[EpochStats], None] | None = None,
        timings: Timings = NO_TIMINGS,
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
        if out_dir is not None and not isinstance(out_dir, visuals.LearnArtefacts):
            out_dir = visuals.LearnArtefacts(Path(out_dir))
        self.out_dir = out_dir
        self.on_epoch = on_epoch
        self.timings = timings

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

    @property
    def _reselects(self) -> bool:
        """True when the team is chosen again during learning: selected automatically from a pool larger
        than the team (a team of the whole pool has nothing to choose)."""
        return self.config.team is None and self.config.team_size < len(self.candidates)

    def _select(self, cosines: Mapping[str, torch.Tensor], current) -> tuple[str, ...]:
        if self.config.team is not None:
            return tuple(self.config.team)
        choice = select_team(failure_matrix(cosines, self.thresholds), self.config.team_size, current)
        logger.info("team %s (focal diversity %.3f)", ",".join(choice.team), choice.score)
        return choice.team

    # ---------------------------------------------------------------- the loop
    def _delta(self, state: _State) -> torch.Tensor:
        """``(3, h, w)`` RGB mask: the YCbCr parameter in RGB, upsampled bilinearly, feathered at the border."""
        param = ycbcr_to_rgb(state.param)
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

    def _members(self, state: _State) -> tuple[str, ...]:
        """The team members this step back-propagates through: the whole team, or
        (``config.members_per_step = k``) the next ``k`` of them in turn, so every member leads equally often."""
        team, k = state.team, self.config.members_per_step
        if k == 0 or k >= len(team):
            return team
        start = state.step * k
        return tuple(team[(start + i) % len(team)] for i in range(k))

    def _spread(self, state: _State, name: str, emb: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Unlinkability term of one member (:mod:`p3mask.protect.unlink`): the batch's protected embeddings
        against the latest ones of the user's other photos; the batch's rows of the bank are then updated."""
        bank = state.bank[name]
        others = bank[~torch.isin(torch.arange(bank.shape[0], device=bank.device), idx)]
        term = unlinkability_loss(emb, others)
        bank[idx] = emb.detach()
        return term

    def _step(self, state: _State, batch, refs, idx: torch.Tensor) -> dict[str, float]:
        """One signed-gradient step on one mini-batch (photos ``idx`` of the training set); updates
        ``state`` in place."""
        c, timed = self.config, self.timings.phase
        regions, valid, to_frame, crops = batch
        state.param.requires_grad_(True)
        protected, quality = self._at_floor(state, regions, valid, to_frame, idx)
        angles, spread = [], []
        with timed("team_forward"):
            for name in self._members(state):
                size = self.models[name].input_size
                to_crop = jitter_matrices(crops[name], size, c.align_jitter, state.generator)
                emb = self.models[name](warp_to_crop(protected, to_crop, size))
                angles.append(_angles(emb, refs[name]))
                if state.bank:
                    spread.append(self._spread(state, name, emb, idx))
        per_model = torch.stack([a.mean() for a in angles])  # (team,) mean angular distance per member
        feature = per_model.mean()
        loss = -(self._member_weights(per_model) * per_model).sum()
        if spread:
            loss = loss + c.unlink_weight * torch.stack(spread).mean()
        with timed("backward"):
            (grad,) = torch.autograd.grad(loss, state.param)
        state.param.requires_grad_(False)
        with torch.no_grad(), timed("update"):
            state.velocity.mul_(c.momentum).add_(grad / grad.abs().mean().clamp_min(1e-12))
            step = self._step_size(state) / c.epsilon * state.bound  # each component's step in its own bound
            state.param.sub_(step * state.velocity.sign())
            state.param.copy_(torch.maximum(torch.minimum(state.param, state.bound), -state.bound))
        state.step += 1
        return {"loss": float(loss.detach()), "feat": float(feature.detach()), "quality": float(quality.mean()),
                "quality_min": float(quality.min())}

    def _at_floor(self, state: _State, regions, valid, to_frame, idx) -> tuple[torch.Tensor, torch.Tensor]:
        """The mini-batch ``regions`` ``(B, 3, H, W)`` protected at each photo's held strength
        (:class:`FloorStrengths`), differentiable in the mask; ``(protected, quality (B,))``."""
        with self.timings.phase("paste"):
            delta = self._delta(state).expand(regions.shape[0], -1, -1, -1)
            pasted, cover = paste_from_crop(delta, to_frame, regions.shape[-2:])
            change = pasted * cover * valid
        protected, quality = [], []
        with self.timings.phase("perceptual_forward"):
            for k, j in enumerate(idx.tolist()):
                photo, q = state.strengths.scaled(j, regions[k:k + 1], change[k:k + 1],
                                                  lambda x, j=j: state.perceptual.quality(j, x))
                protected.append(photo)
                quality.append(q)
        return torch.cat(protected), torch.tensor(quality)

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
            bar.set_postfix_str(f"L {mean['loss']:.4f} | feat {mean['feat']:.4f} | SSIMULACRA2 {mean['quality']:.1f} | "
                                f"team {','.join(state.team)}")
        bar.close()
        return EpochStats(epoch, time.perf_counter() - start, mean["loss"], mean["feat"], mean["quality"],
                          min(d["quality_min"] for d in logs), float(state.strengths.values.mean()), state.team)

    def _init_state(self, data: TrainingSet, team: tuple[str, ...], perceptual: PerceptualLoss) -> _State:
        c = self.config
        generator = torch.Generator().manual_seed(self.seed)
        shape = (1, 3, c.frame_size[0] // c.mask_downsample, c.frame_size[1] // c.mask_downsample)
        device = data.regions.device
        bound = torch.tensor([1.0, c.chroma_ratio, c.chroma_ratio], device=device).view(1, 3, 1, 1) * c.epsilon
        param = (torch.rand(shape, generator=generator) * 2 - 1).to(device) * bound * c.step_size
        # held in the middle of the band the final strength search accepts
        strengths = FloorStrengths(len(data), c.quality_floor + c.quality_margin + TOLERANCE / 2)
        return _State(param, bound, torch.zeros_like(param), feather_window(c.frame_size, c.feather, device),
                      perceptual, strengths, team, generator, 0, c.epochs * math.ceil(len(data) / c.batch_size))

    def fit(self, data: TrainingSet) -> MaskResult:
        """Learn the mask from a :class:`TrainingSet` on the models' device."""
        c, timed = self.config, self.timings.phase
        to_frame = data.matrices(c.frame_template)
        crops = {n: data.matrices(m.template) for n, m in self.models.items()}
        with timed("reference_embeddings"):
            clean_emb = {n: self._embed_all(n, data.regions, crops[n]) for n in self.candidates}
            refs = {n: F.normalize(e.mean(0), dim=0) for n, e in clean_emb.items()}
            clean = {n: (e * refs[n]).sum(1).cpu() for n, e in clean_emb.items()}
        with timed("perceptual_references"):
            nothing = torch.zeros(3, *c.frame_size, device=data.regions.device)
            _, coverage = self._protect_all(data, to_frame, nothing)
            perceptual = PerceptualLoss(data.regions, data.contexts, coverage)
        with timed("team_selection"):
            team = self._select(clean, None)
        state = self._init_state(data, team, perceptual)
        if c.unlink_weight > 0:  # clean embeddings until a photo's first protected one
            state.bank = {n: e.detach().clone() for n, e in clean_emb.items()}
        history = []
        for epoch in range(1, c.epochs + 1):
            history.append(self._epoch(epoch, state, data, to_frame, crops, refs))
            if self.on_epoch is not None:
                self.on_epoch(history[-1])
            if self.out_dir is not None:
                visuals.save_epoch_mask(self._delta(state), c.epsilon, self.out_dir, epoch)
            if self._reselects and epoch % c.reselect_every == 0 and epoch < c.epochs:
                with timed("team_selection"):
                    protected, _ = self._protect_all(data, to_frame, self._delta(state))
                    state.team = self._select(self._cosines(protected, crops, refs), state.team)
        delta = self._delta(state).detach()
        with timed("floor_search"):
            protected, quality, strength = self._hold_floor(data, to_frame, delta, perceptual)
        if self.out_dir is not None:
            visuals.save_before_after(data.regions, protected, self.out_dir.folder / "before_after.png",
                                      self.out_dir.overwrite)
        with timed("final_cosines"):
            final = self._cosines(protected, crops, refs)
        return MaskResult(delta.cpu(), state.team, {k: v.cpu() for k, v in refs.items()}, history, quality,
                          clean, final, strength)

    # ----------------------------------------------------------- quality floor
    @torch.no_grad()
    def _hold_floor(self, data: TrainingSet, to_frame, delta,
                    perceptual: PerceptualLoss) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Protect every training photo at the largest strength <= 1 that keeps its face in context at the
        SSIMULACRA2 floor (:func:`p3mask.protect.floor.strongest_within_floor`, as for new photos), measured
        by ``perceptual``'s fixed references.

        Returns:
            ``(protected (N,3,H,W), quality (N,), strength (N,))``.
        """
        floor = self.config.quality_floor
        protected, strengths, qualities = [], [], []
        for i in range(len(data)):
            region = data.regions[i:i + 1]
            pasted, cover = paste_from_crop(delta[None], to_frame[i:i + 1], region.shape[-2:])
            change = pasted * cover * data.valid[i:i + 1]

            def masked(strength: float, i=i, region=region, change=change):
                out = (region + strength * change).clamp(0, 1)
                return out, float(perceptual.quality(i, out))

            strength, out, quality = strongest_within_floor(masked, floor)
            protected.append(out)
            strengths.append(strength)
            qualities.append(quality)
        weaker = [s for s in strengths if s < 1.0]
        if weaker:
            logger.info("%d of %d training photos take a weaker mask (min strength %.3f) to keep SSIMULACRA2 >= %.1f",
                        len(weaker), len(data), min(weaker), floor)
        return torch.cat(protected), torch.tensor(qualities), torch.tensor(strengths)
