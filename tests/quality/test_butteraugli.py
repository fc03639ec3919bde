import importlib
import logging

import pytest
import torch

from p3mask.evaluate.transforms import jpeg
from p3mask.face.image_io import load_image
from p3mask.paths import data_root
from p3mask.quality.butteraugli import butteraugli, butteraugli_available, parse_output

butteraugli_module = importlib.import_module("p3mask.quality.butteraugli")
needs_tool = pytest.mark.skipif(
    not butteraugli_available(), reason="butteraugli_main not installed (apt-get install libjxl-devtools)"
)


def _photo():
    path = data_root() / "lfw" / "AJ_Cook" / "AJ_Cook_0001.jpg"
    if not path.exists():
        pytest.skip(f"LFW photo {path} not found")
    return load_image(path)


def test_parse_output():
    score = parse_output("3.2727582455\n3-norm: 1.368815\n")
    assert (score.max_distance, score.pnorm3) == (3.2727582455, 1.368815)
    with pytest.raises(ValueError, match="unexpected"):
        parse_output("error: cannot read\n")


def test_missing_tool_returns_none_and_warns_once(monkeypatch, caplog):
    monkeypatch.setattr(butteraugli_module, "TOOL", "p3mask-test-no-such-tool")
    monkeypatch.setattr(butteraugli_module, "_warned", False)
    x = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    with caplog.at_level(logging.WARNING, logger=butteraugli_module.__name__):
        assert butteraugli(x, x) is None
        assert butteraugli(x, x) is None
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "p3mask-test-no-such-tool is not installed" in messages[0]
    assert "libjxl-devtools" in messages[0]


def test_shape_mismatch():
    with pytest.raises(ValueError, match="same shape"):
        butteraugli(torch.zeros(3, 16, 16), torch.zeros(3, 16, 18))


@needs_tool
@pytest.mark.data
def test_identical_is_zero():
    photo = _photo()
    score = butteraugli(photo, photo[None])
    assert score.max_distance == pytest.approx(0.0, abs=1e-6) and score.pnorm3 == pytest.approx(0.0, abs=1e-6)


@needs_tool
@pytest.mark.data
def test_jpeg50_worse_than_jpeg90():
    photo = _photo()
    q90, q50 = butteraugli(photo, jpeg(photo, 90)), butteraugli(photo, jpeg(photo, 50))
    assert q50.max_distance > q90.max_distance > 0.0
    assert q50.pnorm3 > q90.pnorm3 > 0.0
