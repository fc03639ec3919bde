"""What the registry knows about each model: how to build it and where its weights come from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from p3mask.models.base import FaceRecognizer


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the model registry."""

    name: str  # registry name, e.g. "facenet"
    build: Callable[[], FaceRecognizer]  # constructs the architecture only, no weights
    archive: str  # key into p3mask.weights.archives.ARCHIVES
    members: tuple[str, ...]  # files inside the archive that the converter reads
    convert: Callable[[dict[str, Path]], dict[str, torch.Tensor]]  # member -> local path  =>  state_dict
    embedding_dim: int  # D of the L2-normalised embedding
    input_size: tuple[int, int]  # (H, W) of the aligned crop
    architecture: str  # human-readable architecture name
    licence: str  # licence of the source weights
