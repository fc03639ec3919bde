"""Landmarks through time: optical-flow tracking of the face, corrected by the detector.

A detector's landmarks move from frame to frame by up to a pixel even on a still face, and the error
is correlated in time (it changes slowly with the face's sub-pixel position), so a low-pass filter of
the detections alone cannot remove it without lagging behind a moving face. The image itself says
more precisely how the face moved: :class:`LandmarkTracker` follows corner features inside the face
from the previous frame to this one (pyramidal Lucas-Kanade, ``cv2.calcOpticalFlowPyrLK``), fits one
similarity transform to their motion (``cv2.estimateAffinePartial2D``, RANSAC), and carries the previous
landmarks with it. The detector then pulls the carried landmarks a fraction ``correction`` of the way
towards its own, so that the flow's small errors cannot add up (a complementary filter)::

    predicted_t = S_t(landmarks_{t-1})
    landmarks_t = predicted_t + correction * (detected_t - predicted_t)

A detection error that persists for ``n`` frames moves the landmarks by about ``correction * n`` of it,
instead of all of it at once. Where the flow cannot be measured (too few features, no consistent
motion), or the detection is far from where the flow put the face (a cut, another face: ``restart``
eye distances), the tracker starts again from the detection.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass(frozen=True)
class TrackerConfig:
    """Parameters of :class:`LandmarkTracker`.

    Attributes:
        correction: fraction of the way from the flow's prediction to the detection, per frame, in
            (0, 1] (1: the detector's landmarks as they are).
        features: most corner features followed inside the face.
        min_features: fewer features followed than this: the flow is not trusted, the tracker restarts.
        window: Lucas-Kanade window side in pixels.
        levels: Lucas-Kanade pyramid levels above the frame (faster motion needs more).
        ransac_px: a feature whose motion is off the fitted similarity by more than this is an outlier.
        restart: a detection whose landmarks are this many eye distances (mean) from the prediction is
            taken as it is: the tracked face is not where the flow says.
    """

    correction: float = 0.03
    features: int = 60
    min_features: int = 8
    window: int = 15
    levels: int = 2
    ransac_px: float = 1.0
    restart: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.correction <= 1:
            raise ValueError(f"correction must be in (0, 1], got {self.correction}")
        if self.min_features < 3 or self.features < self.min_features:
            raise ValueError(f"expected 3 <= min_features <= features, got {self.min_features}, {self.features}")
        if self.restart <= 0:
            raise ValueError(f"restart must be > 0 eye distances, got {self.restart}")
        if self.window < 3 or self.levels < 0 or self.ransac_px <= 0:
            raise ValueError(f"expected window >= 3, levels >= 0, ransac_px > 0, got {self.window}, {self.levels}, "
                             f"{self.ransac_px}")


# The face around the 5 landmarks (eyes, nose, mouth corners), in eye distances from their centroid:
# features are taken here (not on the background, which does not move with the face) ...
_FACE_HALF_WIDTH, _FACE_ABOVE, _FACE_BELOW = 1.2, 1.2, 1.5
# ... and both frames are cut to this much around it, so that a 4K frame costs as little as a small one.
_CROP_MARGIN = 1.0


def to_grey(image: torch.Tensor, window: tuple[int, int, int, int]) -> np.ndarray:
    """The ``(y0, y1, x0, x1)`` window of ``(3, H, W)`` RGB in [0, 1] as ``uint8`` grey (BT.601 luma)."""
    y0, y1, x0, x1 = window
    rgb = (image[:, y0:y1, x0:x1].clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def face_windows(landmarks: torch.Tensor, height: int, width: int) -> tuple[tuple[int, int, int, int], ...]:
    """``(crop, face)`` windows ``(y0, y1, x0, x1)`` in photo pixels around ``(5, 2)`` landmarks: the crop
    both frames are cut to, and the face inside it where features are taken (both clipped to the photo)."""
    cx, cy = (float(v) for v in landmarks.mean(0))
    eye = max(float((landmarks[1] - landmarks[0]).norm()), 1.0)

    def window(left: float, above: float, below: float) -> tuple[int, int, int, int]:
        return (max(0, int(cy - above * eye)), min(height, int(np.ceil(cy + below * eye))),
                max(0, int(cx - left * eye)), min(width, int(np.ceil(cx + left * eye))))

    m = _CROP_MARGIN
    return (window(_FACE_HALF_WIDTH + m, _FACE_ABOVE + m, _FACE_BELOW + m),
            window(_FACE_HALF_WIDTH, _FACE_ABOVE, _FACE_BELOW))


def flow_similarity(previous: np.ndarray, current: np.ndarray, face: tuple[int, int, int, int],
                    config: TrackerConfig = TrackerConfig()) -> np.ndarray | None:
    """The similarity transform that carries the face from ``previous`` to ``current``.

    Args:
        previous, current: ``(h, w)`` uint8 grey images of one window of two frames.
        face: ``(y0, y1, x0, x1)`` the face inside that window, where features are taken.
        config: tracker parameters.

    Returns:
        ``(2, 3)`` float64 map of window pixels (x, y) from ``previous`` to ``current``; None when too few
        features could be followed or no consistent motion was found.
    """
    y0, y1, x0, x1 = face
    where = np.zeros_like(previous)
    where[y0:y1, x0:x1] = 255
    points = cv2.goodFeaturesToTrack(previous, config.features, 0.01, 4, mask=where)
    if points is None or len(points) < config.min_features:
        return None
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01)
    moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, current, points, None, winSize=(config.window,) * 2,
                                                maxLevel=config.levels, criteria=criteria)
    kept = status[:, 0] == 1
    if int(kept.sum()) < config.min_features:
        return None
    matrix, inliers = cv2.estimateAffinePartial2D(points[kept], moved[kept], method=cv2.RANSAC,
                                                  ransacReprojThreshold=config.ransac_px)
    if matrix is None or int(inliers.sum()) < config.min_features:
        return None
    return matrix


class LandmarkTracker:
    """Follows one face's landmarks from frame to frame (see the module docstring).

    Args:
        config: tracker parameters.

    Example:
        >>> tracker = LandmarkTracker()
        >>> frame = torch.rand(3, 120, 160)
        >>> eyes_nose_mouth = torch.tensor([[60., 50.], [100., 50.], [80., 70.], [65., 90.], [95., 90.]])
        >>> tracker(frame, eyes_nose_mouth).shape  # the first frame: the detection itself
        torch.Size([5, 2])
    """

    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget the face (lost, or a cut): the next detection is taken as it is."""
        self._landmarks: torch.Tensor | None = None
        self._image: torch.Tensor | None = None

    def predict(self, image: torch.Tensor) -> torch.Tensor | None:
        """The previous frame's landmarks carried to ``image`` by the face's motion; None when there is no
        previous frame or the motion could not be measured."""
        if self._landmarks is None or self._image is None or self._image.shape != image.shape:
            return None
        crop, face = face_windows(self._landmarks, image.shape[1], image.shape[2])
        y0, _, x0, _ = crop
        inner = (face[0] - y0, face[1] - y0, face[2] - x0, face[3] - x0)
        matrix = flow_similarity(to_grey(self._image, crop), to_grey(image, crop), inner, self.config)
        if matrix is None:
            return None
        local = self._landmarks.double().cpu().numpy() - (x0, y0)
        carried = local @ matrix[:, :2].T + matrix[:, 2] + (x0, y0)
        return torch.from_numpy(carried).to(torch.float32)

    def __call__(self, image: torch.Tensor, detected: torch.Tensor) -> torch.Tensor:
        """The tracked landmarks of the face in ``image``.

        Args:
            image: ``(3, H, W)`` RGB in [0, 1], the frame after the last one given.
            detected: ``(5, 2)`` the detector's landmarks of the face in ``image`` (pixels, x then y).

        Returns:
            ``(5, 2)`` float32 landmarks: the detection on a first frame (or when the flow fails, or the
            detection is ``restart`` eye distances from the prediction), else the flow's prediction moved
            ``correction`` of the way towards the detection.
        """
        detected = detected.detach().to(torch.float32).cpu()
        predicted = self.predict(image)
        if predicted is not None:
            eye = max(float((detected[1] - detected[0]).norm()), 1.0)
            if float((detected - predicted).norm(dim=1).mean()) > self.config.restart * eye:
                predicted = None
        out = detected if predicted is None else predicted + self.config.correction * (detected - predicted)
        self._landmarks, self._image = out, image.detach()
        return out.clone()


__all__ = ["LandmarkTracker", "TrackerConfig", "face_windows", "flow_similarity", "to_grey"]
