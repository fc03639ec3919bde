"""What ``p3mask protect`` does with video inputs: its video flags and the per-file loop.

The CLI module only hooks these in (:func:`add_video_arguments`, :func:`split_inputs`,
:func:`protect_video_inputs`), so the photo path stays as it is.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from p3mask.face.detect import FaceDetector
from p3mask.models.base import FaceRecognizer
from p3mask.protect.key import P3Mask
from p3mask.video.files import is_video, protect_video
from p3mask.video.io import DEFAULT_MAX_PIXEL_RATE, VideoError
from p3mask.video.protector import VideoConfig


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that apply to video inputs (.mp4, .mov, .mkv, .webm)."""
    group = parser.add_argument_group("videos (.mp4, .mov, .mkv, .webm)")
    group.add_argument("--crf", type=int, default=VideoConfig.crf, metavar="N",
                       help=f"H.264 constant rate factor of protected videos, 0..51 (default {VideoConfig.crf})")
    group.add_argument("--max-pixel-rate", type=float, default=DEFAULT_MAX_PIXEL_RATE / 1e6, metavar="MPX",
                       help="refuse videos above MPX megapixels per second, width x height x fps "
                       f"(default {DEFAULT_MAX_PIXEL_RATE / 1e6:g}: 1080p60 passes, 4K30 does not)")
    group.add_argument("--floor-margin", type=float, default=VideoConfig.floor_margin, metavar="Q",
                       help="mask each frame to the key's quality floor + Q, for what H.264 encoding then takes "
                       f"(default {VideoConfig.floor_margin:g})")
    group.add_argument("--no-smoothing", action="store_true",
                       help="place the mask on each frame's raw landmarks (default: tracked by optical flow)")


def split_inputs(inputs: list[str]) -> tuple[list[str], list[str]]:
    """``(videos, everything else)`` by suffix."""
    return [p for p in inputs if is_video(p)], [p for p in inputs if not is_video(p)]


def video_config(args: argparse.Namespace) -> VideoConfig:
    """The :class:`VideoConfig` of the parsed flags (a ValueError names a bad value)."""
    return VideoConfig(crf=args.crf, max_pixel_rate=args.max_pixel_rate * 1e6, smooth=not args.no_smoothing,
                       floor_margin=args.floor_margin)


def protect_video_inputs(args: argparse.Namespace, key: P3Mask, videos: list[str], detector: FaceDetector,
                         matcher: FaceRecognizer) -> int:
    """Protect each video into ``args.out``, one line per video; the number protected.

    A failure prints ``p3mask protect: <file>: <problem>`` on stderr and the batch goes on.
    """
    try:
        config = video_config(args)
    except ValueError as exc:
        print(f"p3mask protect: {exc}", file=sys.stderr)
        return 0
    done = 0
    for video in videos:
        try:
            summary = protect_video(key, video, Path(args.out), detector, matcher, config,
                                    overwrite=getattr(args, "overwrite", False), progress=sys.stderr.isatty())
        except VideoError as exc:
            print(f"p3mask protect: {exc}", file=sys.stderr)
            continue
        print(summary.line())
        done += 1
    return done


__all__ = ["add_video_arguments", "protect_video_inputs", "split_inputs", "video_config"]
