"""The One-Euro filter on seeded signals: noise removed, motion followed, the function and the class agree."""

import math

import pytest
import torch

from p3mask.video.smoothing import OneEuroConfig, OneEuroFilter, one_euro_filter

FPS = 30.0


def _times(n: int) -> torch.Tensor:
    return torch.arange(n, dtype=torch.float64) / FPS


def test_still_signal_loses_most_of_its_noise():
    g = torch.Generator().manual_seed(0)
    noisy = 100.0 + 0.8 * torch.randn(300, 5, 2, generator=g)
    out = one_euro_filter(noisy, _times(300))
    assert out.shape == noisy.shape
    # after the first second the filtered jitter is a fraction of the raw jitter
    assert float(out[30:].std()) < 0.45 * float(noisy[30:].std())
    assert abs(float(out[30:].mean()) - 100.0) < 0.2


def test_still_signal_without_speed_term_is_a_first_order_low_pass():
    # beta = 0: a fixed low-pass whose white-noise std ratio is sqrt(alpha / (2 - alpha))
    g = torch.Generator().manual_seed(3)
    noisy = torch.randn(6000, 1, generator=g)
    out = one_euro_filter(noisy, _times(6000), OneEuroConfig(min_cutoff=1.0, beta=0.0))
    alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi) * FPS)
    assert float(out[100:].std()) == pytest.approx(math.sqrt(alpha / (2 - alpha)), rel=0.06)


def test_frame_to_frame_jitter_falls_on_a_noisy_ramp():
    g = torch.Generator().manual_seed(1)
    t = _times(240)
    truth = 20.0 * t.float()[:, None]  # 20 px/s pan
    noisy = truth + 0.8 * torch.randn(240, 1, generator=g)
    out = one_euro_filter(noisy, t)
    step_raw = (noisy[1:] - noisy[:-1] - 20.0 / FPS).abs().mean()
    step_out = (out[1:] - out[:-1] - 20.0 / FPS).abs().mean()
    assert float(step_out) < 0.4 * float(step_raw)
    lag = float((truth[60:] - out[60:]).mean())
    assert 0 < lag < 3.0  # follows the pan, a little behind


def test_speed_raises_the_cutoff():
    step = torch.cat([torch.zeros(30), torch.full((30,), 50.0)])[:, None]
    slow = one_euro_filter(step, _times(60), OneEuroConfig(beta=0.0))
    fast = one_euro_filter(step, _times(60), OneEuroConfig(beta=0.05))
    # five frames after the jump the speed-adaptive filter is much closer to the new value
    assert float(50 - fast[35]) < 0.5 * float(50 - slow[35])


def test_matches_the_closed_form_first_step():
    cfg = OneEuroConfig(min_cutoff=2.0, beta=0.0, d_cutoff=1.0)
    out = one_euro_filter(torch.tensor([[0.0], [1.0]]), torch.tensor([0.0, 0.1]), cfg)
    alpha = 1.0 / (1.0 + 1.0 / (2 * math.pi * 2.0) / 0.1)
    assert float(out[0]) == 0.0 and float(out[1]) == pytest.approx(alpha, rel=1e-6)


def test_class_agrees_with_function_and_reset_forgets():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(20, 5, 2, generator=g)
    f = OneEuroFilter()
    step = torch.stack([f(v, i / FPS) for i, v in enumerate(x)])
    torch.testing.assert_close(step, one_euro_filter(x, _times(20)))
    f.reset()
    torch.testing.assert_close(f(x[3], 10.0), x[3])


def test_bad_arguments():
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0.0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        one_euro_filter(torch.zeros(2, 1), torch.tensor([0.0, 0.0]))
    with pytest.raises(ValueError, match="times"):
        one_euro_filter(torch.zeros(3, 1), torch.zeros(2))
    f = OneEuroFilter()
    f(torch.zeros(5, 2), 0.0)
    with pytest.raises(ValueError, match="shape"):
        f(torch.zeros(4, 2), 0.1)
