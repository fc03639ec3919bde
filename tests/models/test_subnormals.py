"""Subnormal weights are flushed at load time: same outputs, and no CPU slow path."""

import pytest
import torch
from torch import nn

from p3mask.models import load_model
from p3mask.models.registry import flush_subnormals

TINY = torch.finfo(torch.float32).tiny  # smallest normal float32, 1.18e-38


def _subnormal_count(model: nn.Module) -> int:
    return sum(int(((t.abs() < TINY) & (t != 0)).sum()) for t in [*model.parameters(), *model.buffers()]
               if t.is_floating_point())


def test_flush_zeroes_only_subnormals_and_keeps_the_output():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.PReLU(8)).eval()
    with torch.no_grad():
        model[0].weight[0, 0, 0, :] = torch.tensor([TINY / 4, -TINY / 1000, TINY])  # two subnormals, one normal
        model[1].running_mean[3] = TINY / 2  # a buffer too
    normal_before = model[0].weight[0, 0, 0, 2].item()
    x = torch.rand(2, 3, 9, 9)
    with torch.no_grad():
        before = model(x)
        assert flush_subnormals(model) == 3
        after = model(x)
    assert _subnormal_count(model) == 0
    assert model[0].weight[0, 0, 0, 2].item() == normal_before  # the smallest normal number is kept
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    assert flush_subnormals(model) == 0


@pytest.mark.weights
def test_loaded_fr_feature_has_no_subnormal_weights():
    # Its ONNX export holds 8,938 subnormal weights; load_model flushes them.
    assert _subnormal_count(load_model("fr_feature")) == 0
