"""Protecting a video frame by frame: find the user's face, track its landmarks, mask it.

Every frame is detected (YuNet). When the user's face was masked in the previous frame, it is the
detected face nearest to it (within ``jump`` eye distances); otherwise (the first frame, after the face
was lost) it is the face whose embedding (``key.match_model``) is closest to the key's reference, when
that cosine reaches the key's match threshold (:func:`p3mask.protect.apply.face_scores`). Either way
``protect_image`` checks the identity again on every frame, as for a photo, so one embedding per frame
is the steady cost. Every other face is left untouched. Its landmarks are tracked
(:mod:`p3mask.video.tracking`: carried from the previous frame by the face's optical flow, pulled a little
towards the detection) so the mask moves with the face, not with the detector's jitter; the tracker
starts again when the face was missing in the previous frame or jumped. The frame is then masked by
:func:`p3mask.protect.apply.protect_image` given the tracked face as its detection: the same
masking and the same quality floor as a photo, aimed ``floor_margin`` above the key's floor so that
the frame still keeps the floor once H.264 has encoded it. A frame without the user's face, or with a face
smaller than ``min_face`` pixels, passes through unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import torch

from p3mask.face.detect import Detections, FaceDetector
from p3mask.models.base import FaceRecognizer
from p3mask.protect.apply import FaceOutcome, face_scores, protect_image
from p3mask.protect.face_choice import FacePolicy
from p3mask.protect.key import P3Mask
from p3mask.video.tracking import LandmarkTracker, TrackerConfig

FLOOR_MARGIN = 3.0  # SSIMULACRA2 points
_STRICT = FacePolicy("strict")


@dataclass(frozen=True)
class VideoConfig:
    """How a video is protected and written (CLI flags map onto the fields)."""

    tracking: TrackerConfig = TrackerConfig()  # landmark tracker; see p3mask.video.tracking
    smooth: bool = True  # False: raw detector landmarks every frame (for comparison)
    min_face: float = 32.0  # pixels: a user's face with a shorter box side passes unmasked
    jump: float = 0.5  # eye distances the eyes' midpoint may move between frames and stay the same face
    crf: int = 18  # x264 constant rate factor
    # Quality the masking aims above the key's floor, for what encoding then takes (so that decoded
    # frames keep the floor too): measured at CRF 18 on 640x360 LFW clips, see docs/notes/video.md.
    floor_margin: float = FLOOR_MARGIN
    preset: str = "medium"  # x264 speed preset
    max_pixel_rate: float = 130e6  # pixels per second above which a video is refused

    def __post_init__(self) -> None:
        if self.min_face < 0 or self.jump <= 0:
            raise ValueError(f"expected min_face >= 0 and jump > 0, got {self.min_face}, {self.jump}")
        if not 0 <= self.floor_margin < 20.0:
            raise ValueError(f"floor_margin must be in [0, 20) SSIMULACRA2 points, got {self.floor_margin}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be in 0..51, got {self.crf}")
        if self.max_pixel_rate <= 0:
            raise ValueError(f"max_pixel_rate must be > 0, got {self.max_pixel_rate}")


@dataclass(frozen=True)
class FrameOutcome:
    """What happened to one frame.

    Attributes:
        status: "protected", "no_face" (no face at all), "no_user" (only other faces), "small"
            (the user's face under ``min_face``) or "weakened_out" (the quality floor left no mask).
        landmarks: ``(5, 2)`` the (tracked) landmarks the mask was placed on, None when not protected.
        face: the :class:`FaceOutcome` of the user's face from ``protect_image``, None when not protected.
        seconds: wall seconds of detection and of masking, ``{"detect": ..., "apply": ...}``.
    """

    status: str
    landmarks: torch.Tensor | None = None
    face: FaceOutcome | None = None
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def protected(self) -> bool:
        return self.status == "protected"


def _eye_centre_and_distance(landmarks: torch.Tensor) -> tuple[torch.Tensor, float]:
    centre = landmarks[:2].mean(0)
    return centre, float((landmarks[1] - landmarks[0]).norm())


class FrameProtector:
    """Protects consecutive frames of one video with one key (holds the landmark filter's state).

    Args:
        key: the user's :class:`P3Mask`.
        detector: face detector (default: a new YuNet detector).
        matcher: the loaded ``key.match_model``.
        config: :class:`VideoConfig`.
    """

    def __init__(self, key: P3Mask, detector: FaceDetector, matcher: FaceRecognizer,
                 config: VideoConfig = VideoConfig()) -> None:
        self.key, self.detector, self.matcher, self.config = key, detector, matcher, config
        # protect_image holds the floor of the key it is given: the same key aiming higher by the margin
        aimed = min(key.quality_floor + config.floor_margin, 99.0)
        self._aim = replace(key, quality_floor=aimed) if config.floor_margin else key
        self._tracker = LandmarkTracker(config.tracking)
        self._last: torch.Tensor | None = None  # raw landmarks of the user's face in the previous frame

    def _user_face(self, image: torch.Tensor, faces: Detections) -> int | None:
        """Index of the user's face among ``faces``: the one nearest the tracked face, else the best
        match at or above the threshold; None when there is none."""
        if self._last is not None:
            centre, eyes = _eye_centre_and_distance(self._last)
            moved = (faces.landmarks[:, :2].mean(1) - centre).norm(dim=1)
            nearest = int(moved.argmin())
            if float(moved[nearest]) <= self.config.jump * eyes:
                return nearest
        cosines = face_scores(self.matcher, self.key.references[self.key.match_model], image, faces.landmarks)
        best = int(cosines.argmax())
        return best if float(cosines[best]) >= self.key.match_threshold else None

    def _lost(self) -> None:
        """The user's face is not in this frame: forget the track and the tracker's state."""
        self._tracker.reset()
        self._last = None

    def _tracked(self, image: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        if self._last is None:
            self._tracker.reset()
        self._last = raw
        return self._tracker(image, raw) if self.config.smooth else raw

    def __call__(self, image: torch.Tensor) -> tuple[torch.Tensor, FrameOutcome]:
        """Protect one frame (the frame after the last one given).

        Args:
            image: ``(3, H, W)`` RGB in [0, 1].

        Returns:
            ``(frame, outcome)``: the protected frame (``image`` itself when nothing was masked) and
            its :class:`FrameOutcome`.
        """
        tic = time.perf_counter()
        faces = self.detector.detect(image)
        index = self._user_face(image, faces) if not faces.is_empty else None
        seconds = {"detect": time.perf_counter() - tic}
        if index is None:
            self._lost()
            return image, FrameOutcome("no_face" if faces.is_empty else "no_user", seconds=seconds)
        box = faces.boxes[index]
        if float(min(box[2] - box[0], box[3] - box[1])) < self.config.min_face:
            self._lost()
            return image, FrameOutcome("small", seconds=seconds)
        landmarks = self._tracked(image, faces.landmarks[index])
        tic = time.perf_counter()
        one = Detections(box[None].clone(), landmarks[None], faces.scores[index:index + 1].clone())
        # strict: the tracked face is masked only while it still matches the user (never on doubt)
        protected, report = protect_image(self._aim, image, matcher=self.matcher, detections=one, policy=_STRICT)
        seconds["apply"] = time.perf_counter() - tic
        face = report.faces[0]
        if not face.protected:  # the tracked face does not match, or the floor allowed no mask
            if face.quality is None:
                self._lost()  # not the user after all: pick the face by embedding next frame
                return image, FrameOutcome("no_user", seconds=seconds)
            return image, FrameOutcome("weakened_out", seconds=seconds)
        return protected, FrameOutcome("protected", landmarks, face, seconds)


__all__ = ["FrameOutcome", "FrameProtector", "VideoConfig"]
