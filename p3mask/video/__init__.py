"""Protecting videos with an existing key: frame by frame, landmarks tracked through time.

- :mod:`p3mask.video.io`: reading, checking, writing (H.264, audio copied) and verifying files (PyAV).
- :mod:`p3mask.video.tracking`: landmarks carried by the face's optical flow, corrected by the detector.
- :mod:`p3mask.video.protector`: one frame at a time: the user's face found, tracked, masked.
- :mod:`p3mask.video.files`: a whole file: :func:`protect_video`.
- :mod:`p3mask.video.summary`: the per-video :class:`VideoSummary`.
- :mod:`p3mask.video.synthetic`: test clips made from still photos.
"""

from p3mask.video.files import is_video, protect_video
from p3mask.video.io import VIDEO_SUFFIXES, VideoError
from p3mask.video.protector import VideoConfig
from p3mask.video.summary import VideoSummary
from p3mask.video.tracking import LandmarkTracker, TrackerConfig

__all__ = [
    "LandmarkTracker", "TrackerConfig", "VIDEO_SUFFIXES", "VideoConfig", "VideoError", "VideoSummary", "is_video",
    "protect_video",
]
