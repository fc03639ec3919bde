"""Protecting videos with an existing key: frame by frame, landmarks smoothed through time.

- :mod:`p3mask.video.io`: reading, checking, writing (H.264, audio copied) and verifying files (PyAV).
- :mod:`p3mask.video.smoothing`: the One-Euro landmark filter.
- :mod:`p3mask.video.protector`: one frame at a time: the user's face found, smoothed, masked.
- :mod:`p3mask.video.files`: a whole file: :func:`protect_video`.
- :mod:`p3mask.video.summary`: the per-video :class:`VideoSummary`.
- :mod:`p3mask.video.synthetic`: test clips made from still photos.
"""

from p3mask.video.files import is_video, protect_video
from p3mask.video.io import VIDEO_SUFFIXES, VideoError
from p3mask.video.protector import VideoConfig
from p3mask.video.smoothing import OneEuroConfig, OneEuroFilter, one_euro_filter
from p3mask.video.summary import VideoSummary

__all__ = [
    "OneEuroConfig", "OneEuroFilter", "VIDEO_SUFFIXES", "VideoConfig", "VideoError", "VideoSummary", "is_video",
    "one_euro_filter", "protect_video",
]
