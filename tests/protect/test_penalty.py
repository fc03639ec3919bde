"""Adaptive DSSIM penalty weight: doubling, halving, band and bounds."""

import pytest

from p3mask.protect.penalty import AdaptivePenalty, update_penalty_weight


def test_doubles_when_violated_and_halves_when_slack():
    assert update_penalty_weight(1.0, dssim=0.05, budget=0.02) == 2.0
    assert update_penalty_weight(1.0, dssim=0.001, budget=0.02) == 0.5


def test_kept_inside_band():
    assert update_penalty_weight(4.0, dssim=0.0205, budget=0.02, band=0.1) == 4.0
    assert update_penalty_weight(4.0, dssim=0.0185, budget=0.02, band=0.1) == 4.0


def test_bounded_after_many_steps():
    p = AdaptivePenalty(budget=0.02, init=1.0, min_weight=1 / 128, max_weight=128)
    for _ in range(50):
        p.update(1.0)
    assert p.weight == 128
    for _ in range(50):
        p.update(0.0)
    assert p.weight == pytest.approx(1 / 128)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError):
        update_penalty_weight(1.0, dssim=float("nan"), budget=0.02)
    with pytest.raises(ValueError):
        update_penalty_weight(1.0, dssim=0.1, budget=0.0)
    with pytest.raises(ValueError):
        AdaptivePenalty(budget=0.02, init=500.0)
