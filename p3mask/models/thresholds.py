"""Per-model match thresholds (cosine similarity at FAR = 1e-3 on LFW View 2).

The values live in ``thresholds.json`` beside this file and are written by a real benchmark run,
``p3mask bench calibrate`` (impostor pairs among one photo each of 400 LFW identities; see
:mod:`p3mask.bench.calibrate`); the file records the command and date that made them.
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path

from p3mask.atomic import write_json

CALIBRATION_FILE = Path(__file__).with_name("thresholds.json")


@lru_cache(maxsize=1)
def _thresholds() -> dict[str, float]:
    if not CALIBRATION_FILE.exists():
        raise FileNotFoundError(
            f"{CALIBRATION_FILE} is missing; run `p3mask bench calibrate` to create it"
        )
    return json.loads(CALIBRATION_FILE.read_text())["threshold_far1e-3"]


def match_threshold(name: str) -> float:
    """Cosine similarity above which model ``name`` declares two faces the same person (FAR = 1e-3)."""
    thresholds = _thresholds()
    if name not in thresholds:
        raise ValueError(f"no calibrated threshold for model {name!r}; calibrated: {', '.join(thresholds)}")
    return float(thresholds[name])


def write_thresholds(results: dict[str, dict[str, float]], command: str) -> Path:
    """Store the thresholds of a calibration run (model -> {"threshold_far1e-3": ...}) in the calibration file.

    Models the run did not calibrate keep their threshold, impostor-pair count and command; ``command``
    and ``date`` record the latest run, ``commands`` and ``dates`` which run made each model's threshold.
    """
    previous = json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else {}
    old_command = previous.get("command", "")
    merged = dict(previous.get("threshold_far1e-3", {}))
    merged.update({name: r["threshold_far1e-3"] for name, r in results.items()})
    pairs = dict(previous.get("impostor_pairs", {}))
    pairs.update({name: r["impostor_pairs"] for name, r in results.items()})
    commands = dict(previous.get("commands", {name: old_command for name in merged if name not in results}))
    commands.update({name: command for name in results})
    today = time.strftime("%Y-%m-%d")
    dates = dict(previous.get("dates", {name: previous.get("date", "") for name in merged if name not in results}))
    dates.update({name: today for name in results})
    payload = {
        "threshold_far1e-3": merged,
        "command": command,
        "date": today,
        "impostor_pairs": pairs,
        "commands": commands,
        "dates": dates,
    }
    write_json(payload, CALIBRATION_FILE)
    _thresholds.cache_clear()
    return CALIBRATION_FILE
