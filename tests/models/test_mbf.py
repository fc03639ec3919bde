"""The shared MobileFaceNet family: shapes, any batch size, gradients and layout checks (random weights)."""

from __future__ import annotations

import pytest
import torch

from p3mask.models.facexzoo_mbf import FaceXZooMbf
from p3mask.models.fr_feature import FrFeature
from p3mask.models.mbf import DepthWise, MbfBackbone
from p3mask.models.w600k_mbf import LAYOUT as W600K_LAYOUT
from p3mask.models.w600k_mbf import W600kMbf

PORTS = (W600kMbf, FrFeature, FaceXZooMbf)


def test_backbone_downsamples_to_7x7_with_512_channels():
    out = MbfBackbone(W600K_LAYOUT).eval()(torch.rand(2, 3, 112, 112))
    assert out.shape == (2, 512, 7, 7)


def test_residual_block_needs_matching_shapes():
    with pytest.raises(ValueError, match="residual"):
        DepthWise(64, 128, 256, 1, residual=True, folded=True)
    with pytest.raises(ValueError, match="residual"):
        DepthWise(64, 64, 128, 2, residual=True, folded=True)


def test_folded_layout_has_conv_biases_and_no_batch_norm_in_the_trunk():
    folded = FrFeature().state_dict()
    unfolded = FaceXZooMbf().state_dict()
    assert "backbone.conv1.conv.bias" in folded and "backbone.conv1.bn.weight" not in folded
    assert "backbone.conv1.conv.bias" not in unfolded and "backbone.conv1.bn.running_var" in unfolded
