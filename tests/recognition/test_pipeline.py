"""The one detect-align-embed pipeline: face choices on hand-made detections, embedding on toy models."""

import pytest
import torch

from p3mask.face.align import align_faces
from p3mask.face.detect import Detections
from p3mask.models.base import FaceRecognizer
from p3mask.recognition import (
    FacePipeline,
    central_face,
    largest_face,
    most_similar_face,
    near_landmarks,
    nearest_face,
)

TOY_TEMPLATE = ((10.94, 14.77), (21.01, 14.71), (16.01, 20.50), (11.87, 26.39), (20.21, 26.34))  # ArcFace x 32/112


class _Toy(FaceRecognizer):
    """A seeded linear recogniser with the FaceRecognizer interface (32x32 in, 16-D out)."""

    input_size = (32, 32)
    embedding_dim = 16
    template = TOY_TEMPLATE

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.net = torch.nn.Linear(3 * 32 * 32, 16)
        with torch.no_grad():
            self.net.weight.copy_(torch.randn(16, 3 * 32 * 32, generator=torch.Generator().manual_seed(seed)))

    def preprocess(self, x01: torch.Tensor) -> torch.Tensor:
        return x01 * 2 - 1

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1))


def toy_models(names):
    return {n: _Toy(i).eval().requires_grad_(False) for i, n in enumerate(names)}


def _detections(boxes) -> Detections:
    """Detections of square faces at ``boxes`` with landmarks of the toy template inside each box."""
    boxes = torch.tensor(boxes, dtype=torch.float32)
    template = torch.tensor(TOY_TEMPLATE) / 32.0
    side = (boxes[:, 2] - boxes[:, 0])[:, None, None]
    landmarks = boxes[:, None, :2] + template[None] * side
    return Detections(boxes, landmarks, torch.ones(len(boxes)))


class _FixedDetector:
    def __init__(self, detections: Detections) -> None:
        self.detections = detections

    def detect(self, image):
        return self.detections


IMAGE = torch.rand(3, 100, 200, generator=torch.Generator().manual_seed(0))
# largest first (as the detector orders them), the small one at the photo centre
FACES = _detections([[0, 0, 60, 60], [85, 35, 115, 65], [150, 60, 190, 100]])


def test_face_choices_pick_different_faces():
    assert largest_face(FACES, IMAGE) == 0
    assert central_face(FACES, IMAGE) == 1
    assert near_landmarks(FACES.landmarks[2] + 1.0)(FACES, IMAGE) == 2
    assert largest_face(Detections.empty(), IMAGE) is None
    assert central_face(Detections.empty(), IMAGE) is None


def test_nearest_face_needs_landmarks_within_half_the_eye_distance():
    known = FACES.landmarks[1]
    eyes = float((known[1] - known[0]).norm())
    assert nearest_face(FACES.landmarks, known + 0.4 * eyes / 2**0.5) == 1
    assert nearest_face(FACES.landmarks, known + 0.6 * eyes / 2**0.5) is None
    assert nearest_face(torch.zeros(0, 5, 2), known) is None


def test_embed_at_matches_aligning_and_embedding_by_hand():
    models = toy_models(("a", "b"))
    pipeline = FacePipeline(models, _FixedDetector(FACES))
    got = pipeline.embed_at(IMAGE, FACES.landmarks)
    for name, model in models.items():
        crops, _ = align_faces(IMAGE, FACES.landmarks, model.template, model.input_size)
        torch.testing.assert_close(got[name], model(crops), rtol=0, atol=0)
    assert pipeline.faces == {"a": 3, "b": 3}
    assert all(s > 0 for s in pipeline.seconds.values())


def test_embed_many_is_row_for_row_the_single_photo_embedding():
    pipeline = FacePipeline(toy_models(("a",)), _FixedDetector(FACES))
    images = [IMAGE, IMAGE.flip(2), IMAGE.flip(1)]
    many = pipeline.embed_many(images, list(FACES.landmarks), batch=2)["a"]
    single = torch.cat([pipeline.embed_at(img, lm[None])["a"] for img, lm in zip(images, FACES.landmarks)])
    torch.testing.assert_close(many, single, rtol=1e-5, atol=1e-6)
    assert pipeline.embed_many([], [])["a"].shape == (0, 16)
    with pytest.raises(ValueError, match="one landmark set per photo"):
        pipeline.embed_many(images, list(FACES.landmarks)[:2])


def test_most_similar_face_finds_the_reference_face_and_refuses_below_the_threshold():
    models = toy_models(("a",))
    pipeline = FacePipeline(models, _FixedDetector(FACES))
    reference = pipeline.embed_at(IMAGE, FACES.landmarks[2:3])["a"][0]
    faces, index = pipeline.locate(IMAGE, most_similar_face(models["a"], reference, threshold=0.999))
    assert faces is FACES and index == 2
    assert most_similar_face(models["a"], reference, threshold=1.01)(FACES, IMAGE) is None


def test_embed_photo_embeds_every_face_and_handles_none():
    pipeline = FacePipeline(toy_models(("a",)), _FixedDetector(FACES))
    faces = pipeline.embed_photo(IMAGE)
    assert len(faces) == 3 and faces.embeddings["a"].shape == (3, 16)
    empty = FacePipeline(toy_models(("a",)), _FixedDetector(Detections.empty())).embed_photo(IMAGE)
    assert len(empty) == 0 and empty.embeddings["a"].shape == (0, 16)
