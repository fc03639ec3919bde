"""Reading and writing video files with PyAV (FFmpeg bundled in the ``av`` wheel).

:func:`open_video` checks a file before any work (it opens, has a video stream, is under the pixel
rate limit) and returns a :class:`VideoInfo`. :class:`VideoWriter` encodes frames with libx264 at a
constant rate factor and copies the source's audio packets untouched (remuxed, never re-encoded);
it copies no metadata (container tags such as location, device and creation time, or stream tags)
and no subtitle or data stream. :func:`verify_video` decodes a written file and checks it against
its source. Every failure is a :class:`VideoError` whose message starts with the file name.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from p3mask.errors import FileError

# Input suffixes (lower case) handled as videos, and the container each is written as. WebM allows
# only VP8/VP9/AV1 video, so a WebM source is written as Matroska (WebM is a subset of it: its
# Opus/Vorbis audio is copied as it is) with H.264 video.
VIDEO_FORMATS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", ".mp4"), ".mov": ("mov", ".mov"), ".mkv": ("matroska", ".mkv"), ".webm": ("matroska", ".mkv"),
}
VIDEO_SUFFIXES = frozenset(VIDEO_FORMATS)
DEFAULT_MAX_PIXEL_RATE = 130e6  # pixels per second: 1080p at 60 fps passes, 4K at 30 fps or more does not


class VideoError(FileError):
    """A video could not be read or written; the message is ``"<file name>: <problem>"`` (``path``, ``problem``)."""


@dataclass(frozen=True)
class VideoInfo:
    """What a video's header says.

    Attributes:
        path: the file.
        width, height: frame size in pixels.
        rate: average frame rate (frames per second).
        time_base: the video stream's time base (seconds per pts unit).
        frames: frame count from the header (0 when the container does not store it).
        duration: container duration in seconds (0 when unknown).
        codec: the video codec's name.
        audio: number of audio streams (copied untouched).
    """

    path: Path
    width: int
    height: int
    rate: Fraction
    time_base: Fraction
    frames: int
    duration: float
    codec: str
    audio: int

    @property
    def pixel_rate(self) -> float:
        """Pixels per second: ``width * height * rate``."""
        return self.width * self.height * float(self.rate)


def open_video(path: str | os.PathLike, max_pixel_rate: float = DEFAULT_MAX_PIXEL_RATE) -> VideoInfo:
    """Check that ``path`` is a video this module can protect; return its :class:`VideoInfo`.

    Raises:
        VideoError: missing file, not a video, no video stream, or over ``max_pixel_rate`` pixels/s.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(path, "file not found" if not path.exists() else "not a file")
    try:
        with av.open(str(path)) as box:
            if not box.streams.video:
                raise VideoError(path, "no video stream")
            v = box.streams.video[0]
            rate = v.average_rate or v.guessed_rate
            if not rate or not v.width or not v.height:
                raise VideoError(path, "video stream without a frame size or frame rate")
            info = VideoInfo(path, int(v.width), int(v.height), Fraction(rate), Fraction(v.time_base),
                             int(v.frames or 0), float(box.duration or 0) / av.time_base,
                             v.codec_context.name, len(box.streams.audio))
    except av.FFmpegError as exc:
        raise VideoError(path, f"not a readable video ({exc.strerror or exc})") from None
    if info.pixel_rate > max_pixel_rate:
        raise VideoError(path,
                         f"{info.width}x{info.height} at {float(info.rate):.3g} fps is {info.pixel_rate / 1e6:.0f} "
                         f"megapixels/s, over the limit of {max_pixel_rate / 1e6:.0f} (raise it with --max-pixel-rate)")
    return info


def frame_to_tensor(frame: av.VideoFrame) -> torch.Tensor:
    """A decoded frame as ``(3, H, W)`` float32 RGB in [0, 1]."""
    rgb = frame.to_ndarray(format="rgb24")
    return torch.from_numpy(rgb).permute(2, 0, 1).float().div_(255.0)


_PLANAR_420 = ("yuv420p", "yuvj420p")  # decoded formats whose changed pixels are pasted into the source's planes


def _changed_box(changed: torch.Tensor) -> tuple[int, int, int, int] | None:
    """Even-aligned ``(y0, y1, x0, x1)`` around the True pixels of ``(H, W)`` ``changed``; None if none."""
    rows, cols = changed.any(1).nonzero(), changed.any(0).nonzero()
    if len(rows) == 0:
        return None
    y0, x0 = int(rows[0]) // 2 * 2, int(cols[0]) // 2 * 2
    y1, x1 = -(-(int(rows[-1]) + 1) // 2) * 2, -(-(int(cols[-1]) + 1) // 2) * 2
    return y0, min(y1, changed.shape[0]), x0, min(x1, changed.shape[1])


def tensor_to_frame(image: torch.Tensor, like: av.VideoFrame, original: torch.Tensor | None = None) -> av.VideoFrame:
    """``(3, H, W)`` RGB [0, 1] as a frame with ``like``'s timestamp (8 bits, rounded).

    With ``original`` (the RGB of ``like``) and a 4:2:0 ``like``, only the box around the pixels that
    differ from ``original`` is converted back to YUV; every other sample is ``like``'s own, so the
    rest of the picture (strangers, background) loses nothing to a colour round trip.
    """
    rgb = image.detach().to("cpu").clamp(0, 1).mul(255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
    fmt = like.format.name
    if original is not None and fmt in _PLANAR_420 and like.width % 2 == 0 and like.height % 2 == 0:
        box = _changed_box((image.detach().cpu() != original.detach().cpu()).any(0))
        planes = like.to_ndarray()  # (3H/2, W): Y, then U and V as quarter planes
        if box is not None:
            new = frame.reformat(format=fmt).to_ndarray()
            h, w = like.height, like.width
            y0, y1, x0, x1 = box
            planes[y0:y1, x0:x1] = new[y0:y1, x0:x1]
            for k in range(2):  # U, V: (H/2, W/2) each, stored row-major in H/4 rows of width W
                a = planes[h + k * h // 4: h + (k + 1) * h // 4].reshape(h // 2, w // 2)
                b = new[h + k * h // 4: h + (k + 1) * h // 4].reshape(h // 2, w // 2)
                a[y0 // 2:y1 // 2, x0 // 2:x1 // 2] = b[y0 // 2:y1 // 2, x0 // 2:x1 // 2]
        frame = av.VideoFrame.from_ndarray(planes, format=fmt)
    frame.pts, frame.time_base = like.pts, like.time_base
    return frame


def decode_frames(box: av.container.InputContainer,
                  path: Path) -> Iterator[tuple[av.VideoFrame | None, av.Packet | None]]:
    """Demux ``box``: ``(video frame, None)`` per decoded frame and ``(None, audio packet)`` per audio packet.

    Raises:
        VideoError: the stream is corrupt (FFmpeg refuses a packet).
    """
    video = box.streams.video[0]
    count = 0
    try:
        for packet in box.demux(video, *box.streams.audio):
            if packet.stream.type == "audio":
                if packet.size:
                    yield None, packet
                continue
            for frame in packet.decode():
                count += 1
                yield frame, None
    except av.FFmpegError as exc:
        raise VideoError(path, f"corrupt video stream after {count} frame(s) ({exc.strerror or exc})") from None


class VideoWriter:
    """Encode frames as H.264 (libx264, constant rate factor) and remux audio packets untouched.

    Args:
        path: output file (any name: the container is ``container_format``).
        source: the input container; its first video stream fixes size, rate and time base, and its
            audio streams are copied (codec parameters only: no stream tags).
        container_format: FFmpeg muxer name ("mp4", "mov", "matroska").
        crf: x264 constant rate factor, 0..51 (default 18: no visible loss).
        preset: x264 speed preset (default "medium", x264's own).
    """

    def __init__(self, path: Path, source: av.container.InputContainer, container_format: str, crf: int = 18,
                 preset: str = "medium") -> None:
        if not 0 <= int(crf) <= 51:
            raise ValueError(f"crf must be in 0..51, got {crf}")
        v = source.streams.video[0]
        self._box = av.open(str(path), "w", format=container_format)
        try:
            even = v.width % 2 == 0 and v.height % 2 == 0
            self._video = self._box.add_stream("libx264", rate=v.average_rate or v.guessed_rate)
            self._video.width, self._video.height = v.width, v.height
            self._video.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sides
            self._video.time_base = v.time_base
            self._video.options = {"crf": str(int(crf)), "preset": preset}
            self._audio = {s.index: self._box.add_stream_from_template(s) for s in source.streams.audio}
            for s in self._audio.values():
                s.metadata.clear()
            self._box.metadata.clear()
        except BaseException:
            self._box.close()
            raise

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one frame (its pts in the source's time base); the encoder chooses the frame type."""
        frame.pict_type = av.video.frame.PictureType.NONE
        self._box.mux(self._video.encode(frame))

    def copy(self, packet: av.Packet) -> None:
        """Remux one of the source's audio packets as it is."""
        packet.stream = self._audio[packet.stream.index]
        self._box.mux(packet)

    def close(self) -> None:
        """Flush the encoder and finish the file."""
        try:
            self._box.mux(self._video.encode(None))
        finally:
            self._box.close()

    def abort(self) -> None:
        """Close without flushing (the file is about to be deleted)."""
        self._box.close()


def audio_packets(path: Path) -> list[tuple[int, bytes]]:
    """``(stream order, payload)`` of every audio packet of a file, in order (to compare copies)."""
    with av.open(str(path)) as box:
        order = {s.index: i for i, s in enumerate(box.streams.audio)}
        if not order:
            return []  # (demux() of no stream would demux them all)
        return [(order[p.stream.index], bytes(p)) for p in box.demux(*box.streams.audio) if p.size]


def verify_video(path: Path, source: VideoInfo, frames: int, audio: list[tuple[int, bytes]] | None = None) -> None:
    """Decode a written video and check it: size, ``frames`` frames, the source's duration, its audio.

    Args:
        path: the written file.
        source: the input's :class:`VideoInfo`.
        frames: frames decoded from the input (the output must have as many).
        audio: the input's audio packets (:func:`audio_packets`), to compare byte for byte; None: not checked.

    Raises:
        VideoError: the output does not decode or differs (message names ``path``).
    """
    try:
        with av.open(str(path)) as box:
            v = box.streams.video[0]
            size = (v.width, v.height)
            count = sum(1 for _ in box.decode(v))
            duration = float(box.duration or 0) / av.time_base
    except (av.FFmpegError, IndexError) as exc:
        raise VideoError(path, f"written file does not decode ({exc})") from None
    if size != (source.width, source.height):
        raise VideoError(path, f"written at {size[0]}x{size[1]}, source is {source.width}x{source.height}")
    if count != frames:
        raise VideoError(path, f"written with {count} frame(s), source has {frames}")
    if source.duration and abs(duration - source.duration) > 1.5 / float(source.rate):
        raise VideoError(path, f"written {duration:.3f} s long, source is {source.duration:.3f} s")
    if audio is not None and audio_packets(path) != audio:
        raise VideoError(path, "audio packets differ from the source's")


__all__ = [
    "DEFAULT_MAX_PIXEL_RATE", "VIDEO_FORMATS", "VIDEO_SUFFIXES", "VideoError", "VideoInfo", "VideoWriter",
    "audio_packets", "decode_frames", "frame_to_tensor", "open_video", "tensor_to_frame", "verify_video",
]
