"""Timings: phases add up their wall time and calls, nested phases count in both, a disabled one does nothing."""

import time

import pytest

from p3mask.timing import NO_TIMINGS, Timings


def test_phases_add_up_their_time_and_calls():
    t = Timings()
    for _ in range(2):
        with t.phase("outer"):
            time.sleep(0.01)
            with t.phase("inner"):
                time.sleep(0.02)
    assert t.calls == {"outer": 2, "inner": 2}
    assert t.seconds["inner"] >= 0.04 and t.seconds["outer"] >= t.seconds["inner"] + 0.02
    assert t.seconds["outer"] < 1.0


def test_a_phase_that_raises_is_still_counted():
    t = Timings()
    with pytest.raises(KeyError), t.phase("failing"):
        raise KeyError("x")
    assert t.calls == {"failing": 1}


def test_timed_decorator_counts_every_call_and_returns_the_result():
    t = Timings()

    @t.timed("square")
    def square(x):
        return x * x

    assert [square(i) for i in range(3)] == [0, 1, 4] and t.calls == {"square": 3}


def test_disabled_timings_record_nothing():
    def f():
        return 1

    assert NO_TIMINGS.timed("f")(f) is f
    with NO_TIMINGS.phase("nothing"):
        pass
    assert NO_TIMINGS.seconds == {} and NO_TIMINGS.calls == {}
