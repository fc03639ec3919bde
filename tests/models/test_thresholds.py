"""Calibrated thresholds: names, the looser doubt threshold, and writing a calibration run."""

import json

import pytest

from p3mask.models import MODELS
from p3mask.models import thresholds as th


def test_far_keys():
    assert th.far_key(1e-3) == "threshold_far1e-3" and th.far_key(1e-2) == "threshold_far1e-2"
    assert th.far_key(5e-3) == "threshold_far5e-3"


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_has_a_looser_doubt_threshold(name):
    assert -1.0 < th.doubt_threshold(name) < th.match_threshold(name) < 1.0


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="no calibrated threshold at FAR=0.01 for model 'nope'"):
        th.doubt_threshold("nope")


def test_write_keeps_the_thresholds_a_run_did_not_make(tmp_path, monkeypatch):
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"threshold_far1e-3": {"a": 0.5, "b": 0.4}, "impostor_pairs": {"a": 10, "b": 10}}))
    monkeypatch.setattr(th, "CALIBRATION_FILE", path)
    th._calibration.cache_clear()
    try:
        th.write_thresholds({"b": {"threshold_far1e-3": 0.45, "threshold_far1e-2": 0.3, "impostor_pairs": 6}}, "cmd")
        stored = json.loads(path.read_text())
        assert stored["threshold_far1e-3"] == {"a": 0.5, "b": 0.45} and stored["threshold_far1e-2"] == {"b": 0.3}
        assert stored["impostor_pairs"] == {"a": 10, "b": 6} and stored["command"] == "cmd"
        assert th.doubt_threshold("b") == 0.3 and th.match_threshold("a") == 0.5
    finally:
        th._calibration.cache_clear()
