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


@pytest.mark.parametrize("port", PORTS, ids=lambda p: p.name)
def test_any_batch_unit_embeddings_and_input_gradient(port):
    torch.manual_seed(0)
    model = port().eval()
    x = torch.rand(3, 3, 112, 112, requires_grad=True)
    emb = model(x)
    assert emb.shape == (3, 512)
    torch.testing.assert_close(emb.norm(dim=1), torch.ones(3))
    one = model(x[1:2].detach())
    torch.testing.assert_close(one[0], emb[1].detach(), atol=1e-5, rtol=1e-5)  # per sample, batch-independent
    emb.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="112"):
        model(torch.rand(1, 3, 96, 112))


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
