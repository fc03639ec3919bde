"""The user's photos, prepared for mask optimisation.

Each training photo is reduced to the region around the user's face that any recogniser's aligned
crop (and the mask frame) can reach, and the face in context whose perceptual quality is held
(:func:`p3mask.quality.face_in_context`), downscaled first when the face is much larger than the mask
frame, and padded to a common size so that a mini-batch is one tensor. Warping a region gives the
same crop as warping the whole photo, so optimising on regions is optimising what a recogniser
sees after re-detecting and re-aligning the face, at a fraction of the cost.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from p3mask.face.align import estimate_similarity, invert_affine
from p3mask.face.detect import Detections, FaceDetector
from p3mask.models.base import FaceRecognizer
from p3mask.protect.ssim import WINDOW_SIZE
from p3mask.protect.user_faces import UserFaces, choose_user_faces
from p3mask.quality import face_in_context
from p3mask.recognition import FacePipeline

logger = logging.getLogger(__name__)

# Pixels added around the union of crop footprints: the SSIM window radius plus a bilinear tap.
_REGION_PAD = WINDOW_SIZE // 2 + 2


@dataclass
class TrainingSet:
    """Aligned-face regions of the user's photos.

    Attributes:
        regions: ``(N, 3, H, W)`` RGB in [0, 1], zero-padded at the bottom/right to a common size.
        valid: ``(N, 1, H, W)`` 1 on real photo pixels, 0 on padding.
        landmarks: ``(N, 5, 2)`` the user's landmarks in region pixels.
        contexts: ``(N, 4)`` int64 ``(y0, y1, x0, x1)`` of the face in context in region pixels.
        names: one label per photo (file name or index).
        skipped: ``(label, reason)`` for photos that could not be used.
    """

    regions: torch.Tensor
    valid: torch.Tensor
    landmarks: torch.Tensor
    contexts: torch.Tensor
    names: list[str]
    skipped: list[tuple[str, str]]

    def __len__(self) -> int:
        return int(self.regions.shape[0])

    def to(self, device: torch.device | str) -> TrainingSet:
        """Copy of the tensors on ``device``."""
        return TrainingSet(
            self.regions.to(device), self.valid.to(device), self.landmarks.to(device), self.contexts, self.names,
            self.skipped,
        )

    def matrices(self, template: Sequence[Sequence[float]]) -> torch.Tensor:
        """``(N, 2, 3)`` region -> crop affines for a crop with this 5-point ``template``."""
        return estimate_similarity(self.landmarks, torch.as_tensor(template, dtype=self.landmarks.dtype))


def _footprint(landmarks: torch.Tensor, frames: Sequence[tuple[Sequence[Sequence[float]], tuple[int, int]]]):
    """Bounding box ``(x0, y0, x1, y1)`` in photo pixels of every crop in ``frames`` for one face."""
    xs, ys = [], []
    for template, (h, w) in frames:
        m = estimate_similarity(landmarks[None], torch.as_tensor(template, dtype=landmarks.dtype))
        corners = torch.tensor([[-0.5, -0.5, w - 0.5, w - 0.5], [-0.5, h - 0.5, -0.5, h - 0.5], [1.0] * 4])
        pts = invert_affine(m)[0] @ corners.to(landmarks.dtype)
        xs.append(pts[0])
        ys.append(pts[1])
    xs, ys = torch.cat(xs), torch.cat(ys)
    return float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())


def _face_scale(landmarks: torch.Tensor, template: Sequence[Sequence[float]]) -> float:
    """Photo pixels per frame pixel for this face."""
    m = estimate_similarity(landmarks[None], torch.as_tensor(template, dtype=landmarks.dtype))[0]
    return float(torch.linalg.det(m[:, :2]).abs().sqrt().reciprocal())


def crop_region(
    image: torch.Tensor,
    landmarks: torch.Tensor,
    frames: Sequence[tuple[Sequence[Sequence[float]], tuple[int, int]]],
    max_face_scale: float,
    include: tuple[int, int, int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int, int, int] | None]:
    """The part of one photo that the crops in ``frames`` can reach (and the box ``include``).

    Args:
        image: ``(3, H, W)`` RGB in [0, 1].
        landmarks: ``(5, 2)`` the face's landmarks in photo pixels.
        frames: ``(template, (h, w))`` of the mask frame (first) and of every recogniser crop.
        max_face_scale: if the face spans more than this many photo pixels per mask-frame pixel,
            the photo is first downscaled (antialiased) to that scale.
        include: ``(y0, y1, x0, x1)`` photo pixels the region must also hold (e.g. the face in context).

    Returns:
        ``(region, landmarks, included)``: ``(3, h', w')`` region, ``(5, 2)`` landmarks in its pixels, and
        ``include`` in region pixels (``None`` without ``include``).
    """
    factor = min(1.0, max_face_scale / _face_scale(landmarks, frames[0][0]))  # < 1: downscale
    pad = math.ceil(_REGION_PAD / factor) + 1
    x0, y0, x1, y1 = _footprint(landmarks, frames)
    h, w = image.shape[1:]
    x0, y0 = max(0, math.floor(x0) - pad), max(0, math.floor(y0) - pad)
    x1, y1 = min(w, math.ceil(x1) + 1 + pad), min(h, math.ceil(y1) + 1 + pad)
    if include is not None:
        y0, y1 = min(y0, max(0, include[0])), max(y1, min(h, include[1]))
        x0, x1 = min(x0, max(0, include[2])), max(x1, min(w, include[3]))
    region = image[:, y0:y1, x0:x1]
    landmarks = landmarks - torch.tensor([x0, y0], dtype=landmarks.dtype)
    fy = fx = 1.0
    if factor < 1.0:  # cut first, then shrink only the cut (cheap on large photos)
        size = (max(1, round(region.shape[1] * factor)), max(1, round(region.shape[2] * factor)))
        fy, fx = size[0] / region.shape[1], size[1] / region.shape[2]
        region = F.interpolate(region[None], size=size, mode="bilinear", antialias=True, align_corners=False)[0]
        landmarks = (landmarks + 0.5) * torch.tensor([fx, fy], dtype=landmarks.dtype) - 0.5
    included = None
    if include is not None:
        hh, ww = region.shape[1:]
        included = (max(0, math.floor((max(0, include[0]) - y0) * fy)),
                    min(hh, math.ceil((min(h, include[1]) - y0) * fy)),
                    max(0, math.floor((max(0, include[2]) - x0) * fx)),
                    min(ww, math.ceil((min(w, include[3]) - x0) * fx)))
    return region, landmarks, included


def _stack(regions: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    h = max(r.shape[1] for r in regions)
    w = max(r.shape[2] for r in regions)
    out = regions[0].new_zeros(len(regions), 3, h, w)
    valid = regions[0].new_zeros(len(regions), 1, h, w)
    for i, r in enumerate(regions):
        out[i, :, : r.shape[1], : r.shape[2]] = r
        valid[i, :, : r.shape[1], : r.shape[2]] = 1.0
    return out, valid


def find_user_faces(
    images: Sequence[torch.Tensor], detector: FaceDetector, matcher: FaceRecognizer, match_threshold: float
) -> tuple[list[Detections], UserFaces]:
    """Detect the faces of every photo and pick the user's face in each (majority identity).

    Args:
        images: ``(3, H, W)`` RGB [0, 1] photos of the user (other people may appear too).
        detector: face detector.
        matcher: recogniser used to tell the user from other people.
        match_threshold: cosine at which ``matcher`` declares two faces the same person.

    Returns:
        ``(detections, choice)``: the faces of each photo and the :class:`UserFaces` choice
        (``choice.indices[i]`` is the user's face in photo ``i``, or ``None``; see :func:`unused_reason`).

    Raises:
        ValueError: no photo holds a face.
    """
    pipeline = FacePipeline({"match": matcher}, detector, next(matcher.parameters()).device)
    found = [pipeline.embed_photo(image) for image in images]
    detections = [faces.detections for faces in found]
    embeddings = [faces.embeddings["match"] for faces in found]
    if all(e.shape[0] == 0 for e in embeddings):
        raise ValueError("no face found in any of the user's photos")
    return detections, choose_user_faces(embeddings, match_threshold)


def unused_reason(detections: Detections) -> str:
    """Why a photo in which :func:`find_user_faces` chose no face is not learned from."""
    return "no face found" if detections.is_empty else "no face of the user (only other people)"


def build_training_set(
    images: Sequence[torch.Tensor],
    names: Sequence[str],
    detector: FaceDetector,
    matcher: FaceRecognizer,
    match_threshold: float,
    frames: Sequence[tuple[Sequence[Sequence[float]], tuple[int, int]]],
    max_face_scale: float,
) -> tuple[TrainingSet, torch.Tensor]:
    """Detect faces, keep the user's face in each photo and cut the regions around them.

    Args:
        images: ``(3, H, W)`` RGB [0, 1] photos of the user (other people may appear too).
        names: one label per photo, for messages.
        detector: face detector.
        matcher: recogniser used to tell the user from other people.
        match_threshold: cosine at which ``matcher`` declares two faces the same person.
        frames: ``(template, (h, w))`` of the mask frame (first) and of every recogniser crop.
        max_face_scale: see :func:`crop_region`.

    Returns:
        ``(training_set, reference)``: the :class:`TrainingSet` and the ``matcher``'s ``(D,)``
        reference embedding of the user.

    Raises:
        ValueError: no photo holds a usable face.
    """
    if len(images) != len(names):
        raise ValueError(f"expected one name per image, got {len(images)} images and {len(names)} names")
    detections, choice = find_user_faces(images, detector, matcher, match_threshold)
    regions, landmarks, contexts, kept, skipped = [], [], [], [], []
    for image, det, index, name in zip(images, detections, choice.indices, names):
        if index is None:
            reason = unused_reason(det)
            skipped.append((name, reason))
            logger.info("%s: %s; photo not used for learning", name, reason)  # the caller reports it once
            continue
        context = face_in_context(det.boxes[index].tolist(), image.shape[1], image.shape[2])
        region, lmk, context = crop_region(image, det.landmarks[index].float(), frames, max_face_scale, context)
        regions.append(region)
        landmarks.append(lmk)
        contexts.append(context)
        kept.append(name)
    stacked, valid = _stack(regions)
    return (TrainingSet(stacked, valid, torch.stack(landmarks), torch.tensor(contexts, dtype=torch.long), kept,
                        skipped),
            choice.reference)


def model_frames(models: Mapping[str, FaceRecognizer]) -> list[tuple[tuple, tuple[int, int]]]:
    """``(template, input_size)`` of each recogniser, for :func:`crop_region`."""
    return [(tuple(m.template), tuple(m.input_size)) for m in models.values()]
