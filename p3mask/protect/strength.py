"""Learning at the floor: each training photo sees the mask at the strength it will be saved with.

A key is applied to every photo at the largest strength ``s <= 1`` that keeps the photo's SSIMULACRA2
at the preset's floor (:mod:`p3mask.protect.floor`). :class:`FloorStrengths` makes learning see the
training photos the same way. For each photo it tracks the strength that puts the photo's quality
``Q(x + s * delta)`` at the target as the mask changes (one Newton step a visit, on a finite-difference
slope of ``Q`` in ``s``), and builds the protected photo with

    s_eff = s - (Q - stopgrad(Q)) / (dQ/ds)

whose value is ``s`` and whose gradient is the implicit derivative of the constraint
``Q(x + s * delta) = target``: ``ds/d(delta) = -(dQ/d(delta)) / (dQ/ds)``. The recognisers' loss is
then that of the photo as it will be saved, and its gradient carries what the budget costs: a change
of the mask that lowers a photo's quality lowers that photo's strength. No penalty weight is tuned.

Example:
    >>> import torch
    >>> strengths = FloorStrengths(1, target=90.0)
    >>> quality = lambda x: 100.0 - 1000.0 * x.square().flatten(1).mean(1)  # a toy measure: 100 - 1000 MSE
    >>> change = torch.full((1, 1, 2, 2), 0.2, requires_grad=True)  # MSE 0.04 at strength 1: quality 60
    >>> for _ in range(4):
    ...     protected, q = strengths.scaled(0, torch.zeros(1, 1, 2, 2), change, quality)
    >>> round(q, 1), round(float(strengths.values[0]), 2)  # 100 - 1000 * (0.2 s)^2 = 90 at s = 0.5
    (90.0, 0.5)
"""

from __future__ import annotations

from collections.abc import Callable

import torch

SLOPE_RATIO = 0.98  # the slope dQ/ds is measured between s and this fraction of s
WEAKEST = 0.02  # lowest strength a training photo is held at


class FloorStrengths:
    """The strength of the mask on each training photo, held where the photo's quality meets ``target``.

    Args:
        count: number of training photos.
        target: quality (SSIMULACRA2, face in context) each photo is held at while learning.

    Attributes:
        values: ``(count,)`` current strengths in ``[WEAKEST, 1]``; 1 until the mask is strong enough
            to need less.
    """

    def __init__(self, count: int, target: float) -> None:
        self.target = float(target)
        self.values = torch.ones(count)

    def scaled(
        self,
        index: int,
        region: torch.Tensor,
        change: torch.Tensor,
        quality: Callable[[torch.Tensor], torch.Tensor],
    ) -> tuple[torch.Tensor, float]:
        """Photo ``index`` protected at its held strength, differentiable through the strength.

        Args:
            index: which training photo.
            region: ``(1, C, H, W)`` the clean photo region in [0, 1].
            change: ``(1, C, H, W)`` the full-strength change of the mask on it (carries the gradient).
            quality: ``(B, C, H, W)`` protected versions of the region -> ``(B,)`` qualities, differentiable.

        Returns:
            ``(protected (1, C, H, W) in [0, 1], quality at that strength)``.
        """
        with torch.no_grad():
            previous = float(self.values[index])
            nearer = previous * SLOPE_RATIO
            q_prev, q_near = quality((region + torch.tensor([previous, nearer]).view(2, 1, 1, 1).to(change)
                                      * change).clamp(0, 1)).tolist()
            slope = min((q_prev - q_near) / (previous - nearer), -1e-3)  # quality falls as the strength grows
            strength = min(max(previous + (self.target - q_prev) / slope, WEAKEST), 1.0)
        self.values[index] = strength
        q = quality((region + strength * change).clamp(0, 1))
        if strength < 1.0:  # the floor binds: the strength moves with the mask
            strength = strength - (q - q.detach()) / slope
        return (region + strength * change).clamp(0, 1), float(q.detach())
