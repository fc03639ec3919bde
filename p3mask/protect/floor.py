"""The strongest version of a change that keeps a quality floor: one search for every caller.

Applying a key to a new photo, holding the floor on the training photos and calibrating the baselines
all ask the same question: given ``quality(s)``, the perceptual quality (SSIMULACRA2, 100 = identical)
of a photo with the change scaled by ``s``, what is the largest ``s`` in ``[0, 1]`` whose quality keeps
the floor? Quality falls as ``s`` grows, roughly as ``perfect - quality(s) = c + a * s**p``.

Example:
    >>> measure = lambda s: (s, 100.0 - 60.0 * s * s)  # (candidate, quality)
    >>> strength, _, quality = strongest_within_floor(measure, 70.0, measure(1.0)[1])
    >>> round(strength, 2), 70.0 <= quality <= 70.5  # 1/sqrt(2) = 0.707, within the tolerance
    (0.7, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

PERFECT = 100.0  # SSIMULACRA2 of an image against itself
BISECT_STEPS = 10  # strength resolution 2^-10
SEARCH_STEPS = 16  # most quality evaluations of one search (it usually stops after 2-3)
TOLERANCE = 0.5  # a strength whose quality is within this many points above the floor is taken


def strongest_within_floor(
    measure: Callable[[float], tuple[T, float]],
    floor: float,
    quality_full: float | None = None,
    smallest: float = 0.0,
    quality_zero: float = PERFECT,
    tolerance: float = TOLERANCE,
) -> tuple[float, T, float]:
    """The largest strength in ``[0, 1]`` whose quality keeps ``floor``.

    Strength 1 is measured first (or ``quality_full`` is taken as its quality); when it keeps the floor
    it is the answer (the fast path: one evaluation). Otherwise a safeguarded secant search on the model
    ``perfect - quality(s) = c + a * s**p``, ``c = perfect - quality_zero`` (0 for a lone face; a masked
    neighbour's own loss when the change reaches one): the exponent ``p`` is fitted to the last two
    measured strengths (1, a linear model, until there are two: near full strength the measured
    quality falls about linearly; kept in [1, 4]) and each guess is the strength where the
    model meets the middle of the accepted band ``[floor, floor + tolerance]``. A guess outside the
    bracket ``(lo, hi)`` (``lo`` keeps the floor, ``hi`` breaks it), or one after two guesses in a row
    broke the floor, is replaced by the midpoint. It stops once a strength keeps the floor within
    ``tolerance``, the bracket is narrower than ``2**-BISECT_STEPS``, or every strength left is below
    ``smallest`` (too weak to change the photo): usually one or two evaluations after strength 1.

    Args:
        measure: ``strength -> (candidate, quality)``; the candidate is returned with the answer.
        floor: the quality the result must keep.
        quality_full: quality at strength 1 if already measured (its candidate is then measured again
            only when strength 1 is the answer).
        smallest: strengths below this change nothing (0: no such bound).
        quality_zero: quality at strength 0 (``PERFECT`` unless a neighbour has already lost some).
        tolerance: width of the accepted band above the floor, in quality points.

    Returns:
        ``(strength, candidate, quality)``; strength 0 (nothing changed) when nothing else holds.
    """
    if quality_full is None or quality_full >= floor:
        candidate, quality = measure(1.0)
        if quality >= floor:
            return 1.0, candidate, quality
        quality_full = quality
    lo, hi = 0.0, 1.0
    best = None
    offset = PERFECT - quality_zero
    # the model's a * s**p in the middle of the band, or of what is left of it when a neighbour's loss
    # already brings strength 0 near the floor
    target = PERFECT - floor - min(tolerance, quality_zero - floor) / 2 - offset
    last, before = (1.0, PERFECT - quality_full - offset), None  # (strength, a * s**p) of the last two
    broke = 0  # guesses in a row that broke the floor
    for _ in range(SEARCH_STEPS if target > 0 else 0):
        power = 1.0
        if before is not None and min(last[1], before[1]) > 0 and last[0] != before[0] and last[1] != before[1]:
            power = min(max(math.log(last[1] / before[1]) / math.log(last[0] / before[0]), 1.0), 4.0)
        guess = last[0] * (target / max(last[1], 1e-12)) ** (1.0 / power)
        s = guess if lo < guess < hi and broke < 2 else (lo + hi) / 2
        candidate, quality = measure(s)
        if quality >= floor:
            lo, best, broke = s, (s, candidate, quality), 0
            if quality - floor <= tolerance:
                break
        else:
            hi, broke = s, broke + 1
        before, last = last, (s, PERFECT - quality - offset)
        if hi - lo < 2.0 ** -BISECT_STEPS or hi <= smallest:
            break
    if best is None:
        candidate, quality = measure(0.0)
        best = (0.0, candidate, quality)
    return best
