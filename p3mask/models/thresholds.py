"""Per-model match thresholds (cosine similarity at a false accept rate, from LFW impostor pairs).

Two thresholds per model:

* the **match** threshold at FAR = 1e-3: a face at or above it is the user's (a sure match; keys store
  this value when they are learned);
* the looser **doubt** threshold at FAR = 1e-2: a face at or above it is *plausibly* the user, which is
  what fail-safe protection (:mod:`p3mask.protect.face_choice`) uses when no face is a sure match.

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
MATCH_FAR = 1e-3  # false accept rate of the match threshold (a sure match)
DOUBT_FAR = 1e-2  # false accept rate of the doubt threshold (plausibly the user)


def far_key(far: float) -> str:
    """Name of the thresholds at ``far`` in the calibration file, e.g. ``threshold_far1e-3``."""
    mantissa, exponent = f"{far:.0e}".split("e")
    return f"threshold_far{mantissa}e{int(exponent)}"


@lru_cache(maxsize=1)
def _calibration() -> dict:
    if not CALIBRATION_FILE.exists():
        raise FileNotFoundError(
            f"{CALIBRATION_FILE} is missing; run `p3mask bench calibrate` to create it"
        )
    return json.loads(CALIBRATION_FILE.read_text())


def _threshold(name: str, far: float) -> float:
    thresholds = _calibration().get(far_key(far), {})
    if name not in thresholds:
        raise ValueError(
            f"no calibrated threshold at FAR={far:g} for model {name!r}; calibrated: {', '.join(thresholds) or 'none'}"
        )
    return float(thresholds[name])


def match_threshold(name: str) -> float:
    """Cosine similarity above which model ``name`` declares two faces the same person (FAR = 1e-3)."""
    return _threshold(name, MATCH_FAR)


def doubt_threshold(name: str) -> float:
    """Looser cosine above which a face is plausibly the same person for model ``name`` (FAR = 1e-2)."""
    return _threshold(name, DOUBT_FAR)


def write_thresholds(results: dict[str, dict[str, float]], command: str) -> Path:
    """Store the thresholds of a calibration run in the calibration file.

    Args:
        results: model -> {``far_key(far)``: threshold, ..., "impostor_pairs": n}; every threshold
            key a result holds is written, those it lacks keep their stored values.
        command: the command line that made them (recorded in the file).
    """
    stored = _calibration() if CALIBRATION_FILE.exists() else {}
    payload = {k: dict(v) for k, v in stored.items() if k.startswith("threshold_far")}
    for name, r in results.items():
        for k, value in r.items():
            if k.startswith("threshold_far"):
                payload.setdefault(k, {})[name] = value
    payload.update({
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "impostor_pairs": {**stored.get("impostor_pairs", {}), **{n: r["impostor_pairs"] for n, r in results.items()}},
    })
    write_json(payload, CALIBRATION_FILE, overwrite=True)  # the calibration file is what this updates
    _calibration.cache_clear()
    return CALIBRATION_FILE
