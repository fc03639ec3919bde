"""Embedding probe photos the way a scraper would, for a known face.

A scraper re-detects faces in every photo it gets. To score protection for one particular face (the
user's), the detection nearest to where that face is known to be is used
(:func:`p3mask.recognition.near_landmarks`); when the detector misses it (protection or a transform can
do that), the known landmarks are used instead and the fallback is counted, so that a missed detection is
never counted as a protection success.
"""

from __future__ import annotations

import torch

from p3mask.face.detect import FaceDetector
from p3mask.recognition import FacePipeline, near_landmarks, nearest_face

__all__ = ["ProbeEmbedder", "nearest_face"]


class ProbeEmbedder:
    """Embeds one known face per photo with every model, re-detecting it first (a :class:`FacePipeline`
    with the :func:`~p3mask.recognition.near_landmarks` choice and a count of missed re-detections).

    Args:
        pipeline: the :class:`FacePipeline` that detects, aligns and embeds (its models and device).

    Attributes:
        fallbacks: number of photos so far in which the known face was not re-detected.
        photos: number of photos embedded so far.

    Example:
        >>> embedder = ProbeEmbedder(FacePipeline(models, detector, device))  # doctest: +SKIP
    """

    def __init__(self, pipeline: FacePipeline) -> None:
        self.pipeline = pipeline
        self.fallbacks = 0
        self.photos = 0

    @property
    def detector(self) -> FaceDetector:
        """The pipeline's face detector."""
        return self.pipeline.detector

    def locate(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Landmarks ``(5, 2)`` of the face at ``known`` as re-detected in ``image`` (or ``known``)."""
        found, k = self.pipeline.locate(image, near_landmarks(known))
        self.photos += 1
        if k is None:
            self.fallbacks += 1
            return known
        return found.landmarks[k]

    def embed_at(self, image: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings ``(D,)`` of the face at ``landmarks`` ``(5, 2)`` for every model."""
        return {name: emb[0] for name, emb in self.pipeline.embed_at(image, landmarks[None]).items()}

    def embed(self, image: torch.Tensor, known: torch.Tensor) -> dict[str, torch.Tensor]:
        """Re-detect the face known to be at ``known`` ``(5, 2)`` in ``image`` and embed it."""
        return self.embed_at(image, self.locate(image, known))

    def embed_many(self, images: list[torch.Tensor], knowns: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Re-detect and embed one known face per photo, batched per model: name -> ``(P, D)``."""
        if len(images) != len(knowns):
            raise ValueError(f"expected one landmark set per photo, got {len(knowns)} for {len(images)} photos")
        return self.pipeline.embed_many(images, [self.locate(img, known) for img, known in zip(images, knowns)])
