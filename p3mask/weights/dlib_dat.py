"""Reader for dlib's binary serialisation of DNN models (``*.dat``) and the converter of
``dlib_face_recognition_resnet_model_v1.dat`` into a PyTorch state_dict.

How dlib writes a network (read from the file's bytes and dlib's documented ``serialize`` rules):

* integers: one header byte (low 4 bits: number of payload bytes, bit 7: negative sign), then the
  magnitude in little-endian bytes; strings: that integer as length, then the characters;
  booleans: the character ``'1'`` or ``'0'``; scalars of type float/double: two integers, a
  mantissa and an exponent, meaning ``mantissa * 2**exponent`` (exponents 32000/32001/32002 stand
  for +inf/-inf/nan);
* tensors (version 2): version, then ``num_samples, k, nr, nc``, then the values as raw
  little-endian float32; alias tensors (version 1): version and the four dimensions only;
* a network is nested: the loss wrapper writes its version (1), its loss details and then its
  subnetwork; each ``add_layer`` writes its version (2, or 3 for the one on the input layer), its
  subnetwork, its layer details, three booleans and three (empty) tensors, plus the sample
  expansion factor for version 3; ``tag``/``skip`` wrappers write their version (1) and their
  subnetwork only. So the file holds every wrapper version top-down, then the input layer, then
  each layer's details bottom-up.

The file names no layer: :class:`DlibNet` lists the layers bottom-up and :func:`convert_dlib_resnet`
names them by position in the residual structure (see :mod:`p3mask.models.dlib_resnet`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

_INF, _NINF, _NAN = 32000, 32001, 32002  # dlib float_details: exponents that flag special values


class DlibFormatError(ValueError):
    """The bytes are not a dlib network of a supported layout."""


class _Reader:
    """Cursor over the bytes of a dlib file, one method per serialised primitive."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"unexpected end of file at byte {self.pos} (needed {n} more bytes)")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int_(self) -> int:
        header = self._take(1)[0]
        size = header & 0x0F
        if size > 8 or header & 0x70:
            raise DlibFormatError(f"bad integer header 0x{header:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if header & 0x80 else value

    def float_(self) -> float:
        mantissa, exponent = self.int_(), self.int_()
        special = {_INF: math.inf, _NINF: -math.inf, _NAN: math.nan}
        return special[exponent] if exponent in special else math.ldexp(mantissa, exponent)

    def string(self) -> str:
        size = self.int_()
        return self._take(size).decode("ascii", errors="replace")

    def bool_(self) -> bool:
        char = self._take(1)
        if char not in (b"0", b"1"):
            raise DlibFormatError(f"bad boolean {char!r} at byte {self.pos - 1}")
        return char == b"1"

    def version(self, expected: tuple[int, ...], what: str) -> int:
        at, value = self.pos, self.int_()
        if value not in expected:
            raise DlibFormatError(f"{what}: expected version {expected}, got {value} at byte {at}")
        return value

    def shape(self) -> tuple[int, int, int, int]:
        return (self.int_(), self.int_(), self.int_(), self.int_())

    def tensor(self) -> np.ndarray:
        """A version-2 tensor as a float32 array of shape ``(num_samples, k, nr, nc)``."""
        self.version((2,), "tensor")
        dims = self.shape()
        count = math.prod(dims)
        return np.frombuffer(self._take(4 * count), dtype="<f4").reshape(dims).astype(np.float32)

    def alias(self) -> tuple[int, int, int, int]:
        """The dimensions of an alias tensor (a view into a layer's parameter vector)."""
        self.version((1,), "alias_tensor")
        return self.shape()


@dataclass(frozen=True)
class DlibLayer:
    """One layer of a dlib network.

    Attributes:
        kind: ``"con"``, ``"affine"``, ``"relu"``, ``"max_pool"``, ``"avg_pool"``, ``"add_prev"``,
            ``"fc"``, ``"input"``, ``"loss_metric"``, or ``"wrapper"`` for a tag/skip layer (the
            file does not say which of the two, nor its id).
        tag: the serialised type string, e.g. ``"con_4"`` (empty for a wrapper).
        attrs: hyper-parameters read from the file (filter counts, strides, paddings, ...).
        params: flat float32 parameter vector, or ``None`` for layers without parameters.
    """

    kind: str
    tag: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)
    params: np.ndarray | None = None


@dataclass(frozen=True)
class DlibNet:
    """A parsed dlib network: input layer, layers bottom-up (wrappers included), loss layer."""

    input: DlibLayer
    layers: tuple[DlibLayer, ...]
    loss: DlibLayer


_GEOMETRY = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")
_MULTIPLIERS = ("learning_rate", "weight_decay", "bias_learning_rate", "bias_weight_decay")


def _read_con(r: _Reader, tag: str) -> DlibLayer:
    params = r.tensor().reshape(-1)
    attrs: dict[str, Any] = {"num_filters": r.int_()}
    attrs.update({name: r.int_() for name in _GEOMETRY})
    attrs["filters_shape"], attrs["biases_shape"] = r.alias(), r.alias()
    attrs.update({f"{name}_multiplier": r.float_() for name in _MULTIPLIERS})
    return DlibLayer("con", tag, attrs, params)


def _read_fc(r: _Reader, tag: str) -> DlibLayer:
    attrs: dict[str, Any] = {"num_outputs": r.int_(), "num_inputs": r.int_()}
    params = r.tensor().reshape(-1)
    attrs["weights_shape"], attrs["biases_shape"] = r.alias(), r.alias()
    attrs["bias_mode"] = r.int_()  # dlib fc_bias_mode: 0 FC_HAS_BIAS, 1 FC_NO_BIAS
    attrs.update({f"{name}_multiplier": r.float_() for name in _MULTIPLIERS})
    return DlibLayer("fc", tag, attrs, params)


def _read_affine(r: _Reader, tag: str) -> DlibLayer:
    params = r.tensor().reshape(-1)
    attrs: dict[str, Any] = {"gamma_shape": r.alias(), "beta_shape": r.alias()}
    attrs["mode"] = r.int_()  # dlib layer_mode: 0 CONV_MODE (per channel), 1 FC_MODE (per element)
    return DlibLayer("affine", tag, attrs, params)


def _read_pool(kind: str) -> Callable[[_Reader, str], DlibLayer]:
    def read(r: _Reader, tag: str) -> DlibLayer:
        return DlibLayer(kind, tag, {name: r.int_() for name in _GEOMETRY})
    return read


_DETAILS: dict[str, Callable[[_Reader, str], DlibLayer]] = {
    "con_4": _read_con,
    "fc_2": _read_fc,
    "affine_": _read_affine,
    "max_pool_2": _read_pool("max_pool"),
    "avg_pool_2": _read_pool("avg_pool"),
    "relu_": lambda r, tag: DlibLayer("relu", tag),
    "add_prev_": lambda r, tag: DlibLayer("add_prev", tag),
}


def _read_details(r: _Reader) -> DlibLayer:
    at, tag = r.pos, r.string()
    if tag not in _DETAILS:
        raise DlibFormatError(f"unsupported layer type {tag!r} at byte {at}; supported: {sorted(_DETAILS)}")
    return _DETAILS[tag](r, tag)


def _read_add_layer_state(r: _Reader) -> None:
    """Skip an add_layer's run-time state: three flags and three tensors (empty in saved models)."""
    for _ in range(3):
        r.bool_()
    for _ in range(3):
        r.tensor()


def _read_input(r: _Reader) -> DlibLayer:
    at, tag = r.pos, r.string()
    if tag != "input_rgb_image_sized":
        raise DlibFormatError(f"unsupported input layer {tag!r} at byte {at}")
    attrs = {"avg_red": r.float_(), "avg_green": r.float_(), "avg_blue": r.float_()}
    attrs.update({"nr": r.int_(), "nc": r.int_()})
    return DlibLayer("input", tag, attrs)


def _read_loss(r: _Reader) -> DlibLayer:
    r.version((1,), "add_loss_layer")
    at, tag = r.pos, r.string()
    if tag != "loss_metric_2":
        raise DlibFormatError(f"unsupported loss layer {tag!r} at byte {at}")
    return DlibLayer("loss_metric", tag, {"margin": r.float_(), "dist_thresh": r.float_()})


def parse_dlib_net(data: bytes) -> DlibNet:
    """Parse the bytes of a dlib DNN file whose top is a ``loss_metric`` and whose input is
    ``input_rgb_image_sized`` (the layout of dlib's face-recognition ResNet).

    Raises:
        DlibFormatError: the bytes do not follow that layout (message gives the byte offset).
    """
    r = _Reader(data)
    loss = _read_loss(r)
    wrappers: list[int] = []  # versions top-down: 2 add_layer, 1 tag/skip, 3 add_layer on the input
    while not wrappers or wrappers[-1] != 3:
        wrappers.append(r.version((1, 2, 3), "layer wrapper"))
    net_input = _read_input(r)
    layers = [_read_details(r)]
    _read_add_layer_state(r)
    r.int_()  # sample expansion factor of the input add_layer (version 3)
    for version in reversed(wrappers[:-1]):
        if version == 1:
            layers.append(DlibLayer("wrapper"))
            continue
        layers.append(_read_details(r))
        _read_add_layer_state(r)
    if r.pos != len(data):
        raise DlibFormatError(f"{len(data) - r.pos} trailing bytes after the network")
    return DlibNet(net_input, tuple(layers), loss)


def read_dlib_net(path: str | os.PathLike) -> DlibNet:
    """Parse a dlib DNN ``.dat`` file (see :func:`parse_dlib_net`)."""
    return parse_dlib_net(Path(path).read_bytes())


# Layer kinds of one residual unit of the face ResNet, bottom-up, after its opening tag1 wrapper:
# block = affine(con(relu(affine(con(x))))); identity unit = relu(add_prev1(block, x));
# down unit = relu(add_prev2(avg_pool(skip1 -> x), tag2 -> block)).
_BLOCK = ("con", "affine", "relu", "con", "affine")
_IDENTITY_TAIL = ("add_prev", "relu")
_DOWN_TAIL = ("wrapper", "wrapper", "avg_pool", "add_prev", "relu")
_STEM = ("con", "affine", "relu", "max_pool")
_HEAD = ("avg_pool", "fc")


def _kinds(layers: tuple[DlibLayer, ...], start: int, count: int) -> tuple[str, ...]:
    return tuple(layer.kind for layer in layers[start:start + count])


def split_resnet(net: DlibNet) -> tuple[tuple[DlibLayer, ...], list[tuple[tuple[DlibLayer, ...], bool]], DlibLayer]:
    """Split the bottom-up layers of dlib's face ResNet into stem, residual units and head.

    Returns:
        ``(stem, units, fc)``: the stem's layers (con, affine, relu, max_pool); per residual unit
        its block layers (con, affine, relu, con, affine) and whether it is a down-sampling unit
        (average-pooled shortcut); and the final fc layer.

    Raises:
        DlibFormatError: the layer sequence is not stem, residual units, global average pool, fc.
    """
    layers = net.layers
    if _kinds(layers, 0, 4) != _STEM:
        raise DlibFormatError(f"expected stem {_STEM}, got {_kinds(layers, 0, 4)}")
    pos, units = 4, []
    while pos < len(layers) and layers[pos].kind == "wrapper":
        block = _kinds(layers, pos + 1, len(_BLOCK))
        tail_start = pos + 1 + len(_BLOCK)
        is_down = _kinds(layers, tail_start, len(_DOWN_TAIL)) == _DOWN_TAIL
        tail = _DOWN_TAIL if is_down else _IDENTITY_TAIL
        if block != _BLOCK or _kinds(layers, tail_start, len(tail)) != tail:
            raise DlibFormatError(f"layer {pos}: not a residual unit: {_kinds(layers, pos, 11)}")
        units.append((layers[pos + 1:tail_start], is_down))
        pos = tail_start + len(tail)
    if _kinds(layers, pos, 3) != _HEAD or layers[pos].attrs["nr"] != 0:
        raise DlibFormatError(f"layer {pos}: expected global avg_pool then fc, got {_kinds(layers, pos, 3)}")
    return layers[:4], units, layers[pos + 1]


def _con_tensors(layer: DlibLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weight (O, I, kh, kw), bias (O,))``: dlib stores the filters row-major, then the biases."""
    shape = layer.attrs["filters_shape"]
    count = math.prod(shape)
    if layer.params.size != count + layer.attrs["num_filters"]:
        raise DlibFormatError(f"con_ with filters {shape} has {layer.params.size} parameters")
    weight = torch.from_numpy(layer.params[:count].reshape(shape).copy())
    return weight, torch.from_numpy(layer.params[count:].copy())


def _affine_tensors(layer: DlibLayer) -> tuple[torch.Tensor, torch.Tensor]:
    """``(gamma (C,), beta (C,))`` of a CONV_MODE affine_ layer (gamma first in its params)."""
    channels = math.prod(layer.attrs["gamma_shape"])
    if layer.attrs["mode"] != 0 or layer.params.size != 2 * channels:
        raise DlibFormatError(f"expected a per-channel affine_ with {2 * channels} params")
    params = torch.from_numpy(layer.params.copy())
    return params[:channels], params[channels:]


def _fc_weight(layer: DlibLayer) -> torch.Tensor:
    """``(num_outputs, num_inputs)`` weight of a bias-free fc_ (dlib stores inputs x outputs)."""
    n_in, n_out = layer.attrs["num_inputs"], layer.attrs["num_outputs"]
    if layer.attrs["bias_mode"] != 1 or layer.params.size != n_in * n_out:  # 1 = FC_NO_BIAS
        raise DlibFormatError(f"expected a bias-free fc_ {n_in}->{n_out}, got {layer.params.size} params")
    return torch.from_numpy(layer.params.reshape(n_in, n_out).T.copy())


def convert_dlib_resnet(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Convert ``dlib_face_recognition_resnet_model_v1.dat`` into the state_dict of
    :class:`p3mask.models.dlib_resnet.DlibResNet`.

    Name map (positional; dlib files carry no names): stem ``con_``/``affine_`` -> ``con1``/``affine1``;
    the two ``con_``/``affine_`` pairs of the i-th residual unit from the input ->
    ``blocks.{i}.con1``, ``.affine1``, ``.con2``, ``.affine2``; ``fc_`` -> ``fc``; the input
    layer's average colour -> ``input_mean`` (R, G, B in 0..255).

    Args:
        path: the ``.dat`` file.

    Returns:
        float32 tensors: conv ``weight (O, I, k, k)`` and ``bias (O,)``, affine ``gamma``/``beta (C,)``,
        ``fc.weight (128, 256)``, ``input_mean (3,)``.

    Raises:
        DlibFormatError: the file is not this network.
    """
    net = read_dlib_net(path)
    stem, units, fc = split_resnet(net)
    state: dict[str, torch.Tensor] = {}
    prefixes = [("", stem[0], stem[1], "1")]
    for i, (block, _) in enumerate(units):
        prefixes += [(f"blocks.{i}.", block[0], block[1], "1"), (f"blocks.{i}.", block[3], block[4], "2")]
    for prefix, con, affine, suffix in prefixes:
        state[f"{prefix}con{suffix}.weight"], state[f"{prefix}con{suffix}.bias"] = _con_tensors(con)
        state[f"{prefix}affine{suffix}.gamma"], state[f"{prefix}affine{suffix}.beta"] = _affine_tensors(affine)
    state["fc.weight"] = _fc_weight(fc)
    avg = net.input.attrs
    state["input_mean"] = torch.tensor([avg["avg_red"], avg["avg_green"], avg["avg_blue"]], dtype=torch.float32)
    return state


__all__ = ["DlibFormatError", "DlibLayer", "DlibNet", "convert_dlib_resnet", "parse_dlib_net", "read_dlib_net",
           "split_resnet"]
