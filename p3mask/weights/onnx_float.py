"""Convert a float ONNX graph of a feed-forward CNN into the state_dict of a PyTorch port, layer by layer.

The ONNX exports of the zoo (InsightFace's ``w600k_mbf``, faceplugin's ``fr_feature``) name their
weights by number, not by layer, so the map from graph to module is by order: the graph's weighted
nodes (``Conv``, ``PRelu``, ``Gemm``, ``BatchNormalization``), in graph order, fill the port's weighted
modules (``Conv2d``, ``PReLU``, ``Linear``, ``BatchNorm1d/2d``), in registration order. Each pair must
agree in kind, in every weight's shape and in the node's attributes (kernel, stride, padding, groups,
dilation, epsilon), so a port whose layers are out of order or mis-sized fails to convert instead of
loading wrong weights. The port's forward pass (shortcuts, flatten) is checked by the parity tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from p3mask.weights.onnx_quant import resolve_float_tensors

WEIGHTED_OPS = ("Conv", "PRelu", "Gemm", "BatchNormalization")
# Weightless ops the supported graphs may contain; anything else is refused.
STRUCTURAL_OPS = ("Add", "Flatten", "Reshape", "Constant")
_MODULE_KIND = {"Conv": nn.Conv2d, "PRelu": nn.PReLU, "Gemm": nn.Linear,
                "BatchNormalization": (nn.BatchNorm1d, nn.BatchNorm2d)}


@dataclass(frozen=True)
class OnnxLayer:
    """One weighted node of a graph: op type, node name, attributes and float32 weight arrays."""

    op: str
    name: str
    attrs: dict
    weights: tuple[np.ndarray, ...]  # the node's constant inputs, in input order (data input left out)


def onnx_layers(path: str | Path) -> list[OnnxLayer]:
    """The weighted nodes of an ONNX graph, in graph order.

    Raises:
        ValueError: the graph has an op outside :data:`WEIGHTED_OPS` and :data:`STRUCTURAL_OPS`, or a
            weighted node reads a non-constant weight.
    """
    model = onnx.load(str(path))
    values = resolve_float_tensors(model)
    layers = []
    for node in model.graph.node:
        if node.op_type in STRUCTURAL_OPS:
            continue
        if node.op_type not in WEIGHTED_OPS:
            raise ValueError(f"{path}: node {node.name!r} has op {node.op_type}, which the converter does not know")
        names = [n for n in node.input[1:] if n]
        missing = [n for n in names if n not in values]
        if missing:
            raise ValueError(f"{path}: node {node.name!r} reads non-constant weights {missing}")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        weights = tuple(np.asarray(values[n], dtype=np.float32) for n in names)
        layers.append(OnnxLayer(node.op_type, node.name, attrs, weights))
    return layers


def weighted_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """``(path, module)`` of every Conv2d/PReLU/Linear/BatchNorm module of ``model``, in registration order."""
    kinds = (nn.Conv2d, nn.PReLU, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)
    return [(path, m) for path, m in model.named_modules() if isinstance(m, kinds)]


def _check_conv(layer: OnnxLayer, conv: nn.Conv2d) -> None:
    a = layer.attrs
    got = {"kernel": list(a.get("kernel_shape", layer.weights[0].shape[2:])), "stride": list(a.get("strides", [1, 1])),
           "groups": int(a.get("group", 1)), "dilation": list(a.get("dilations", [1, 1])),
           "pads": list(a.get("pads", [0, 0, 0, 0]))}
    want = {"kernel": list(conv.kernel_size), "stride": list(conv.stride), "groups": conv.groups,
            "dilation": list(conv.dilation), "pads": list(conv.padding) * 2}
    if got != want:
        raise ValueError(f"node {layer.name!r} has {got}, the port's conv has {want}")
    if (len(layer.weights) > 1) != (conv.bias is not None):
        raise ValueError(f"node {layer.name!r} {'has' if len(layer.weights) > 1 else 'lacks'} a bias, the port's conv "
                         "does not")


def _entries(layer: OnnxLayer, path: str, module: nn.Module) -> dict[str, np.ndarray]:
    """State-dict entries of one module from its graph node, after checking the node's attributes."""
    w = layer.weights
    if layer.op == "Conv":
        _check_conv(layer, module)
        return {f"{path}.weight": w[0], **({f"{path}.bias": w[1]} if len(w) > 1 else {})}
    if layer.op == "PRelu":  # slopes stored (C, 1, 1) for broadcasting; nn.PReLU keeps (C,)
        return {f"{path}.weight": w[0].reshape(-1)}
    if layer.op == "Gemm":
        a = layer.attrs
        plain = (a.get("transA", 0), a.get("transB", 0), a.get("alpha", 1.0), a.get("beta", 1.0)) == (0, 1, 1.0, 1.0)
        if not plain:
            raise ValueError(f"node {layer.name!r}: only Gemm(transB=1, alpha=beta=1) maps onto nn.Linear")
        return {f"{path}.weight": w[0], **({f"{path}.bias": w[1]} if len(w) > 1 else {})}
    eps = float(layer.attrs.get("epsilon", 1e-5))
    if not np.isclose(eps, module.eps, rtol=1e-5):
        raise ValueError(f"node {layer.name!r} has epsilon {eps}, the port's batch norm {module.eps}")
    return {f"{path}.weight": w[0], f"{path}.bias": w[1], f"{path}.running_mean": w[2], f"{path}.running_var": w[3]}


def convert_onnx_in_order(path: str | Path, port: nn.Module) -> dict[str, torch.Tensor]:
    """State dict for ``port`` from the float ONNX graph at ``path``, matching layers by order.

    Args:
        path: the ONNX file.
        port: an instance of the port's architecture (its weights are not read).

    Returns:
        float32 state dict that loads into ``port`` with ``strict=True`` (``num_batches_tracked`` = 0).

    Raises:
        ValueError: the counts, kinds, shapes or attributes of the graph's layers and the port's differ.
    """
    layers = onnx_layers(path)
    modules = weighted_modules(port)
    if len(layers) != len(modules):
        raise ValueError(f"{path}: the graph has {len(layers)} weighted layers, the port {len(modules)}")
    expected = port.state_dict()
    state: dict[str, torch.Tensor] = {}
    for layer, (module_path, module) in zip(layers, modules, strict=True):
        if not isinstance(module, _MODULE_KIND[layer.op]):
            raise ValueError(f"{path}: node {layer.name!r} ({layer.op}) falls on {module_path} "
                             f"({type(module).__name__})")
        for key, value in _entries(layer, module_path, module).items():
            if tuple(value.shape) != tuple(expected[key].shape):
                raise ValueError(f"{path}: node {layer.name!r} gives {key} shape {value.shape}, "
                                 f"the port expects {tuple(expected[key].shape)}")
            state[key] = torch.from_numpy(np.array(value, dtype=np.float32))
    for key in expected:
        if key.endswith(".num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=torch.long)
    return state


__all__ = ["OnnxLayer", "convert_onnx_in_order", "onnx_layers", "weighted_modules"]
