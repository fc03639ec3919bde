"""Recognition of whole photos: detection + alignment + the model zoo, as a scraper's pipeline runs it."""

from p3mask.recognition.pipeline import (
    BATCH,
    FacePipeline,
    PhotoFaces,
    Pick,
    central_face,
    face_similarities,
    largest_face,
    most_similar_face,
    near_landmarks,
    nearest_face,
)

__all__ = [
    "BATCH", "FacePipeline", "PhotoFaces", "Pick", "central_face", "face_similarities", "largest_face",
    "most_similar_face", "near_landmarks", "nearest_face",
]
