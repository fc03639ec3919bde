"""Embedding probe photos the way a scraper would, for a known face.

A scraper re-detects faces in every photo it gets. To score protection for one particular face (the
user's), the detection nearest to where that face is known to be is used; when the detector misses it
(protection or a transform can do that), the known landmarks are used instead and the fallback is
counted, so that a missed detection is never counted as a protection success.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from p3mask.face.align import align_faces
from p3mask.face.detect import FaceDetector
from p3mask.models.base import FaceRecognizer

# A detection is the known face when its landmarks lie, on average, within this fraction of the
# known inter-ocular distance from the known landmarks.
MATCH_FRACTION = 0.5
BATCH = 32  # faces per model call in :meth:`ProbeEmbedder.embed_many`


def nearest_face(candidates: torch.Tensor, known: torch.Tensor) -> int | None:
    """Index of the candidate ``(N, 5, 2)`` whose landmarks are nearest ``known`` ``(5, 2)``, if near enough.

    Returns:
        The index, or ``None`` when no candidate is within :data:`MATCH_FRACTION` of the known
        inter-ocular distance (mean landmark distance).
    """
    if candidates.shape[0] == 0:
        return None
    eyes = float((known[1] - known[0]).norm())
    dist = (candidates - known[None]).norm(dim=2).mean(dim=1)
    best = int(dist.argmin())
    return best if float(dist[best]) <= MATCH_FRACTION * max(eyes, 1e-6) else None


@dataclass
class ProbeEmbedder:
    """Embeds one known face per photo with every model, re-detecting it first.

    Args:
        models: name -> loaded recogniser.
        detector: face detector (default YuNet).
        device: where the models run.

    Attributes:
        fallbacks: number of photos so far in which the known face was not re-detected.
        photos: number of photos embedded so far.
    """

    models: dict[str, FaceRecognizer]
    detector: FaceDetector | None = None
    device: str | torch.device = "cpu"
    fallbacks: int = 0
    photos: int = 0

    def __post_init__(self) -> None:
        self.detector = self.detector or FaceDetector()

    def locate(self, image: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """Landmarks ``(5, 2)`` of the face at ``known`` as re-detected in ``image`` (or ``known``)."""
        found = self.detector.detect(image)
        k = nearest_face(found.landmarks, known)
        self.photos += 1
        if k is None:
            self.fallbacks += 1
            return known
        return found.landmarks[k]

    @torch.no_grad()
    def embed_at(self, image: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings ``(D,)`` of the face at ``landmarks`` ``(5, 2)`` for every model."""
        out = {}
        for name, model in self.models.items():
            crop = align_faces(image.float(), landmarks[None].float(), model.template, model.input_size)[0]
            out[name] = model(crop.to(self.device))[0].cpu()
        return out

    def embed(self, image: torch.Tensor, known: torch.Tensor) -> dict[str, torch.Tensor]:
        """Re-detect the face known to be at ``known`` ``(5, 2)`` in ``image`` and embed it."""
        return self.embed_at(image, self.locate(image, known))

    @torch.no_grad()
    def embed_many(self, images: list[torch.Tensor], knowns: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Re-detect and embed one known face per photo, batched per model: name -> ``(P, D)``."""
        if len(images) != len(knowns):
            raise ValueError(f"expected one landmark set per photo, got {len(knowns)} for {len(images)} photos")
        spots = [self.locate(img, known) for img, known in zip(images, knowns)]
        out = {}
        for name, model in self.models.items():
            if not images:
                out[name] = torch.zeros(0, model.embedding_dim)
                continue
            parts = []
            for start in range(0, len(images), BATCH):
                crops = torch.cat([
                    align_faces(img.float(), lm[None].float(), model.template, model.input_size)[0]
                    for img, lm in zip(images[start:start + BATCH], spots[start:start + BATCH])
                ])
                parts.append(model(crops.to(self.device)).cpu())
            out[name] = torch.cat(parts)
        return out
