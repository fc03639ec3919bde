"""Layer-by-order ONNX conversion on a small hand-built graph (Conv, PRelu, Flatten, Gemm, BatchNormalization)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from p3mask.weights.onnx_float import convert_onnx_in_order, onnx_layers


class Tiny(nn.Module):
    def __init__(self, stride: int = 2) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride, padding=1)
        self.act = nn.PReLU(4)
        self.fc = nn.Linear(4 * 2 * 2, 5)
        self.bn = nn.BatchNorm1d(5, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.fc(self.act(self.conv(x)).flatten(1)))


def _graph(tmp_path, extra_op: str | None = None):
    rng = np.random.default_rng(0)
    w = {"cw": rng.normal(size=(4, 3, 3, 3)), "cb": rng.normal(size=4), "slope": rng.uniform(0, 0.5, size=(4, 1, 1)),
         "fw": rng.normal(size=(5, 16)), "fb": rng.normal(size=5), "g": rng.uniform(0.5, 2, 5), "b": rng.normal(size=5),
         "m": rng.normal(size=5), "v": rng.uniform(0.5, 2, 5)}
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in w.items()]
    nodes = [
        helper.make_node("Conv", ["x", "cw", "cb"], ["c"], name="c0", kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1], group=1, dilations=[1, 1]),
        helper.make_node("PRelu", ["c", "slope"], ["p"], name="p0"),
        helper.make_node("Flatten", ["p"], ["f"], name="f0", axis=1),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["g1"], name="g0", transB=1),
        helper.make_node("BatchNormalization", ["g1", "g", "b", "m", "v"], ["y"], name="bn0", epsilon=1e-5),
    ]
    if extra_op:
        nodes.append(helper.make_node(extra_op, ["y"], ["z"], name="odd"))
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 4, 4])],
                              [helper.make_tensor_value_info("z" if extra_op else "y", TensorProto.FLOAT, None)], inits)
    path = tmp_path / f"tiny_{extra_op or 'plain'}.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path, w


def _reference(w: dict, x: np.ndarray) -> np.ndarray:
    """The graph evaluated with plain numpy."""
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    conv = np.zeros((x.shape[0], 4, 2, 2))
    for i in range(2):
        for j in range(2):
            patch = pad[:, :, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
            conv[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w["cw"]) + w["cb"]
    act = np.where(conv > 0, conv, conv * w["slope"][None])
    fc = act.reshape(len(x), -1) @ w["fw"].T + w["fb"]
    return (fc - w["m"]) / np.sqrt(w["v"] + 1e-5) * w["g"] + w["b"]


def test_converted_port_computes_the_graph(tmp_path):
    path, w = _graph(tmp_path)
    model = Tiny()
    model.load_state_dict(convert_onnx_in_order(path, Tiny()), strict=True)
    x = np.random.default_rng(1).normal(size=(3, 3, 4, 4))
    with torch.no_grad():
        ours = model.eval()(torch.from_numpy(x).float()).numpy()
    np.testing.assert_allclose(ours, _reference(w, x), rtol=1e-4, atol=1e-4)
    assert [layer.op for layer in onnx_layers(path)] == ["Conv", "PRelu", "Gemm", "BatchNormalization"]


def test_mismatched_attributes_and_unknown_ops_are_refused(tmp_path):
    path, _ = _graph(tmp_path)
    with pytest.raises(ValueError, match="stride"):
        convert_onnx_in_order(path, Tiny(stride=1))
    odd, _ = _graph(tmp_path, extra_op="Relu")
    with pytest.raises(ValueError, match="Relu"):
        convert_onnx_in_order(odd, Tiny())
    with pytest.raises(ValueError, match="weighted layers"):
        convert_onnx_in_order(path, nn.Sequential(Tiny(), nn.PReLU(5)))
