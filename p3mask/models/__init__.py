"""The face-recognition model zoo: native PyTorch ports of pretrained models."""

from p3mask.models.base import FaceRecognizer
from p3mask.models.registry import (
    MODELS,
    available_models,
    get_spec,
    is_ready,
    load_model,
    load_models,
    pull_model,
    weights_path,
)

__all__ = [
    "MODELS",
    "FaceRecognizer",
    "available_models",
    "get_spec",
    "is_ready",
    "load_model",
    "load_models",
    "pull_model",
    "weights_path",
]
