"""Recognition of whole photos: detection + alignment + the model zoo, as a scraper's pipeline runs it."""

from p3mask.recognition.photo_embedder import PhotoEmbedder, PhotoFaces

__all__ = ["PhotoEmbedder", "PhotoFaces"]
