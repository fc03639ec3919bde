"""Detect, align, embed: the pipeline a recogniser runs on a photo, written once for all of p3mask.

A photo ``(3, H, W)`` RGB in [0, 1] goes through YuNet detection (:class:`~p3mask.face.detect.FaceDetector`),
5-point similarity alignment to each model's own template and input size
(:func:`~p3mask.face.align.align_faces`) and the model, which returns L2-normalised embeddings.

Which face of a photo is the one wanted is an explicit argument, a :data:`Pick`: a function
``(detections, image) -> index or None``. The choices used across p3mask:

- :func:`largest_face`: the largest box (a photo of one person; the gallery, the demo, Fawkes' targets);
- :func:`central_face`: the box centre nearest the photo centre (LFW's framing: the verification bench);
- :func:`near_landmarks`: the detection nearest known landmarks (re-finding a known face after a change);
- :func:`most_similar_face`: the face whose embedding is closest to a reference (the user's face).

Example:
    >>> pipeline = FacePipeline({"sface": load_model("sface")})  # doctest: +SKIP
    >>> landmarks = pipeline.locate(image, largest_face)  # (5, 2) or None  # doctest: +SKIP
    >>> pipeline.embed_at(image, landmarks[None])["sface"].shape  # doctest: +SKIP
    torch.Size([1, 128])
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from p3mask.face.align import align_faces
from p3mask.face.detect import Detections, FaceDetector
from p3mask.models.base import FaceRecognizer

BATCH = 32  # faces per model call in :meth:`FacePipeline.embed_many`
# A detection is a known face when its landmarks lie, on average, within this fraction of the known
# inter-ocular distance from the known landmarks.
MATCH_FRACTION = 0.5

Pick = Callable[[Detections, torch.Tensor], "int | None"]
"""Chooses one face of a photo: ``(detections, image (3, H, W)) -> index into detections, or None``."""


def largest_face(detections: Detections, image: torch.Tensor) -> int | None:
    """The largest detected face (detections come largest box first); ``None`` when there is none."""
    return None if detections.is_empty else 0


def central_face(detections: Detections, image: torch.Tensor) -> int | None:
    """The detection whose box centre is nearest the centre of ``image`` ``(3, H, W)``.

    LFW photos are framed on their subject; other people in the background can score higher or be
    larger, so the LFW protocols' face is the central one.
    """
    if detections.is_empty:
        return None
    height, width = image.shape[-2:]
    centres = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2
    offset = centres - torch.tensor([width / 2, height / 2])
    return int(offset.norm(dim=1).argmin())


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


def near_landmarks(known: torch.Tensor) -> Pick:
    """A :data:`Pick` of the face at ``known`` ``(5, 2)`` landmarks (see :func:`nearest_face`)."""
    return lambda detections, image: nearest_face(detections.landmarks, known)


@torch.no_grad()
def face_similarities(
    image: torch.Tensor, detections: Detections, matcher: FaceRecognizer, reference: torch.Tensor
) -> torch.Tensor:
    """``(N,)`` cosine of every detected face's ``matcher`` embedding to ``reference`` ``(D,)`` (unit norm).

    The crops are aligned and embedded where ``reference`` lives; the result is on that device.
    """
    device = reference.device
    if detections.is_empty:
        return torch.zeros(0, device=device)
    crops, _ = align_faces(image.to(device), detections.landmarks.to(device), matcher.template, matcher.input_size)
    return matcher(crops) @ reference


def most_similar_face(matcher: FaceRecognizer, reference: torch.Tensor, threshold: float) -> Pick:
    """A :data:`Pick` of the face most similar to ``reference`` by ``matcher``, if its cosine reaches ``threshold``."""

    def pick(detections: Detections, image: torch.Tensor) -> int | None:
        cos = face_similarities(image, detections, matcher, reference)
        if cos.numel() == 0:
            return None
        best = int(cos.argmax())
        return best if float(cos[best]) >= threshold else None

    return pick


@dataclass(frozen=True)
class PhotoFaces:
    """The faces found in one photo and their embeddings.

    Attributes:
        detections: the detector's result (largest face first); may be empty.
        embeddings: model name -> ``(N, D)`` L2-normalised embeddings on the CPU, row ``i`` for face ``i``.
    """

    detections: Detections
    embeddings: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return len(self.detections)


class FacePipeline:
    """Detect, align to each model's template, embed (see the module docstring).

    Args:
        models: name -> loaded :class:`~p3mask.models.base.FaceRecognizer` (empty: a pipeline that only detects).
        detector: face detector; a default YuNet :class:`FaceDetector`, built on first use, when ``None``.
        device: where the models run (crops are aligned on the CPU and moved there).

    Attributes:
        seconds: model name -> seconds spent in that model's forward passes (the models alone).
        faces: model name -> faces embedded by that model.
    """

    def __init__(
        self,
        models: Mapping[str, FaceRecognizer],
        detector: FaceDetector | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.models = dict(models)
        self._detector = detector
        self.device = torch.device(device)
        self.seconds = {name: 0.0 for name in self.models}
        self.faces = {name: 0 for name in self.models}

    @property
    def detector(self) -> FaceDetector:
        """The face detector (built on first use)."""
        if self._detector is None:
            self._detector = FaceDetector()
        return self._detector

    def locate(self, image: torch.Tensor, pick: Pick) -> tuple[Detections, int | None]:
        """Detect the faces of ``image`` ``(3, H, W)`` and choose one with ``pick``.

        Returns:
            ``(detections, index)``: every detection and the index ``pick`` chose (``None``: none).
        """
        detections = self.detector.detect(image)
        return detections, pick(detections, image)

    def crops(self, image: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Aligned crops of the faces at ``landmarks`` ``(N, 5, 2)``: name -> ``(N, 3, h, w)`` in [0, 1]."""
        return {
            name: align_faces(image.float(), landmarks.float(), model.template, model.input_size)[0]
            for name, model in self.models.items()
        }

    @torch.no_grad()
    def embed_crops(self, crops: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Embeddings of aligned crops, name -> ``(N, 3, h, w)``: name -> ``(N, D)`` on the CPU (timed)."""
        out = {}
        for name, batch in crops.items():
            tic = time.perf_counter()
            out[name] = self.models[name](batch.to(self.device)).cpu()
            self.seconds[name] += time.perf_counter() - tic
            self.faces[name] += len(batch)
        return out

    def embed_at(self, image: torch.Tensor, landmarks: torch.Tensor) -> dict[str, torch.Tensor]:
        """Embeddings of the faces at ``landmarks`` ``(N, 5, 2)`` in ``image`` ``(3, H, W)``: name -> ``(N, D)``."""
        return self.embed_crops(self.crops(image, landmarks))

    def embed_many(
        self, images: Sequence[torch.Tensor], landmarks: Sequence[torch.Tensor], batch: int = BATCH
    ) -> dict[str, torch.Tensor]:
        """One face per photo, ``landmarks[i]`` ``(5, 2)`` in ``images[i]``, embedded ``batch`` faces per
        model call (default :data:`BATCH`): name -> ``(P, D)`` on the CPU, row ``i`` for photo ``i``."""
        if len(images) != len(landmarks):
            raise ValueError(f"expected one landmark set per photo, got {len(landmarks)} for {len(images)} photos")
        parts: dict[str, list[torch.Tensor]] = {name: [] for name in self.models}
        for start in range(0, len(images), batch):
            chunk = zip(images[start:start + batch], landmarks[start:start + batch])
            crops = [self.crops(image, lm[None]) for image, lm in chunk]
            embedded = self.embed_crops({name: torch.cat([c[name] for c in crops]) for name in self.models})
            for name, emb in embedded.items():
                parts[name].append(emb)
        return {
            name: torch.cat(parts[name]) if parts[name] else torch.zeros(0, model.embedding_dim)
            for name, model in self.models.items()
        }

    def embed_photo(self, image: torch.Tensor) -> PhotoFaces:
        """Detect every face in ``image`` ``(3, H, W)`` RGB [0, 1] and embed each with every model."""
        detections = self.detector.detect(image)
        if detections.is_empty:
            return PhotoFaces(detections, {name: torch.zeros(0, m.embedding_dim) for name, m in self.models.items()})
        return PhotoFaces(detections, self.embed_at(image, detections.landmarks))
