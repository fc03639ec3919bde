"""What every method learns about a user from their photos before protecting anything.

The user's faces are found exactly as Chameleon finds them (:func:`p3mask.protect.trainset.build_training_set`:
the identity present in most photos, recognised with the one match model
:data:`p3mask.protect.config.MATCH_MODEL`), cut into regions around the
face, and embedded by every pool model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from p3mask.face.align import warp_to_crop
from p3mask.methods.base import PhotoInput, Protector, load_photos
from p3mask.protect.config import CANONICAL_MAX_FACE_SCALE, CANONICAL_SIZE, CANONICAL_TEMPLATE, MATCH_MODEL
from p3mask.protect.trainset import TrainingSet, build_training_set, model_frames

_CHUNK = 16  # photos per forward pass when embedding


@dataclass
class UserState:
    """A user's faces and clean features.

    Attributes:
        data: the user's face regions (:class:`TrainingSet`) on the method's device.
        reference: ``(D,)`` L2-normalised reference embedding of the user by ``match_model``.
        match_model: model used to recognise the user's face in new photos.
        threshold: its match threshold (cosine).
        features: pool model name -> ``(N, D)`` clean embeddings of the user's faces.
    """

    data: TrainingSet
    reference: torch.Tensor
    match_model: str
    threshold: float
    features: dict[str, torch.Tensor]

    @property
    def count(self) -> int:
        """Number of the user's photos with a usable face."""
        return len(self.data)


@torch.no_grad()
def prepare_user(
    protector: Protector,
    photos: Sequence[PhotoInput],
    match_model: str = MATCH_MODEL,
    max_face_scale: float = CANONICAL_MAX_FACE_SCALE,
) -> UserState:
    """Find the user's face in each photo and embed it with every pool model of ``protector``.

    Raises:
        ValueError: no usable face of the user in any photo.
    """
    images = load_photos(photos)
    models = protector.pool_models()
    matcher = protector.model(match_model)
    threshold = protector.threshold(match_model)
    frames = [(CANONICAL_TEMPLATE, CANONICAL_SIZE), *model_frames(models)]
    names = [f"photo[{i}]" for i in range(len(images))]
    data, reference = build_training_set(images, names, protector.detector, matcher, threshold, frames, max_face_scale)
    data = data.to(protector.device)
    features = {}
    for name, model in models.items():
        matrices = data.matrices(model.template)
        features[name] = torch.cat([
            model(warp_to_crop(data.regions[i:i + _CHUNK], matrices[i:i + _CHUNK], model.input_size))
            for i in range(0, len(data), _CHUNK)
        ])
    return UserState(data, reference.to(protector.device), match_model, threshold, features)
