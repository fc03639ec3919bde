"""The one search for the strongest change that keeps a quality floor."""

import pytest

from p3mask.protect.floor import TOLERANCE, strongest_within_floor


def _curve(scale: float, power: float, calls: list):
    def measure(strength):  # 100 - quality = scale * strength^power
        calls.append(strength)
        return strength, 100.0 - scale * strength ** power
    return measure


def test_full_strength_that_keeps_the_floor_is_one_evaluation():
    calls = []
    strength, candidate, quality = strongest_within_floor(_curve(20.0, 2.0, calls), 70.0)
    assert (strength, candidate, quality) == (1.0, 1.0, 80.0) and calls == [1.0]


@pytest.mark.parametrize("scale,power", [(60.0, 2.0), (100.0, 1.3), (80.0, 3.0), (60.0, 1.0)])
def test_search_fits_how_fast_quality_falls(scale, power):
    calls = []
    measure = _curve(scale, power, calls)
    strength, candidate, quality = strongest_within_floor(measure, 70.0, measure(1.0)[1])
    exact = (30.0 / scale) ** (1 / power)
    assert 70.0 <= quality <= 70.0 + TOLERANCE and candidate == strength
    assert 0.98 * exact <= strength <= exact
    assert len(calls) <= 4  # the full change, then at most three guesses


def test_a_neighbours_loss_is_an_offset():
    calls = []

    def measure(strength):  # a neighbour already lost 10 points: quality(0) = 90
        calls.append(strength)
        return strength, 90.0 - 60.0 * strength ** 2

    strength, _, quality = strongest_within_floor(measure, 70.0, quality_zero=90.0)
    assert 70.0 <= quality <= 70.0 + TOLERANCE and abs(strength - (20.0 / 60.0) ** 0.5) < 0.01
    assert len(calls) <= 4


def test_nothing_holds_gives_strength_zero():
    strength, candidate, quality = strongest_within_floor(lambda s: (s, 50.0 if s > 0 else 65.0), 70.0)
    assert strength == 0.0 and candidate == 0.0 and quality == 65.0


def test_strengths_too_weak_to_change_the_photo_end_the_search():
    calls = []
    measure = _curve(1e6, 2.0, calls)  # only tiny strengths keep the floor
    strength, _, _ = strongest_within_floor(measure, 70.0, smallest=0.01)
    assert strength < 0.01 and len(calls) <= 12
