"""Dequantisation maths of p3mask.weights.onnx_quant on tiny seeded arrays.

The oracle is the ONNX reference implementation (``onnx.reference``), which follows the operator
specification, plus a hand-computed example.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from p3mask.weights.onnx_quant import (
    convert_sface_onnx,
    dequantize_linear,
    resolve_float_tensors,
    sface_module_path,
)

_ONNX_TYPES = {np.int8: TensorProto.INT8, np.uint8: TensorProto.UINT8}


def _reference(q: np.ndarray, scale: np.ndarray, zp: np.ndarray, axis: int, block_size: int) -> np.ndarray:
    node = helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"], axis=axis, block_size=block_size)
    graph = helper.make_graph(
        [node], "dq",
        [helper.make_tensor_value_info("q", _ONNX_TYPES[q.dtype.type], None),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("z", _ONNX_TYPES[zp.dtype.type], None)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    return ReferenceEvaluator(model).run(None, {"q": q, "s": scale, "z": zp})[0]


def _random_case(seed: int, dtype, q_shape, scale_shape):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    q = rng.integers(info.min, info.max + 1, q_shape).astype(dtype)
    zp = rng.integers(info.min, info.max + 1, scale_shape).astype(dtype)
    scale = rng.uniform(1e-4, 1e-1, scale_shape).astype(np.float32)
    return q, scale, zp


def test_hand_computed_blocked_example():
    q = np.array([[1, 2, 3, 4, 5]], np.int8)
    scale = np.array([[0.5, 2.0, 4.0]], np.float32)  # blocks of 2 along axis 1; the last covers one element
    zp = np.array([[1, 0, -1]], np.int8)
    expected = np.array([[0.0, 0.5, 6.0, 8.0, 24.0]], np.float32)
    np.testing.assert_array_equal(dequantize_linear(q, scale, zp, axis=1, block_size=2), expected)


@pytest.mark.parametrize(
    ("dtype", "q_shape", "scale_shape", "axis", "block_size"),
    [
        (np.int8, (4, 27), (4, 1), 1, 64),  # one block wider than the axis (SFace conv_1 layout)
        (np.int8, (6, 130), (6, 3), 1, 64),  # ragged last block
        (np.int8, (9, 5), (3, 5), 0, 3),  # blocked along axis 0
        (np.uint8, (5, 12), (5, 4), -1, 3),  # negative axis, unsigned
        (np.int8, (128,), (2,), 0, 64),  # 1-D blocked (SFace pre_fc1 bias layout)
        (np.int8, (3, 7), (7,), 1, 0),  # per-axis
        (np.uint8, (2, 3, 4), (), 1, 0),  # per-tensor
    ],
)
def test_matches_onnx_reference(dtype, q_shape, scale_shape, axis, block_size):
    q, scale, zp = _random_case(sum(q_shape) + block_size, dtype, q_shape, scale_shape)
    got = dequantize_linear(q, scale, zp, axis=axis, block_size=block_size)
    assert got.dtype == np.float32 and got.shape == q.shape
    np.testing.assert_array_equal(got, _reference(q, scale, zp, axis, block_size))


def test_missing_zero_point_means_zero():
    q, scale, _ = _random_case(0, np.int8, (3, 8), (3, 2))
    np.testing.assert_array_equal(
        dequantize_linear(q, scale, None, axis=1, block_size=4),
        dequantize_linear(q, scale, np.zeros_like(scale, dtype=np.int8), axis=1, block_size=4),
    )


def test_bad_inputs_raise():
    q, scale, zp = _random_case(1, np.int8, (3, 8), (3, 2))
    with pytest.raises(ValueError, match="blocked scale"):
        dequantize_linear(q, scale, zp, axis=1, block_size=3)  # would need (3, 3)
    with pytest.raises(ValueError, match="zero_point shape"):
        dequantize_linear(q, scale, zp[:, :1], axis=1, block_size=4)
    with pytest.raises(ValueError, match="integer"):
        dequantize_linear(q.astype(np.float32), scale, zp, axis=1, block_size=4)
    with pytest.raises(ValueError, match="per-axis"):
        dequantize_linear(q, scale[:, 0], zp[:, 0], axis=1, block_size=0)


def test_resolve_float_tensors_follows_dequantize_and_reshape():
    q, scale, zp = _random_case(2, np.int8, (4, 18), (4, 1))
    inits = [numpy_helper.from_array(a, n) for a, n in
             ((q, "w_q"), (scale, "w_s"), (zp, "w_z"), (np.array([4, 2, 3, 3], np.int64), "w_shape"))]
    nodes = [
        helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w_dq"], axis=1, block_size=64),
        helper.make_node("Reshape", ["w_dq", "w_shape"], ["w"]),
    ]
    outputs = [helper.make_tensor_value_info("w", TensorProto.FLOAT, None)]
    graph = helper.make_graph(nodes, "g", [], outputs, inits)
    values = resolve_float_tensors(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]))
    expected = dequantize_linear(q, scale, zp, axis=1, block_size=64).reshape(4, 2, 3, 3)
    np.testing.assert_array_equal(values["w"], expected)


def test_sface_module_path():
    assert sface_module_path("conv_1_conv2d") == "conv_1.conv2d"
    assert sface_module_path("conv_13_dw_batchnorm") == "conv_13_dw.batchnorm"
    assert sface_module_path("conv_14_relu") == "conv_14.relu"
    assert sface_module_path("pre_fc1") == "pre_fc1"
    with pytest.raises(ValueError, match="unexpected SFace node"):
        sface_module_path("conv_1_pool")


def test_convert_rejects_unknown_ops(tmp_path):
    node = helper.make_node("Sigmoid", ["x"], ["y"], name="conv_1_relu")
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "bad.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)]), str(path))
    with pytest.raises(ValueError, match="Sigmoid"):
        convert_sface_onnx(path)
