"""Test-only reference runtime: a Keras HDF5 functional model evaluated in numpy, layer by layer.

It reads the ``model_config`` JSON and the weights straight from the HDF5 file and shares no code with
the PyTorch port or its converter, so agreement between the two is evidence that the port is right.
Tensors are NHWC float64, as in Keras (channels last). Convolutions are im2col + matmul with TF
padding rules (``'same'`` pads ``total // 2`` before and the rest after).

Supported layers: InputLayer, Conv2D, BatchNormalization, Activation (relu/linear), MaxPooling2D,
Concatenate, Lambda (only the ``x * scale`` scaling lambda with ``arguments={"scale": s}``), Add,
GlobalAveragePooling2D, Dropout (identity at inference), Dense. Anything else raises ``NotImplementedError``.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def prewhiten(images_255: np.ndarray) -> np.ndarray:
    """Per-image standardisation of ``(N, H, W, C)`` 0..255 images: ``(x - mean) / max(std, 1/sqrt(n))``."""
    x = images_255.astype(np.float64)
    n = x[0].size
    mean = x.reshape(len(x), -1).mean(axis=1)
    std = np.maximum(x.reshape(len(x), -1).std(axis=1), 1.0 / np.sqrt(n))
    return (x - mean[:, None, None, None]) / std[:, None, None, None]


def _tf_pad(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int], padding: str, value: float) -> np.ndarray:
    """Pad NHWC ``x`` as TensorFlow does for ``'same'``; ``'valid'`` returns ``x`` unchanged."""
    if padding == "valid":
        return x
    if padding != "same":
        raise NotImplementedError(f"padding {padding!r}")
    pads = [(0, 0)]
    for size, k, s in zip(x.shape[1:3], kernel, stride):
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        pads.append((total // 2, total - total // 2))
    pads.append((0, 0))
    return np.pad(x, pads, constant_values=value)


def _windows(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """``(N, Ho, Wo, kh, kw, C)`` view of the sliding windows of an (already padded) NHWC tensor."""
    win = sliding_window_view(x, kernel, axis=(1, 2))[:, :: stride[0], :: stride[1]]
    return win.transpose(0, 1, 2, 4, 5, 3)


def _activation(x: np.ndarray, name: str) -> np.ndarray:
    if name == "linear":
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    raise NotImplementedError(f"activation {name!r}")


def _conv2d(x: np.ndarray, cfg: dict, var: dict[str, np.ndarray]) -> np.ndarray:
    if cfg["dilation_rate"] != [1, 1] or cfg.get("groups", 1) != 1:
        raise NotImplementedError(f"Conv2D {cfg['name']}: dilation/groups")
    kernel, stride = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
    w = var["kernel"]  # (kh, kw, c_in, c_out)
    cols = _windows(_tf_pad(x, kernel, stride, cfg["padding"], 0.0), kernel, stride)
    n, ho, wo = cols.shape[:3]
    out = cols.reshape(n * ho * wo, -1) @ w.reshape(-1, w.shape[-1])
    if cfg["use_bias"]:
        out = out + var["bias"]
    return _activation(out.reshape(n, ho, wo, -1), cfg["activation"])


def _max_pool(x: np.ndarray, cfg: dict) -> np.ndarray:
    kernel, stride = tuple(cfg["pool_size"]), tuple(cfg["strides"])
    padded = _tf_pad(x, kernel, stride, cfg["padding"], -np.inf)
    return _windows(padded, kernel, stride).max(axis=(3, 4))


def _batch_norm(x: np.ndarray, cfg: dict, var: dict[str, np.ndarray]) -> np.ndarray:
    axis = cfg["axis"][0] if isinstance(cfg["axis"], list) else cfg["axis"]
    if axis not in (-1, x.ndim - 1):
        raise NotImplementedError(f"BatchNormalization {cfg['name']} on axis {axis}")
    out = (x - var["moving_mean"]) / np.sqrt(var["moving_variance"] + cfg["epsilon"])
    if cfg["scale"]:
        out = out * var["gamma"]
    if cfg["center"]:
        out = out + var["beta"]
    return out


def _lambda(x: np.ndarray, cfg: dict) -> np.ndarray:
    # The stored lambdas are marshalled bytecode; disassembled, they read `return x * scale`.
    args = cfg.get("arguments") or {}
    if set(args) != {"scale"}:
        raise NotImplementedError(f"Lambda {cfg['name']} with arguments {args}")
    return x * float(args["scale"])


class KerasGraph:
    """A Keras functional model from an HDF5 file, evaluated in numpy (inference mode).

    Args:
        path: the ``.h5`` file holding ``model_config`` and ``model_weights``.

    Example:
        >>> graph = KerasGraph("facenet_keras_2024.h5")  # doctest: +SKIP
        >>> graph(prewhiten(faces_nhwc_255)).shape  # doctest: +SKIP
        (4, 128)
    """

    def __init__(self, path: str | Path):
        with h5py.File(path, "r") as fh:
            config = json.loads(fh.attrs["model_config"])["config"]
            self.weights = {name: self._read_vars(group) for name, group in fh["model_weights"].items()}
        self.layers = config["layers"]
        self.inputs = [entry[0] for entry in config["input_layers"]]
        self.outputs = [entry[0] for entry in config["output_layers"]]

    @staticmethod
    def _read_vars(group: h5py.Group) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}

        def visit(name: str, obj: h5py.HLObject) -> None:
            if isinstance(obj, h5py.Dataset):  # ".../beta:0" -> "beta"
                found[name.rsplit("/", 1)[-1].split(":")[0]] = obj[()].astype(np.float64)

        group.visititems(visit)
        return found

    def _apply(self, layer: dict, ins: list[np.ndarray]) -> np.ndarray:
        kind, cfg = layer["class_name"], layer["config"]
        var = self.weights.get(layer["name"], {})
        if kind == "Conv2D":
            return _conv2d(ins[0], cfg, var)
        if kind == "BatchNormalization":
            return _batch_norm(ins[0], cfg, var)
        if kind == "Activation":
            return _activation(ins[0], cfg["activation"])
        if kind == "MaxPooling2D":
            return _max_pool(ins[0], cfg)
        if kind == "Concatenate":
            return np.concatenate(ins, axis=cfg["axis"])
        if kind == "Lambda":
            return _lambda(ins[0], cfg)
        if kind == "Add":
            return np.sum(ins, axis=0)
        if kind == "GlobalAveragePooling2D":
            return ins[0].mean(axis=(1, 2))
        if kind == "Dropout":
            return ins[0]
        if kind == "Dense":
            out = ins[0] @ var["kernel"] + (var["bias"] if cfg["use_bias"] else 0.0)
            return _activation(out, cfg["activation"])
        raise NotImplementedError(f"layer type {kind} ({layer['name']})")

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Run the graph on NHWC input ``x`` (already preprocessed); returns the (first) output."""
        values: dict[str, np.ndarray] = {self.inputs[0]: np.asarray(x, dtype=np.float64)}
        for layer in self.layers:
            if layer["class_name"] == "InputLayer":
                continue
            nodes = layer["inbound_nodes"]
            if len(nodes) != 1:
                raise NotImplementedError(f"layer {layer['name']} is called {len(nodes)} times")
            values[layer["name"]] = self._apply(layer, [values[entry[0]] for entry in nodes[0]])
        return values[self.outputs[0]]
