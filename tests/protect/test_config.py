"""Presets and configuration checks."""

import dataclasses

import pytest

from p3mask.protect.config import PRESETS, ChameleonConfig, get_config


def test_presets_order_and_mid_default():
    assert get_config() == PRESETS["mid"]
    assert PRESETS["mid"].ssim_floor >= 0.95
    low, mid, high = PRESETS["low"], PRESETS["mid"], PRESETS["high"]
    assert low.epsilon < mid.epsilon < high.epsilon
    assert low.ssim_floor > mid.ssim_floor > high.ssim_floor
    assert mid.dssim_budget == pytest.approx((1 - mid.ssim_floor - mid.ssim_margin) / 2)


def test_frozen_and_overrides():
    cfg = get_config("high", epochs=3, team=["sface", "facenet"], batch_size=None)
    assert cfg.epochs == 3 and cfg.team == ("sface", "facenet") and cfg.batch_size == PRESETS["high"].batch_size
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [dict(epsilon=0), dict(ssim_floor=1.0), dict(epochs=0), dict(team=("dlib", "sface")), dict(pool=("dlib", "sface")),
     dict(team_size=1), dict(team=()), dict(momentum=1.0)],
)
def test_invalid_values_rejected(kwargs):
    with pytest.raises(ValueError):
        ChameleonConfig(**kwargs)


def test_unknown_preset_or_field():
    with pytest.raises(ValueError, match="low, mid, high"):
        get_config("extreme")
    with pytest.raises(ValueError, match="unknown config field"):
        get_config("mid", learning_rate=1.0)
