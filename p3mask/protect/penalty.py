"""Adaptive weight of Chameleon's perceptibility penalty, as the paper learns its mask.

The loss carries ``weight * max(0, P - budget)`` for a perceptual loss ``P`` (Chameleon's DSSIM).
After every optimisation step the weight is doubled when the constraint is violated (``P`` above
``budget * (1 + band)``), halved when it is slack (below ``budget * (1 - band)``), and kept inside the
band; it never leaves ``[min_weight, max_weight]``. Chameleon (Chow et al., ECCV 2024) uses a 10 % band
and bounds of about 1/128 and 128, the defaults here. The per-photo baselines (Fawkes, LowKey:
:mod:`p3mask.methods.per_photo`) optimise under it; p3mask's own mask learning instead holds every
training photo at the floor (:mod:`p3mask.protect.strength`).

Example:
    >>> p = AdaptivePenalty(budget=0.02)
    >>> p.update(0.05)  # violated: doubled
    2.0
    >>> p.update(0.001)  # slack: halved
    1.0
"""

from __future__ import annotations

import math


def update_penalty_weight(
    weight: float,
    dssim: float,
    budget: float,
    min_weight: float = 1.0 / 128.0,
    max_weight: float = 128.0,
    band: float = 0.1,
) -> float:
    """The next penalty weight.

    Args:
        weight: current weight, in ``[min_weight, max_weight]``.
        dssim: DSSIM measured at the current step (use the worst photo of the batch so that every
            photo keeps its floor).
        budget: DSSIM the constraint allows, > 0.
        min_weight: lower bound (default 1/128).
        max_weight: upper bound (default 128).
        band: relative half-width of the band around ``budget`` where the weight is kept (default 0.1).

    Returns:
        ``2 * weight`` if violated, ``weight / 2`` if slack, ``weight`` inside the band; clipped to the bounds.
    """
    if not 0.0 < min_weight <= max_weight:
        raise ValueError(f"expected 0 < min_weight <= max_weight, got {min_weight}, {max_weight}")
    if budget <= 0.0 or not 0.0 <= band < 1.0:
        raise ValueError(f"expected budget > 0 and 0 <= band < 1, got budget={budget}, band={band}")
    if not math.isfinite(dssim):
        raise ValueError(f"dssim must be finite, got {dssim}")
    if dssim > budget * (1.0 + band):
        weight = weight * 2.0
    elif dssim < budget * (1.0 - band):
        weight = weight / 2.0
    return min(max(weight, min_weight), max_weight)


class AdaptivePenalty:
    """Holds the current penalty weight and updates it with :func:`update_penalty_weight`.

    Args:
        budget: DSSIM budget, > 0.
        init: first weight (default 1).
        min_weight: lower bound (default 1/128).
        max_weight: upper bound (default 128).
        band: relative band kept around the budget (default 0.1).
    """

    def __init__(
        self,
        budget: float,
        init: float = 1.0,
        min_weight: float = 1.0 / 128.0,
        max_weight: float = 128.0,
        band: float = 0.1,
    ) -> None:
        if not min_weight <= init <= max_weight:
            raise ValueError(f"init must lie in [{min_weight}, {max_weight}], got {init}")
        self.budget = budget
        self.min_weight = min_weight
        self.max_weight = max_weight
        self.band = band
        self.weight = init
        update_penalty_weight(init, 0.0, budget, min_weight, max_weight, band)  # validates the arguments

    def update(self, dssim: float) -> float:
        """Record the DSSIM of the last step and return the new weight."""
        self.weight = update_penalty_weight(
            self.weight, dssim, self.budget, self.min_weight, self.max_weight, self.band
        )
        return self.weight

    def __repr__(self) -> str:
        return f"AdaptivePenalty(budget={self.budget:.4g}, weight={self.weight:.4g})"
