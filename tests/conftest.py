"""The suite's one policy for what a test needs from the machine.

``@pytest.mark.data`` (optionally naming datasets: ``@pytest.mark.data("orl")``; default LFW): the test
reads benchmark photos from ``p3mask.paths.data_root()``. ``@pytest.mark.weights``: it runs the
converted model weights or YuNet from the cache (``p3mask models pull``). A test whose data or weights
are missing is skipped with a reason naming what is missing and where it was looked for, never failed.
"""

from __future__ import annotations

import pytest

from p3mask.face.detect import YUNET_FILE
from p3mask.models import available_models
from p3mask.models.registry import is_ready
from p3mask.paths import data_root, weights_dir


def missing_dataset(*names: str) -> str | None:
    """Why a test needing the datasets ``names`` (default LFW) cannot run, or ``None`` when it can."""
    for name in names or ("lfw",):
        folder = data_root() / name
        if not folder.is_dir():
            return f"dataset {name} missing: {folder} (set P3MASK_DATA to the folder holding it)"
    return None


def missing_weights() -> str | None:
    """Why a test needing the model zoo and YuNet cannot run, or ``None`` when it can."""
    absent = [name for name in available_models() if not is_ready(name)]
    if not (weights_dir() / YUNET_FILE).exists():
        absent.append("yunet")
    return f"weights missing in {weights_dir()}: {', '.join(absent)} (run `p3mask models pull`)" if absent else None


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("data"):
        why = missing_dataset(*mark.args)
        if why:
            pytest.skip(why)
    if item.get_closest_marker("weights") is not None:
        why = missing_weights()
        if why:
            pytest.skip(why)
