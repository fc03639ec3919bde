"""Protecting a video file: decode, protect each frame, encode, verify, then and only then publish.

The output goes to a hidden temporary file in the output folder (:func:`p3mask.atomic.atomic_path`);
it is renamed to its final name only after it decodes with the source's size, frame count, duration
and byte-identical audio packets. Any failure or an interruption (Ctrl-C) deletes the temporary file,
so nothing partial is left. An existing output is never replaced unless ``overwrite`` is set.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import av
import torch
from tqdm import tqdm

from p3mask.atomic import atomic_path
from p3mask.face.detect import FaceDetector
from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer
from p3mask.protect.key import P3Mask
from p3mask.quality import face_in_context, ssimulacra2
from p3mask.video.io import (
    VIDEO_FORMATS,
    VideoError,
    VideoInfo,
    VideoWriter,
    audio_packets,
    decode_frames,
    frame_to_tensor,
    open_video,
    tensor_to_frame,
    verify_video,
)
from p3mask.video.protector import FrameOutcome, FrameProtector, VideoConfig
from p3mask.video.summary import VideoSummary, quality_stats

logger = logging.getLogger(__name__)

SKIP_REASONS = ("no_face", "no_user", "small", "weakened_out")


def is_video(path: str | os.PathLike) -> bool:
    """True when ``path``'s suffix is one of :data:`p3mask.video.io.VIDEO_SUFFIXES`."""
    return Path(path).suffix.lower() in VIDEO_FORMATS


def video_target(source: Path, out_dir: Path) -> Path:
    """The output path of ``source`` in ``out_dir`` (same name; a WebM becomes ``.mkv``)."""
    return out_dir / (source.stem + VIDEO_FORMATS[source.suffix.lower()][1])


def face_quality(clean: torch.Tensor, protected: torch.Tensor, box) -> float:
    """Quality of one protected face against the clean frame: the measure the key's floor is stated in,
    SSIMULACRA2 of the face in context (:func:`p3mask.quality.face_in_context` around ``box``)."""
    y0, y1, x0, x1 = face_in_context(box, *clean.shape[1:])
    return float(ssimulacra2(clean[None, :, y0:y1, x0:x1], protected[None, :, y0:y1, x0:x1]))


def _decoded_quality(source: Path, written: Path, outcomes: list[FrameOutcome]) -> list[float]:
    """Face quality of each protected frame, decoded from the written file against the decoded source."""
    values = []
    with av.open(str(source)) as a, av.open(str(written)) as b:
        for outcome, fa, fb in zip(outcomes, a.decode(a.streams.video[0]), b.decode(b.streams.video[0])):
            if outcome.protected:
                values.append(face_quality(frame_to_tensor(fa), frame_to_tensor(fb), outcome.face.box))
    return values


def _encode_all(info: VideoInfo, tmp: Path, container: str, protector: FrameProtector, config: VideoConfig,
                device: torch.device, progress: bool) -> tuple[list[FrameOutcome], dict[str, float]]:
    seconds = dict.fromkeys(("decode", "detect", "apply", "encode"), 0.0)
    outcomes: list[FrameOutcome] = []
    with av.open(str(info.path)) as box:
        writer = VideoWriter(tmp, box, container, config.crf, config.preset)
        bar = tqdm(total=info.frames or None, unit="frame", desc=info.path.name, disable=not progress, leave=False)
        try:
            stream = decode_frames(box, info.path)
            while True:
                tic = time.perf_counter()
                item = next(stream, None)
                if item is None:
                    break
                frame, packet = item
                if packet is not None:
                    writer.copy(packet)
                    continue
                image = frame_to_tensor(frame).to(device)
                seconds["decode"] += time.perf_counter() - tic
                protected, outcome = protector(image)
                for step, s in outcome.seconds.items():
                    seconds[step] += s
                tic = time.perf_counter()
                writer.write(tensor_to_frame(protected, frame, image) if outcome.protected else frame)
                seconds["encode"] += time.perf_counter() - tic
                outcomes.append(outcome)
                bar.update()
            tic = time.perf_counter()
            writer.close()
            seconds["encode"] += time.perf_counter() - tic
        except BaseException:
            writer.abort()
            raise
        finally:
            bar.close()
    return outcomes, seconds


def _check_target(source: Path, target: Path, overwrite: bool) -> None:
    if target.exists() and (not overwrite or target.resolve() == source.resolve()):
        raise VideoError(target, "already exists; refusing to overwrite it")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VideoError(target, f"cannot create the output folder ({exc.strerror or exc})") from None
    if not os.access(target.parent, os.W_OK):
        raise VideoError(target, "output folder is not writable")


def protect_video_frames(
    key: P3Mask,
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    detector: FaceDetector | None = None,
    matcher: FaceRecognizer | None = None,
    config: VideoConfig = VideoConfig(),
    overwrite: bool = False,
    progress: bool = False,
) -> tuple[VideoSummary, list[FrameOutcome]]:
    """Protect the user's face in every frame of a video; write it and its JSON summary into ``out_dir``.

    The output has the source's frame size, frame rate, frame count and duration, H.264 video at
    ``config.crf``, the source's audio packets copied untouched, and no metadata. Beside it,
    ``<output name>.json`` holds the :class:`VideoSummary`.

    Args:
        key: the user's :class:`P3Mask`.
        source: an .mp4, .mov, .mkv or .webm file.
        out_dir: output folder (created if missing).
        detector: face detector (default: a new YuNet detector).
        matcher: the loaded ``key.match_model`` (default: loaded on the CPU).
        config: :class:`VideoConfig`.
        overwrite: replace an existing output (default: refuse).
        progress: show a progress bar (frames per second, time left).

    Returns:
        ``(summary, frames)``: the :class:`VideoSummary` and each frame's
        :class:`p3mask.video.protector.FrameOutcome`.

    Raises:
        VideoError: unreadable, corrupt or too large input, no video stream, an existing or unwritable
            output, or an output that fails verification; nothing is left in ``out_dir`` then.
    """
    source = Path(source)
    if not is_video(source):
        raise VideoError(source, f"not a video suffix (expected one of {', '.join(sorted(VIDEO_FORMATS))})")
    tic = time.perf_counter()
    info = open_video(source, config.max_pixel_rate)
    target = video_target(source, Path(out_dir))
    report_path = target.with_name(target.name + ".json")
    _check_target(source, target, overwrite)
    _check_target(source, report_path, overwrite)
    detector = detector or FaceDetector()
    matcher = matcher or load_model(key.match_model)
    device = next(matcher.parameters()).device
    protector = FrameProtector(key, detector, matcher, config)
    audio = audio_packets(source)
    container = VIDEO_FORMATS[source.suffix.lower()][0]
    try:
        with atomic_path(target) as tmp:
            outcomes, seconds = _encode_all(info, tmp, container, protector, config, device, progress)
            if not outcomes:
                raise VideoError(source, "no frame could be decoded")
            if info.frames and len(outcomes) != info.frames:
                raise VideoError(source, f"decoded {len(outcomes)} of the {info.frames} frames its header declares "
                                 "(corrupt or truncated stream)")
            start = time.perf_counter()
            verify_video(tmp, info, len(outcomes), audio)
            decoded = _decoded_quality(source, tmp, outcomes)
            seconds["verify"] = time.perf_counter() - start
    except (OSError, av.FFmpegError) as exc:
        raise VideoError(target, f"cannot write ({getattr(exc, 'strerror', None) or exc})") from None
    seconds["total"] = time.perf_counter() - tic
    masked = [o.face.quality for o in outcomes if o.protected]
    summary = VideoSummary(
        source=str(source), output=str(target), width=info.width, height=info.height, fps=float(info.rate),
        frames=len(outcomes), protected=sum(o.protected for o in outcomes),
        skipped={why: sum(o.status == why for o in outcomes) for why in SKIP_REASONS},
        quality=quality_stats(masked, decoded), floor=key.quality_floor,
        decoded_below_floor=sum(q < key.quality_floor for q in decoded), seconds=seconds, audio_streams=info.audio,
    )
    summary.write(report_path)
    return summary, outcomes


def protect_video(key: P3Mask, source: str | os.PathLike, out_dir: str | os.PathLike, *args, **kwargs) -> VideoSummary:
    """:func:`protect_video_frames` without the per-frame outcomes: the :class:`VideoSummary`."""
    return protect_video_frames(key, source, out_dir, *args, **kwargs)[0]


__all__ = ["SKIP_REASONS", "face_quality", "is_video", "protect_video", "protect_video_frames", "video_target"]
