"""Focal diversity: how Chameleon picks its ensemble team from the model pool.

Definition (Y. Wu, L. Liu, Z. Xie, K.-H. Chow, W. Wei, "Boosting Ensemble Accuracy by Revisiting
Ensemble Diversity Metrics", CVPR 2021), specialised to protection as in Chameleon:

* **Failure.** A model *fails* on a protected photo when the protection does not work against it:
  the cosine between the embedding of the masked face and the user's clean reference embedding is
  still at or above that model's match threshold (cosine at FAR = 1e-3 on LFW).
* **Generalized diversity** (Partridge & Krzanowski, 1997) of a team of S >= 2 members on a set of
  samples: with p_j the fraction of samples on which exactly j members fail,

      p(1) = sum_j (j / S) p_j                      (one random member fails)
      p(2) = sum_j (j (j - 1) / (S (S - 1))) p_j    (two random distinct members both fail)
      GD   = 1 - p(2) / p(1)

  GD = 0 when the members always fail together and GD = 1 when no two members ever fail on the same sample.
* **Focal diversity of a member** F (the *focal* model): GD of the whole team computed only on the
  samples F fails on (its "negative samples"). It measures how well the other members make up for F
  exactly where F is weak.
* **Team focal diversity**: mean over the members, each taken as focal, of their focal diversity.
  A member that fails on no sample has nothing to make up for and is left out of the mean; a team
  none of whose members fails on any sample scores 1 (nothing left to diversify).
* **Selection**: among all teams of the requested size drawn from the pool (the dlib ResNet is never a
  candidate), the team with the highest team focal diversity. Ties keep the current team, then prefer
  the team with more failures in total (more left to learn), then pool order.

Example:
    >>> import torch
    >>> fails = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.bool)
    >>> round(team_focal_diversity(fails), 4)
    0.3333
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from p3mask.protect.config import HELD_OUT_MODELS


def _as_failures(failures) -> torch.Tensor:
    out = torch.as_tensor(failures)
    if out.ndim != 2:
        raise ValueError(f"expected failures of shape (N samples, S members), got {tuple(out.shape)}")
    return out.to(torch.bool)


def generalized_diversity(failures) -> float:
    """Partridge-Krzanowski generalized diversity of a team on a set of samples.

    Args:
        failures: ``(N, S)`` boolean-like, ``failures[n, s]`` true when member ``s`` fails on sample ``n``;
            ``S >= 2``.

    Returns:
        GD in [0, 1]; ``1.0`` when no member fails on any sample.
    """
    fails = _as_failures(failures)
    n, s = fails.shape
    if s < 2:
        raise ValueError(f"generalized diversity needs a team of at least 2 members, got {s}")
    if n == 0:
        raise ValueError("generalized diversity needs at least one sample")
    j = fails.sum(dim=1).to(torch.float64)  # members failing on each sample
    p1 = (j / s).mean()
    p2 = (j * (j - 1) / (s * (s - 1))).mean()
    if p1 == 0:
        return 1.0
    return float(1.0 - p2 / p1)


def focal_diversity(failures, focal: int) -> float | None:
    """Focal diversity of member ``focal``: GD of the team on the samples ``focal`` fails on.

    Args:
        failures: ``(N, S)`` boolean-like failure matrix of the team (``S >= 2``).
        focal: column index of the focal member.

    Returns:
        GD in [0, 1], or ``None`` when the focal member fails on no sample.
    """
    fails = _as_failures(failures)
    if not 0 <= focal < fails.shape[1]:
        raise ValueError(f"focal must index one of the {fails.shape[1]} members, got {focal}")
    negatives = fails[fails[:, focal]]
    if negatives.shape[0] == 0:
        return None
    return generalized_diversity(negatives)


def team_focal_diversity(failures) -> float:
    """Mean focal diversity over the members of a team (see the module docstring).

    Args:
        failures: ``(N, S)`` boolean-like failure matrix of the team, ``S >= 2``.

    Returns:
        Team focal diversity in [0, 1]; ``1.0`` when no member fails on any sample.
    """
    fails = _as_failures(failures)
    scores = [d for d in (focal_diversity(fails, k) for k in range(fails.shape[1])) if d is not None]
    return sum(scores) / len(scores) if scores else 1.0


def failure_matrix(cosines: Mapping[str, torch.Tensor], thresholds: Mapping[str, float]) -> dict[str, torch.Tensor]:
    """Which protected photos each model still matches to the user.

    Args:
        cosines: model name -> ``(N,)`` cosine between each protected face and the user's clean reference.
        thresholds: model name -> match threshold (cosine at FAR = 1e-3).

    Returns:
        model name -> ``(N,)`` bool, true where the model fails (cosine >= threshold).
    """
    return {name: torch.as_tensor(cos) >= thresholds[name] for name, cos in cosines.items()}


@dataclass(frozen=True)
class TeamChoice:
    """Result of :func:`select_team`."""

    team: tuple[str, ...]  # the selected members, in pool order
    score: float  # its team focal diversity
    scores: dict[tuple[str, ...], float]  # every candidate team -> its team focal diversity


def select_team(
    failures: Mapping[str, torch.Tensor],
    team_size: int,
    current: Sequence[str] | None = None,
) -> TeamChoice:
    """The team of ``team_size`` members with the highest team focal diversity.

    Args:
        failures: candidate name -> ``(N,)`` bool failures (see :func:`failure_matrix`), in pool order.
            ``"dlib"`` is never a candidate.
        team_size: members per team, ``2 <= team_size <= len(pool)``.
        current: the team in use, which wins ties.

    Returns:
        The chosen :class:`TeamChoice`.
    """
    pool = [name for name in failures if name not in HELD_OUT_MODELS]
    if not 2 <= team_size <= len(pool):
        raise ValueError(f"team_size must be in [2, {len(pool)}] for the pool {pool}, got {team_size}")
    columns = {name: torch.as_tensor(failures[name]).to(torch.bool).reshape(-1) for name in pool}
    if len({c.numel() for c in columns.values()}) != 1:
        raise ValueError("every model's failures must cover the same samples")
    current_set = set(current or ())
    scores: dict[tuple[str, ...], float] = {}
    ranked = []
    for order, team in enumerate(itertools.combinations(pool, team_size)):
        matrix = torch.stack([columns[name] for name in team], dim=1)
        scores[team] = team_focal_diversity(matrix)
        ranked.append((-scores[team], set(team) != current_set, -int(matrix.sum()), order, team))
    best = min(ranked)[-1]
    return TeamChoice(team=best, score=scores[best], scores=scores)
