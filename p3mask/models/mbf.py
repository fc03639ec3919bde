"""The MobileFaceNet family in the InsightFace / FaceX-Zoo layout, shared by three ports of the zoo.

Chen et al., "MobileFaceNets" (CCBR 2018) as laid out by the PyTorch training code of InsightFace
(``w600k_mbf``) and FaceX-Zoo (``facexzoo_mbf``, and the same shapes in faceplugin's ``fr_feature``):

* ``conv1``: 3x3/2 conv + PReLU; ``conv2_dw``: 3x3 grouped conv + PReLU;
* ``conv_23``, ``conv_34``, ``conv_45``: stride-2 :class:`DepthWise` blocks, each followed by a
  :class:`Residual` stage (``conv_3``, ``conv_4``, ``conv_5``) of stride-1 blocks with identity shortcuts;
* ``conv_6_sep``: 1x1 conv to 512 + PReLU; then one of two heads (:class:`GdcHead` or :class:`ReduceHead`).

Every conv is a :class:`ConvUnit` named like FaceX-Zoo's ``Conv_block``/``Linear_block``
(``conv``, ``bn``, ``prelu``). With ``folded=True`` batch norm is already folded into the conv bias
(the ONNX exports); with ``folded=False`` the conv has no bias and a ``BatchNorm2d`` follows (the
pickled FaceX-Zoo model). Padding is PyTorch's symmetric padding, as in all three sources.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from p3mask.models.base import ARCFACE_112, FaceRecognizer, Template

BN_EPS = 1e-5  # PyTorch's default, used by all three training codes (w600k's graph: 9.99999975e-06)
SEP_CHANNELS = 512  # channels of conv_6_sep in all three sources
FEATURE_SIDE = 7  # 112 / 2**4 after conv1 and the three stride-2 blocks


class ConvUnit(nn.Module):
    """Conv, batch norm (separate or folded into the bias), optional PReLU.

    Args:
        cin: input channels.
        cout: output channels.
        kernel: square kernel size; padding is ``kernel // 2`` when ``pad`` else 0.
        stride: square stride.
        groups: conv groups.
        prelu: per-channel PReLU after the conv.
        folded: conv with bias and no batch norm (BN folded in) if True, else bias-free conv + BatchNorm2d.
        pad: pad by ``kernel // 2`` (3x3 convs) or not (1x1 convs, the 7x7 global depthwise conv).
    """

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 prelu: bool = True, folded: bool = True, pad: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2 if pad else 0, groups=groups,
                              bias=folded)
        self.bn = None if folded else nn.BatchNorm2d(cout, eps=BN_EPS)
        self.prelu = nn.PReLU(cout) if prelu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, H, W)`` -> ``(B, cout, H', W')``."""
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.prelu(x) if self.prelu is not None else x


class DepthWise(nn.Module):
    """1x1 expand + PReLU, 3x3 depthwise + PReLU, linear 1x1 project; optional identity shortcut.

    Args:
        cin: input channels.
        cout: output channels.
        hidden: channels of the expansion (the depthwise conv's groups).
        stride: stride of the depthwise conv.
        residual: add the input to the output (stride 1 and ``cin == cout`` only).
        folded: see :class:`ConvUnit`.
    """

    def __init__(self, cin: int, cout: int, hidden: int, stride: int, residual: bool, folded: bool) -> None:
        super().__init__()
        if residual and (stride != 1 or cin != cout):
            raise ValueError(f"a residual block needs stride 1 and cin == cout, got {stride}, {cin} -> {cout}")
        self.conv = ConvUnit(cin, hidden, folded=folded)
        self.conv_dw = ConvUnit(hidden, hidden, 3, stride, groups=hidden, folded=folded)
        self.project = ConvUnit(hidden, cout, prelu=False, folded=folded)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, cin, H, W)`` -> ``(B, cout, H / stride, W / stride)``."""
        y = self.project(self.conv_dw(self.conv(x)))
        return x + y if self.residual else y


class Residual(nn.Module):
    """``blocks`` stride-1 residual :class:`DepthWise` blocks of width ``channels`` (FaceX-Zoo's ``Residual``)."""

    def __init__(self, channels: int, blocks: int, hidden: int, folded: bool) -> None:
        super().__init__()
        self.model = nn.Sequential(*(DepthWise(channels, channels, hidden, 1, True, folded) for _ in range(blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        return self.model(x)


class GdcHead(nn.Module):
    """Global depthwise 7x7 conv (linear), then a 512 -> D linear layer and a batch norm.

    ``folded=True`` (faceplugin's graph): the linear layer is a 1x1 conv with the batch norm folded into
    its bias. ``folded=False`` (FaceX-Zoo): ``conv_6_dw`` (conv + BN), bias-free ``linear`` and ``bn``.
    """

    def __init__(self, dim: int, folded: bool) -> None:
        super().__init__()
        self.folded = folded
        self.conv_6_dw = ConvUnit(SEP_CHANNELS, SEP_CHANNELS, FEATURE_SIDE, groups=SEP_CHANNELS, prelu=False,
                                  folded=folded, pad=False)
        if folded:
            self.linear = ConvUnit(SEP_CHANNELS, dim, prelu=False, folded=True)
        else:
            self.linear = nn.Linear(SEP_CHANNELS, dim, bias=False)
            self.bn = nn.BatchNorm1d(dim, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 512, 7, 7)`` -> ``(B, D)``."""
        x = self.conv_6_dw(x)
        if self.folded:
            return self.linear(x).flatten(1)
        return self.bn(self.linear(x.flatten(1)))


class ReduceHead(nn.Module):
    """InsightFace's head of ``w600k_mbf``: 1x1 conv to ``reduced`` channels + PReLU, flatten, linear, BN.

    Args:
        dim: embedding size D.
        reduced: channels of the 1x1 conv (64 in ``w600k_mbf``); the linear layer sees ``reduced * 7 * 7``.
    """

    def __init__(self, dim: int, reduced: int) -> None:
        super().__init__()
        self.conv = ConvUnit(SEP_CHANNELS, reduced, folded=True)
        self.fc = nn.Linear(reduced * FEATURE_SIDE**2, dim)
        self.features = nn.BatchNorm1d(dim, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 512, 7, 7)`` -> ``(B, D)``."""
        return self.features(self.fc(self.conv(x).flatten(1)))


@dataclass(frozen=True)
class MbfLayout:
    """Widths of one member of the family (read off the source's weight shapes).

    Attributes:
        stem: channels of ``conv1`` and ``conv2_dw``.
        stem_groups: groups of ``conv2_dw`` (equal to ``stem`` for a true depthwise conv; InsightFace
            uses 64 at ``stem == 128``).
        stages: per stride-2 block ``(out channels, expansion of the stride-2 block, residual blocks,
            expansion of the residual blocks)``.
        folded: batch norm folded into the conv biases (ONNX exports) or kept (PyTorch pickle).
    """

    stem: int
    stem_groups: int
    stages: tuple[tuple[int, int, int, int], ...]
    folded: bool


# FaceX-Zoo's MobileFaceNet (and faceplugin's fr_feature): 64 -> 64 -> 128 -> 128 channels.
FACEXZOO_STAGES = ((64, 128, 4, 128), (128, 256, 6, 256), (128, 512, 2, 256))
# InsightFace's MobileFaceNet at width scale 2 (w600k_mbf): 128 -> 128 -> 256 -> 256 channels.
INSIGHTFACE_STAGES = ((128, 128, 4, 128), (256, 256, 6, 256), (256, 512, 2, 256))


class MbfBackbone(nn.Module):
    """Stem, three stride-2 blocks with their residual stages, and ``conv_6_sep``:
    ``(B,3,112,112)`` -> ``(B,512,7,7)``."""

    def __init__(self, layout: MbfLayout) -> None:
        super().__init__()
        folded = layout.folded
        self.conv1 = ConvUnit(3, layout.stem, 3, 2, folded=folded)
        self.conv2_dw = ConvUnit(layout.stem, layout.stem, 3, 1, groups=layout.stem_groups, folded=folded)
        cin = layout.stem
        names = (("conv_23", "conv_3"), ("conv_34", "conv_4"), ("conv_45", "conv_5"))
        self._order = ["conv1", "conv2_dw"]
        for (down, stage), (cout, hidden_down, blocks, hidden) in zip(names, layout.stages, strict=True):
            self.add_module(down, DepthWise(cin, cout, hidden_down, 2, False, folded))
            self.add_module(stage, Residual(cout, blocks, hidden, folded))
            self._order += [down, stage]
            cin = cout
        self.conv_6_sep = ConvUnit(cin, SEP_CHANNELS, folded=folded)
        self._order.append("conv_6_sep")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(B, 3, 112, 112)`` -> ``(B, 512, 7, 7)``."""
        for name in self._order:
            x = getattr(self, name)(x)
        return x


class MbfRecognizer(FaceRecognizer):
    """A family member: :class:`MbfBackbone` then a head; subclasses set the names and :meth:`preprocess`.

    Args:
        layout: widths of the backbone.
        head: :class:`GdcHead` or :class:`ReduceHead` producing the unnormalised ``(B, D)`` features.
    """

    input_size = (112, 112)
    embedding_dim = 512
    # All three sources align onto the ArcFace 112x112 five-point template (InsightFace's norm_crop,
    # FaceX-Zoo's image_cropper arcface_src, faceplugin's REFERENCE_FACIAL_POINTS).
    template: Template = ARCFACE_112

    def __init__(self, layout: MbfLayout, head: nn.Module) -> None:
        super().__init__()
        self.backbone = MbfBackbone(layout)
        self.head = head

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Preprocessed ``(B, 3, 112, 112)`` -> unnormalised ``(B, 512)``; any batch size."""
        return self.head(self.backbone(x))


__all__ = ["MbfRecognizer", "ConvUnit", "DepthWise", "FACEXZOO_STAGES", "GdcHead", "INSIGHTFACE_STAGES", "MbfBackbone",
           "MbfLayout", "ReduceHead", "Residual"]
