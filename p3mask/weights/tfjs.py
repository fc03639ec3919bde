"""Reading TensorFlow.js graph models (``model.json`` + ``.bin`` shards) and converting two of them.

A TFJS graph model is a ``model.json`` holding ``modelTopology`` (a GraphDef-like list of nodes) and
``weightsManifest``: a list of groups, each naming its binary shards (``paths``, read in order and
concatenated) and the weights laid out back to back in them (``name``, ``shape``, ``dtype`` and, for
quantized weights, ``quantization = {dtype, scale, min}``). A bare manifest file (the list alone, as
face-api ships) is read the same way. Everything is little-endian.

Dequantization: ``uint8``/``uint16`` weights decode as ``q * scale + min``; ``float16`` weights are
IEEE half floats. Both widen to the weight's stated ``dtype``.

:func:`convert_tfjs` turns a graph into a state_dict through an explicit name map (PyTorch key ->
(TFJS weight name, layout transform)); the maps of the human-models MobileFaceNet and MobileFace graphs
(:mod:`p3mask.models.mobilefacenet`, :mod:`p3mask.models.mobileface`) are defined here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

# Element types of unquantized TFJS weights (tfjs-core DataType), little-endian.
_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("u1")}
# Storage types of quantized weights (tfjs-converter --quantize_uint8/uint16/float16).
_QUANT_DTYPES = {"uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}


@dataclass(frozen=True)
class TfjsGraph:
    """A TFJS graph model: its nodes and its decoded weights.

    Attributes:
        nodes: ``modelTopology.node`` as in model.json (dicts with ``name``, ``op``, ``input``, ``attr``).
        weights: weight name -> array of the manifest's shape and dtype (quantized ones dequantized).
    """

    nodes: tuple[dict[str, Any], ...]
    weights: dict[str, np.ndarray]


def _decode_one(entry: dict[str, Any], data: bytes, offset: int) -> tuple[np.ndarray, int]:
    """Decode one manifest entry starting at ``offset``; return the array and the next offset."""
    shape = tuple(int(d) for d in entry["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    dtype = entry["dtype"]
    if dtype not in _DTYPES:
        raise ValueError(f"weight {entry['name']!r}: unsupported dtype {dtype!r}, expected one of {list(_DTYPES)}")
    quant = entry.get("quantization")
    stored = _QUANT_DTYPES.get(quant["dtype"]) if quant else _DTYPES[dtype]
    if stored is None:
        raise ValueError(f"weight {entry['name']!r}: unsupported quantization dtype {quant['dtype']!r}")
    end = offset + count * stored.itemsize
    if end > len(data):
        raise ValueError(f"weight {entry['name']!r} needs bytes {offset}..{end}, shards hold {len(data)}")
    raw = np.frombuffer(data, dtype=stored, count=count, offset=offset)
    if quant is None:
        value = raw
    elif quant["dtype"] == "float16":
        value = raw.astype(np.float32)
    else:
        value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
    if dtype == "int32" and quant is not None:
        value = np.round(value)
    return value.astype(_DTYPES[dtype].newbyteorder("=")).reshape(shape), end


def decode_weights(manifest: list[dict[str, Any]], read_shard: Callable[[str], bytes]) -> dict[str, np.ndarray]:
    """Decode every weight of a TFJS weights manifest.

    Args:
        manifest: the ``weightsManifest`` list (groups with ``paths`` and ``weights``).
        read_shard: returns the bytes of a shard given its path as written in the manifest.

    Returns:
        weight name -> array (float32, int32 or uint8 for bool), in manifest order.

    Raises:
        ValueError: unknown dtype, truncated shards, trailing bytes or a duplicated name.
    """
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        data = b"".join(read_shard(p) for p in group["paths"])
        offset = 0
        for entry in group["weights"]:
            if entry["name"] in weights:
                raise ValueError(f"weight {entry['name']!r} appears twice in the manifest")
            weights[entry["name"]], offset = _decode_one(entry, data, offset)
        if offset != len(data):
            raise ValueError(f"shards {group['paths']} hold {len(data)} bytes, manifest describes {offset}")
    return weights


def load_tfjs_graph(json_path: str | Path) -> TfjsGraph:
    """Read a TFJS ``model.json`` (or a bare weights manifest) and its shards.

    Shards are looked up beside ``json_path`` under the file names the manifest gives.

    Args:
        json_path: path of ``model.json`` or of a ``*-weights_manifest.json``.

    Returns:
        The graph; ``nodes`` is empty for a bare manifest.
    """
    json_path = Path(json_path)
    spec = json.loads(json_path.read_text(encoding="utf-8"))
    if isinstance(spec, list):
        manifest, nodes = spec, []
    elif isinstance(spec, dict) and "weightsManifest" in spec:
        manifest, nodes = spec["weightsManifest"], spec.get("modelTopology", {}).get("node", [])
    else:
        raise ValueError(f"{json_path}: expected a TFJS model.json or weights manifest, got no weightsManifest")
    weights = decode_weights(manifest, lambda shard: (json_path.parent / Path(shard).name).read_bytes())
    return TfjsGraph(nodes=tuple(nodes), weights=weights)


# ---- layout transforms: TFJS (TensorFlow, NHWC) -> PyTorch (NCHW) -------------------------------------

def _conv_hwio_to_oihw(w: np.ndarray) -> np.ndarray:
    """Conv2D kernel (kh, kw, in, out) -> (out, in, kh, kw)."""
    return w.transpose(3, 2, 0, 1)


def _depthwise_hwc1_to_c1hw(w: np.ndarray) -> np.ndarray:
    """DepthwiseConv2dNative kernel (kh, kw, C, 1) -> grouped-conv weight (C, 1, kh, kw)."""
    return w.transpose(2, 3, 0, 1)


def _same(w: np.ndarray) -> np.ndarray:
    return w


def _dense_io_to_oi(w: np.ndarray) -> np.ndarray:
    """MatMul kernel (in, out) -> nn.Linear weight (out, in)."""
    return w.T


def _mobilefacenet_prelu_slope(mul: np.ndarray) -> np.ndarray:
    """PReLU slope from the TFJS ``<scope>/mul`` constant.

    The source computes ``relu(x) + m * (x - |x|)``, i.e. slope ``2 m`` for x < 0, with ``m`` the
    constant of the float tflite model. The TFJS conversion stores ``-m`` (wrong sign, verified
    element-wise against MobileFaceNet.tflite), hence slope ``-2 * mul``.
    """
    return -2.0 * mul


Transform = Callable[[np.ndarray], np.ndarray]
NameMap = dict[str, tuple[str, Transform]]


def convert_tfjs(json_path: str | Path, name_map: NameMap, unused: Callable[[str], bool]) -> dict[str, torch.Tensor]:
    """Convert a TFJS graph model into a PyTorch state_dict through an explicit name map.

    Args:
        json_path: the graph's ``model.json`` (shards beside it, see :func:`load_tfjs_graph`).
        name_map: PyTorch key -> (TFJS weight name, layout transform).
        unused: true for the names of graph constants that are not parameters.

    Returns:
        float32 state_dict with exactly the keys of ``name_map``.

    Raises:
        ValueError: a mapped weight is missing, or a weight is neither mapped nor ``unused``.
    """
    graph = load_tfjs_graph(json_path)
    state: dict[str, torch.Tensor] = {}
    for key, (source, transform) in name_map.items():
        if source not in graph.weights:
            raise ValueError(f"{key}: source weight {source!r} is not in the TFJS graph")
        array = np.ascontiguousarray(transform(graph.weights[source]), dtype=np.float32)
        state[key] = torch.from_numpy(array.copy())
    mapped = {s for s, _ in name_map.values()}
    left = [n for n in graph.weights if n not in mapped and not unused(n)]
    if left:
        raise ValueError(f"TFJS weights not mapped to the PyTorch model: {sorted(left)}")
    return state


# ---- MobileFaceNet (TF-slim graph, 192-D) ------------------------------------------------------

# Inverted-residual stages of the source graph: (scope prefix, number of blocks).
MOBILEFACENET_STAGES = (("Conv2d_2", 5), ("Conv2d_3", 1), ("Conv2d_4", 6), ("Conv2d_5", 1), ("Conv2d_6", 2))
_MFN_BACKBONE = "MobileFaceNet/MobileFaceNet/"  # TF scope of the backbone weights
_MFN_HEAD = "MobileFaceNet/"  # TF scope of the Logits (head) weights


def mobilefacenet_units() -> list[tuple[str, str]]:
    """Layers of MobileFaceNet in graph order: (scope, kind).

    ``scope`` is the TF scope below ``MobileFaceNet/MobileFaceNet/`` (or ``MobileFaceNet/`` for
    ``Logits/...``); kind is ``conv`` or ``dw`` (depthwise), with ``+prelu`` when a PReLU follows.
    """
    units = [("Conv2d_0", "conv+prelu"), ("SeparableConv2d", "dw+prelu"), ("Conv", "conv")]
    for stage, blocks in MOBILEFACENET_STAGES:
        for i in range(blocks):
            block = f"{stage}_InvResBlock_{i}"
            units += [(f"{block}/Conv", "conv+prelu"), (f"{block}/SeparableConv2d", "dw+prelu"),
                      (f"{block}/Conv_1", "conv")]
    units += [("Conv2d_7", "conv+prelu"),
              ("Logits/SeparableConv2d", "dw"), ("Logits/Conv", "conv"), ("Logits/LinearConv1x1", "conv")]
    return units


def mobilefacenet_name_map() -> NameMap:
    """PyTorch key -> (TFJS weight name, transform) for :class:`p3mask.models.mobilefacenet.MobileFaceNet`.

    Scope ``a/b`` becomes module ``a.b``; each unit holds ``conv`` (+ ``prelu``).
    """
    name_map: NameMap = {}
    for scope, kind in mobilefacenet_units():
        src = (_MFN_HEAD if scope.startswith("Logits/") else _MFN_BACKBONE) + scope
        key = scope.replace("/", ".")
        if kind.startswith("dw"):
            name_map[f"{key}.conv.weight"] = (f"{src}/depthwise_weights", _depthwise_hwc1_to_c1hw)
            name_map[f"{key}.conv.bias"] = (f"{src}/depthwise_bn_offset", _same)
        else:
            name_map[f"{key}.conv.weight"] = (f"{src}/Conv2D_weights", _conv_hwio_to_oihw)
            name_map[f"{key}.conv.bias"] = (f"{src}/Conv2D_bn_offset", _same)
        if kind.endswith("+prelu"):
            name_map[f"{key}.prelu.weight"] = (f"{src}/mul", _mobilefacenet_prelu_slope)
    return name_map


def mobilefacenet_unused(name: str) -> bool:
    """True for the graph constants of the final L2 normalisation (the port normalises in forward())."""
    return name in ("embeddings/Sum/reduction_indices", "embeddings/Maximum/y")


# ---- MobileFace (becauseofAI, MXNet origin, 256-D) -----------------------------------------------------

MOBILEFACE_STAGES = ("stage1_unit1", "stage2_unit1", "stage3_unit1", "stage4_unit1")  # one unit per stage


def mobileface_name_map() -> NameMap:
    """PyTorch key -> (TFJS weight name, transform) for :class:`p3mask.models.mobileface.MobileFace`.

    Source names ``<stage>_<layer>_{weight,df,gamma}`` become modules ``<stage>.<layer>``.
    """
    name_map: NameMap = {
        "conv1.weight": ("conv1_weight", _conv_hwio_to_oihw),
        "prelu1.weight": ("prelu1_gamma", _same),
    }
    for stage in MOBILEFACE_STAGES:
        name_map.update({
            f"{stage}.conv0_0.weight": (f"{stage}_conv0_0_weight", _conv_hwio_to_oihw),  # 1x1 expand
            f"{stage}.conv0_1.weight": (f"{stage}_conv0_1_df", _depthwise_hwc1_to_c1hw),  # 3x3 dw, stride 2
            f"{stage}.prelu0.weight": (f"{stage}_prelu0_gamma", _same),
            f"{stage}.conv1.weight": (f"{stage}_conv1_df", _depthwise_hwc1_to_c1hw),  # 3x3 dw
            f"{stage}.prelu1.weight": (f"{stage}_prelu1_gamma", _same),
            f"{stage}.conv2.weight": (f"{stage}_conv2_df", _depthwise_hwc1_to_c1hw),  # 3x3 dw
            f"{stage}.prelu2.weight": (f"{stage}_prelu2_gamma", _same),
        })
    name_map["dense.weight"] = ("dense/kernel", _dense_io_to_oi)
    name_map["batchnorm0.weight"] = ("batchnorm0/mul", _same)  # folded BN scale gamma/sqrt(var+eps)
    name_map["batchnorm0.bias"] = ("batchnorm0/sub", _same)  # folded BN shift beta - mean*scale
    return name_map


def mobileface_unused(name: str) -> bool:
    """True for graph constants that are not parameters: PReLU zeros, paddings, flatten shape, input scaling."""
    return name.startswith(("Maximum", "Minimum", "Pad", "flatten/Const", "minusscalar0_second", "mulscalar0_second"))


__all__ = [
    "NameMap",
    "TfjsGraph",
    "convert_tfjs",
    "decode_weights",
    "load_tfjs_graph",
    "mobileface_name_map",
    "mobileface_unused",
    "mobilefacenet_name_map",
    "mobilefacenet_unused",
]
