"""Unlinkability: a loss that spreads a user's protected embeddings apart, so they do not find each other.

A mask that is the same on every photo can move all of a user's photos to the same place in embedding
space: they are then far from the user's clean photos but close to each other, and a search engine
holding one protected photo finds the others (retrieval case 2a of :mod:`p3mask.evaluate.retrieval`).
Protego (Wang et al., CVPR 2026) adds minus the log-determinant of the Gram matrix of the user's
normalised protected embeddings to the objective. The determinant of a Gram matrix of unit vectors is
1 when they are orthogonal and falls to 0 as they line up, so the loss is >= 0 (up to the ridge), 0 for
orthogonal embeddings and large for a cluster.

Learning sees only a mini-batch of photos per step, so the loss takes the batch's embeddings (with
gradient) beside the latest embeddings of the user's *other* photos (held from earlier steps, without
gradient): each step pushes the batch away from every other photo of the user.

Example:
    >>> import torch
    >>> round(float(unlinkability_loss(torch.eye(3))), 4)  # orthonormal: nothing to spread
    -0.0001
    >>> float(unlinkability_loss(torch.ones(2, 3))) > 4  # two identical embeddings
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

RIDGE = 1e-4  # added to the Gram matrix's diagonal: keeps the log-determinant finite for a perfect cluster


def unlinkability_loss(batch: torch.Tensor, others: torch.Tensor | None = None, ridge: float = RIDGE) -> torch.Tensor:
    """``-logdet(G + ridge * I) / n`` with ``G`` the Gram matrix of the normalised rows of ``[batch; others]``.

    Args:
        batch: ``(B, D)`` embeddings, ``B >= 1`` (gradient flows to these).
        others: optional ``(M, D)`` embeddings of the user's other photos (detached here: no gradient).
        ridge: diagonal loading, > 0.

    Returns:
        Scalar: ``-log(1 + ridge)`` for orthonormal rows, growing as rows line up (about ``log(1/ridge)/n``
        per repeated row); ``n = B + M``.
    """
    if batch.ndim != 2 or batch.shape[0] < 1:
        raise ValueError(f"batch: expected (B, D) embeddings with B >= 1, got {tuple(batch.shape)}")
    if others is not None and (others.ndim != 2 or others.shape[1] != batch.shape[1]):
        raise ValueError(f"others: expected (M, {batch.shape[1]}) embeddings, got {tuple(others.shape)}")
    if not ridge > 0:
        raise ValueError(f"ridge must be > 0, got {ridge}")
    rows = batch if others is None else torch.cat([batch, others.detach().to(batch)])
    unit = F.normalize(rows, dim=1)
    gram = unit @ unit.T + ridge * torch.eye(rows.shape[0], dtype=rows.dtype, device=rows.device)
    return -torch.logdet(gram) / rows.shape[0]


class UnlinkabilityLoss(nn.Module):
    """Module form of :func:`unlinkability_loss` (stores ``ridge``)."""

    def __init__(self, ridge: float = RIDGE) -> None:
        super().__init__()
        self.ridge = ridge

    def forward(self, batch: torch.Tensor, others: torch.Tensor | None = None) -> torch.Tensor:
        return unlinkability_loss(batch, others, self.ridge)
