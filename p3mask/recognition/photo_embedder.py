"""Photo -> detected faces -> per-model aligned crops -> embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from p3mask.face.align import align_faces
from p3mask.face.detect import Detections, FaceDetector
from p3mask.models.base import FaceRecognizer


@dataclass(frozen=True)
class PhotoFaces:
    """The faces found in one photo and their embeddings.

    Attributes:
        detections: the detector's result (largest face first); may be empty.
        embeddings: model name -> (N, D) L2-normalised embeddings, row i for face i.
    """

    detections: Detections
    embeddings: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.detections)


class PhotoEmbedder:
    """Runs the recogniser pipeline a scraper would: detect, align to each model's template, embed.

    Args:
        models: name -> loaded FaceRecognizer.
        detector: face detector; a default YuNet :class:`FaceDetector` when ``None``.
        device: where the models live (crops are moved there).
    """

    def __init__(
        self,
        models: dict[str, FaceRecognizer],
        detector: FaceDetector | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        if not models:
            raise ValueError("PhotoEmbedder needs at least one model")
        self.models = models
        self.detector = detector or FaceDetector()
        self.device = torch.device(device)

    def crops(self, image: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Aligned crops of the faces at ``landmarks`` (N,5,2) for every model: name -> (N,3,h,w) in [0,1]."""
        return {
            name: align_faces(image, landmarks, model.template, model.input_size)[0]
            for name, model in self.models.items()
        }

    @torch.no_grad()
    def embed_landmarks(self, image: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings of the faces at ``landmarks`` (N,5,2) in ``image`` (3,H,W): name -> (N, D) on the CPU."""
        return {
            name: self.models[name](crop.to(self.device)).cpu()
            for name, crop in self.crops(image, landmarks).items()
        }

    def embed_photo(self, image: torch.Tensor) -> PhotoFaces:
        """Detect every face in ``image`` (3,H,W) RGB [0,1] and embed each with every model."""
        detections = self.detector.detect(image)
        if detections.is_empty:
            empty = {name: torch.empty(0, m.embedding_dim) for name, m in self.models.items()}
            return PhotoFaces(detections, empty)
        return PhotoFaces(detections, self.embed_landmarks(image, detections.landmarks))
