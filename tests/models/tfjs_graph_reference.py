"""Test-only reference runtime: a TFJS graph model (model.json + .bin) evaluated node by node in numpy.

It decodes the weights itself (unquantized float32/int32 only) and walks ``modelTopology.node`` in
dependency order, so it shares no code with the PyTorch ports or with ``p3mask.weights.tfjs``.
Tensors are NHWC float64; convolution maths is :mod:`tf_numpy_ops`.

Supported ops: Placeholder, Const, Identity, Add, AddV2, Sub, Mul, Maximum, Minimum, Relu, Abs, Square,
Rsqrt, Sum, Squeeze, Reshape, Pad, MatMul, Conv2D, DepthwiseConv2dNative, and the grappler-fused
_FusedConv2D / FusedDepthwiseConv2dNative with ``fused_ops`` BiasAdd[, Relu].

``patch_constants`` and the editable ``nodes`` dict exist to evaluate the documented repair of the TFJS
MobileFaceNet (see :mod:`p3mask.models.mobilefacenet` and :func:`repair_mobilefacenet`) without editing the files.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
from tf_numpy_ops import conv2d, depthwise_conv2d

_ELEMENTWISE = {
    "Add": np.add, "AddV2": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "Maximum": np.maximum, "Minimum": np.minimum,
}
_UNARY = {
    "Identity": lambda x: x, "Relu": lambda x: np.maximum(x, 0.0), "Abs": np.abs,
    "Square": np.square, "Rsqrt": lambda x: 1.0 / np.sqrt(x),
}


def _attr_str(node: dict, key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _attr_ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in node["attr"].get(key, {}).get("list", {}).get("i", [])]


def _fused_ops(node: dict) -> list[str]:
    return [base64.b64decode(s).decode() for s in node["attr"]["fused_ops"]["list"].get("s", [])]


class TfjsGraphReference:
    """A TFJS graph model evaluated in numpy.

    Args:
        model_json: path of ``model.json``; its shards are read from the same folder.
        patch_constants: constant name -> replacement array.
    """

    def __init__(self, model_json: str | Path, patch_constants: dict[str, np.ndarray] | None = None) -> None:
        model_json = Path(model_json)
        spec = json.loads(model_json.read_text(encoding="utf-8"))
        self.nodes = {n["name"]: n for n in spec["modelTopology"]["node"]}
        self.constants = self._read_weights(spec["weightsManifest"], model_json.parent)
        self.constants.update(patch_constants or {})

    @staticmethod
    def _read_weights(manifest: list, folder: Path) -> dict[str, np.ndarray]:
        out = {}
        for group in manifest:
            data = b"".join((folder / Path(p).name).read_bytes() for p in group["paths"])
            offset = 0
            for w in group["weights"]:
                if "quantization" in w or w["dtype"] not in ("float32", "int32"):
                    raise NotImplementedError(f"{w['name']}: only unquantized float32/int32 weights")
                dtype = np.dtype("<f4" if w["dtype"] == "float32" else "<i4")
                count = int(np.prod(w["shape"], dtype=np.int64))
                out[w["name"]] = np.frombuffer(data, dtype, count, offset).reshape(w["shape"])
                offset += count * 4
        return out

    def __call__(self, feeds: dict[str, np.ndarray], output: str) -> np.ndarray:
        """Evaluate node ``output`` given placeholder name -> NHWC array."""
        values: dict[str, np.ndarray] = {k: np.asarray(v, np.float64) for k, v in feeds.items()}
        stack = [output]
        while stack:  # iterative post-order walk of the node's inputs
            name = stack[-1]
            if name in values:
                stack.pop()
                continue
            node = self.nodes[name]
            pending = [i for i in node.get("input", []) if i.split(":")[0] not in values]
            if pending:
                stack.extend(i.split(":")[0] for i in pending)
                continue
            values[name] = self._run(node, [values[i.split(":")[0]] for i in node.get("input", [])])
            stack.pop()
        return values[output]

    def _run(self, node: dict, args: list[np.ndarray]) -> np.ndarray:
        op = node["op"]
        if op == "Const":
            return self.constants[node["name"]]
        if op == "Placeholder":
            raise KeyError(f"no feed for placeholder {node['name']!r}")
        if op in _ELEMENTWISE:
            return _ELEMENTWISE[op](args[0], args[1])
        if op in _UNARY:
            return _UNARY[op](args[0])
        if op == "Sum":
            keep = node["attr"].get("keep_dims", {}).get("b", False)
            return args[0].sum(axis=tuple(np.atleast_1d(args[1]).tolist()), keepdims=keep)
        if op == "Squeeze":
            return args[0].squeeze(axis=tuple(_attr_ints(node, "squeeze_dims")))
        if op == "Reshape":
            return args[0].reshape([int(d) for d in args[1]])
        if op == "Pad":
            return np.pad(args[0], np.asarray(args[1], np.int64))
        if op == "MatMul":
            flags = node["attr"]
            a = args[0].T if flags.get("transpose_a", {}).get("b") else args[0]
            b = args[1].T if flags.get("transpose_b", {}).get("b") else args[1]
            return a @ b
        if op in ("Conv2D", "DepthwiseConv2dNative", "_FusedConv2D", "FusedDepthwiseConv2dNative"):
            return self._conv(node, op, args)
        raise NotImplementedError(f"TFJS op {op} ({node['name']})")

    def _conv(self, node: dict, op: str, args: list[np.ndarray]) -> np.ndarray:
        if _attr_str(node, "data_format") != "NHWC" or set(_attr_ints(node, "dilations")) - {1}:
            raise NotImplementedError(f"{node['name']}: only NHWC, undilated convolutions")
        strides = tuple(_attr_ints(node, "strides")[1:3])
        padding = _attr_str(node, "padding")
        kernel = depthwise_conv2d if "Depthwise" in op else conv2d
        y = kernel(args[0], args[1], strides, padding)
        if not op.startswith(("_Fused", "Fused")):
            return y
        fused = _fused_ops(node)
        if fused[0] != "BiasAdd" or set(fused[1:]) - {"Relu"}:
            raise NotImplementedError(f"{node['name']}: fused_ops {fused}")
        y = y + args[2]
        if "Relu" in fused:
            y = np.maximum(y, 0.0)
        return y


def repair_mobilefacenet(ref: TfjsGraphReference) -> int:
    """Undo the two defects of the human-models MobileFaceNet graph in place; return the repaired count.

    Each PReLU is ``Add(Relu(x), Mul(Sub(x, Abs(x)), m))``. For depthwise convs the converter fused
    the Relu into the conv, so Abs/Sub read ``relu(x)`` and the negative branch vanishes: here the conv
    is unfused again and an explicit Relu feeds the Add. And every ``m`` is stored negated.
    """
    count = 0
    for name, node in list(ref.nodes.items()):
        if node["op"] != "FusedDepthwiseConv2dNative" or "Relu" not in _fused_ops(node):
            continue
        node["attr"]["fused_ops"]["list"]["s"] = [base64.b64encode(b"BiasAdd").decode()]
        relu = f"{name}/unfused_relu"
        ref.nodes[relu] = {"name": relu, "op": "Relu", "input": [name]}
        for consumer in ref.nodes.values():
            if consumer["op"] == "Add" and consumer.get("input", [None])[0] == name:
                consumer["input"][0] = relu
        count += 1
    for name in [n for n in ref.constants if n.endswith("/mul")]:
        ref.constants[name] = -ref.constants[name]
    return count
