"""Presets and configuration checks."""

import dataclasses

import pytest

from p3mask.protect.config import PRESETS, ChameleonConfig, get_config


def test_presets_order_and_mid_default():
    assert get_config() == PRESETS["mid"]
    low, mid, high = PRESETS["low"], PRESETS["mid"], PRESETS["high"]
    # SSIMULACRA2 bands: 80 not noticeable side by side, 70 barely noticeable, 60 for high
    assert (low.quality_floor, mid.quality_floor, high.quality_floor) == (80.0, 70.0, 60.0)
    assert low.epsilon < mid.epsilon < high.epsilon
    assert mid.rgb_bound == pytest.approx(mid.epsilon * (1 + 1.772 * mid.chroma_ratio))


def test_frozen_and_overrides():
    cfg = get_config("high", epochs=3, team=["sface", "facenet"], batch_size=None)
    assert cfg.epochs == 3 and cfg.team == ("sface", "facenet") and cfg.batch_size == PRESETS["high"].batch_size
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs",
    [dict(epsilon=0), dict(quality_floor=100.0), dict(quality_floor=0.0), dict(chroma_ratio=1.5), dict(epochs=0),
     dict(team=("dlib", "sface")), dict(pool=("dlib", "sface")),
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
