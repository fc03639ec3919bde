"""faceplugin's ``fr_feature``: a MobileFaceNet in the FaceX-Zoo layout, 512-D.

Source: ``package/model/fr_feature.onnx`` in npm ``faceplugin-face-recognition-js@0.0.1``, a float
ONNX export (opset 9) with every batch norm folded into a conv bias. The graph ends in a
``Reshape`` to ``[1, -1]``, so it only takes batches of one; this port flattens per sample
and takes any batch. Weights are read off the initialisers by
:func:`p3mask.weights.onnx_float.convert_onnx_in_order`. Layout: :mod:`p3mask.models.mbf` with
:data:`~p3mask.models.mbf.FACEXZOO_STAGES` and the global-depthwise head (the final linear layer is
a 1x1 conv in the graph).
"""

from __future__ import annotations

import torch

from p3mask.models.mbf import FACEXZOO_STAGES, GdcHead, MbfLayout, MbfRecognizer
from p3mask.models.spec import port_spec
from p3mask.weights.onnx_float import convert_onnx_in_order

MEMBER = "package/model/fr_feature.onnx"
LICENCE = "MIT (faceplugin-face-recognition-js package; training data not stated)"

LAYOUT = MbfLayout(stem=64, stem_groups=64, stages=FACEXZOO_STAGES, folded=True)
INPUT_SHIFT = 127.0  # preprocessFeature in package/lib/fr_feature.js: (pixel - 127) / 128 on RGB
INPUT_SCALE = 128.0


class FrFeature(MbfRecognizer):
    """``fr_feature``: ``(B, 3, 112, 112)`` RGB [0, 1] ArcFace-aligned crops -> ``(B, 512)``."""

    name = "fr_feature"

    def __init__(self) -> None:
        super().__init__(LAYOUT, GdcHead(self.embedding_dim, folded=True))

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> RGB ``(255 x - 127) / 128``."""
        return (x01 * 255.0 - INPUT_SHIFT) / INPUT_SCALE


SPEC = port_spec(
    FrFeature, "faceplugin-fr", (MEMBER,), lambda path: convert_onnx_in_order(path, FrFeature()),
    "MobileFaceNet (faceplugin fr_feature, FaceX-Zoo layout)", LICENCE,
)
