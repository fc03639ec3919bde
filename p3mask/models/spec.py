"""What the registry knows about each model: how to build it and where its weights come from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from p3mask.models.base import FaceRecognizer

StateDict = dict[str, torch.Tensor]


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the model registry."""

    name: str  # registry name, e.g. "facenet"
    build: Callable[[], FaceRecognizer]  # constructs the architecture only, no weights
    archive: str  # key into p3mask.weights.archives.ARCHIVES
    members: tuple[str, ...]  # files inside the archive that the converter reads, extracted side by side
    convert: Callable[[Path], StateDict]  # local path of members[0] (the others beside it) => state_dict
    embedding_dim: int  # D of the L2-normalised embedding
    input_size: tuple[int, int]  # (H, W) of the aligned crop
    architecture: str  # human-readable architecture name
    licence: str  # licence of the source weights


def port_spec(
    model: type[FaceRecognizer],
    archive: str,
    members: tuple[str, ...],
    convert: Callable[[Path], StateDict],
    architecture: str,
    licence: str,
) -> ModelSpec:
    """Registry entry of a ported model: its name, embedding size and input size are the class's own.

    Args:
        model: the port's class (builds the architecture with no arguments).
        archive: key into :data:`p3mask.weights.archives.ARCHIVES`.
        members: the files inside the archive that ``convert`` reads.
        convert: local path of the first member (the others extracted beside it) -> state_dict that
            loads into ``model()`` with ``strict=True``.
        architecture: human-readable architecture name.
        licence: licence of the source weights.
    """
    return ModelSpec(
        name=model.name, build=model, archive=archive, members=members, convert=convert,
        embedding_dim=model.embedding_dim, input_size=model.input_size, architecture=architecture, licence=licence,
    )
