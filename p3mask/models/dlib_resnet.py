"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``, Davis King 2017: a
ResNet-34-like metric network cut to 29 convolutions, trained with dlib's ``loss_metric``),
ported to PyTorch.

Source: ``dlib_face_recognition_resnet_model_v1.dat`` in the ``face-recognition-models==0.3.0``
sdist, a float32 dlib DNN file read by :func:`p3mask.weights.dlib_dat.convert_dlib_resnet`. The
layer layout below is the one that file holds (checked layer by layer when converting):

* stem: ``con`` 32 x 7x7 stride 2 (no padding), ``affine``, ReLU, max pool 3x3 stride 2;
* 14 residual units, each ``affine(con(relu(affine(con(x)))))`` added to the shortcut and ReLU'd;
  a down-sampling unit has a 3x3 stride-2 unpadded first ``con`` and a 2x2 stride-2 average-pooled
  shortcut; when the two branches differ in channels or size, dlib adds them zero-padded at the
  far end (``add_prev``), which :func:`add_zero_padded` reproduces;
* global average pool, then a bias-free ``fc`` 256 -> 128.

``affine`` layers are dlib's frozen batch norms: ``gamma * x + beta`` per channel. Module names
follow the dlib layer types (``con``, ``affine``, ``fc``) and their position, see the converter.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from p3mask.models.base import FaceRecognizer
from p3mask.models.layers import Affine
from p3mask.models.spec import port_spec
from p3mask.weights.dlib_dat import convert_dlib_resnet

MEMBER = "face_recognition_models-0.3.0/face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat"

# Average colour that dlib's input_rgb_image_sized<150> layer subtracts (R, G, B; read from the file,
# where it is stored as 122.782, 117.001, 104.298); the converter loads the exact stored values.
INPUT_MEAN = (122.782, 117.001, 104.298)
INPUT_SCALE = 256.0  # input_rgb_image layers divide (pixel - average) by 256 (dlib's to_tensor)
DLIB_AFFINE = ("gamma", "beta")  # parameter names of dlib affine_ layers (gamma * x + beta per channel)
STEM_CHANNELS = 32  # num_filters of the first con_ in the file
# Residual units from the input, as (output channels, stride of the first con_), in file order.
UNITS: tuple[tuple[int, int], ...] = (
    (32, 1), (32, 1), (32, 1),
    (64, 2), (64, 1), (64, 1), (64, 1),
    (128, 2), (128, 1), (128, 1),
    (256, 2), (256, 1), (256, 1),
    (256, 2),
)

# YuNet-order landmarks in dlib's 150x150 chip (get_face_chip_details(shape, size=150, padding=0.25),
# the crop the network was trained on). dlib aligns on its own 5 points (eye corners, nose base), so
# the template was measured: on one photo of each of 2000 random LFW people, dlib's frontal detector +
# shape_predictor_5_face_landmarks gave the chip transform (recovered exactly by extracting
# coordinate ramps with dlib.extract_image_chip), YuNet's landmarks were mapped through it, and the
# mapped points were averaged over the 95% of faces nearest the median (1886 of 1986 detected).
TEMPLATE_150 = (
    (46.67, 44.53),
    (103.26, 45.42),
    (75.15, 77.04),
    (50.79, 101.26),
    (98.82, 101.81),
)


def add_zero_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev`` sum: ``a + b`` after zero-padding both to the larger size in each dimension.

    Padding goes to the far end (more channels, rows at the bottom, columns at the right), so
    element ``[n, c, y, x]`` of the result is the sum of the elements of ``a`` and ``b`` at that index,
    a missing one counting as zero.

    Args:
        a: ``(B, C1, H1, W1)``.
        b: ``(B, C2, H2, W2)``.

    Returns:
        ``(B, max(C1, C2), max(H1, H2), max(W1, W2))``.
    """
    size = [max(p, q) for p, q in zip(a.shape[1:], b.shape[1:])]

    def pad(t: torch.Tensor) -> torch.Tensor:
        c, h, w = t.shape[1:]
        return F.pad(t, (0, size[2] - w, 0, size[1] - h, 0, size[0] - c))

    return pad(a) + pad(b)


def dlib_conv(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.Conv2d:
    """A dlib ``con_`` with default padding: ``kernel // 2`` when ``stride == 1``, else none."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride, padding=kernel // 2 if stride == 1 else 0)


class ResidualUnit(nn.Module):
    """One residual unit of the dlib face ResNet (``ares`` or ``ares_down`` in dlib's example).

    Args:
        in_ch: input channels.
        out_ch: output channels.
        stride: 1 (identity shortcut) or 2 (2x2 average-pooled shortcut, unpadded stride-2 ``con1``).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.con1 = dlib_conv(in_ch, out_ch, 3, stride)
        self.affine1 = Affine(out_ch, DLIB_AFFINE)
        self.con2 = dlib_conv(out_ch, out_ch, 3, 1)
        self.affine2 = Affine(out_ch, DLIB_AFFINE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, in_ch, H, W)`` -> ``(B, out_ch, H', W')`` (``H' = H`` for stride 1)."""
        y = self.affine2(self.con2(F.relu(self.affine1(self.con1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.stride != 1 else x
        return F.relu(add_zero_padded(y, shortcut))


class DlibResNet(FaceRecognizer):
    """dlib face ResNet 128-D embedder: ``(B, 3, 150, 150)`` RGB [0, 1] aligned chips -> ``(B, 128)``.

    dlib compares faces by Euclidean distance of the raw descriptors (same person below 0.6, the
    ``dist_thresh`` of the file's ``loss_metric_``); :meth:`embed` returns those raw descriptors and
    ``forward`` their L2-normalised version, like every model of the zoo.
    """

    name = "dlib"
    input_size = (150, 150)
    embedding_dim = 128
    template = TEMPLATE_150

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("input_mean", torch.tensor(INPUT_MEAN))
        self.con1 = dlib_conv(3, STEM_CHANNELS, 7, 2)
        self.affine1 = Affine(STEM_CHANNELS, DLIB_AFFINE)
        channels, blocks = STEM_CHANNELS, []
        for out_ch, stride in UNITS:
            blocks.append(ResidualUnit(channels, out_ch, stride))
            channels = out_ch
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(channels, self.embedding_dim, bias=False)

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> ``(pixel - average colour) / 256`` with pixels in 0..255."""
        return (x01 * 255.0 - self.input_mean[:, None, None]) / INPUT_SCALE

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, 150, 150)`` preprocessed -> raw ``(B, 128)`` dlib descriptors (not normalised)."""
        x = F.max_pool2d(F.relu(self.affine1(self.con1(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))


SPEC = port_spec(
    DlibResNet, "face-recognition-models", (MEMBER,), convert_dlib_resnet,
    "dlib face-recognition ResNet (29 conv layers, affine-frozen BN, 128-D metric embedding)",
    "CC0-1.0 (dlib model weights, face_recognition_models package)",
)
