"""Calibration file: a run over some models adds theirs and leaves the others' values and provenance alone."""

from __future__ import annotations

import json

from p3mask.models import thresholds


def test_partial_calibration_keeps_other_models(tmp_path, monkeypatch):
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"threshold_far1e-3": {"old": 0.5}, "command": "p3mask bench calibrate",
                                "date": "2026-01-01", "impostor_pairs": {"old": 10}}))
    monkeypatch.setattr(thresholds, "CALIBRATION_FILE", path)
    thresholds._thresholds.cache_clear()
    try:
        thresholds.write_thresholds({"new": {"threshold_far1e-3": 0.25, "impostor_pairs": 6}}, "calibrate --models new")
        saved = json.loads(path.read_text())
        assert saved["threshold_far1e-3"] == {"old": 0.5, "new": 0.25}
        assert saved["impostor_pairs"] == {"old": 10, "new": 6}
        assert saved["commands"] == {"old": "p3mask bench calibrate", "new": "calibrate --models new"}
        assert saved["dates"]["old"] == "2026-01-01"
        assert thresholds.match_threshold("new") == 0.25 and thresholds.match_threshold("old") == 0.5
    finally:
        thresholds._thresholds.cache_clear()
