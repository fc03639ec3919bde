"""Test clips made from still photos: a slow pan, zoom and rotation of the user's photo, a stranger in
some frames, frames with no face, and a sine tone as audio.

No face video ships in a registry package, so tests and ``p3mask bench video`` build their own. The
motion is a sequence of sub-pixel affine steps (``cv2.warpAffine``, bilinear), so the detector sees a
face that really moves and its noise is real. The true affine of every frame is returned, so the
user's true landmarks in each frame are known (the photo's landmarks mapped through it).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from p3mask.atomic import atomic_path

BACKGROUND = 118  # grey level of the empty scene


@dataclass(frozen=True)
class ClipPlan:
    """The layout of a synthetic clip.

    Attributes:
        seconds: duration.
        size: ``(H, W)`` frame size.
        fps: frame rate (integer).
        pan: horizontal travel of the user's face over the clip, as a fraction of ``W``.
        zoom: scale at the end relative to the start (1.1: 10% closer).
        rotation: degrees turned over the clip.
        stranger: ``(start, end)`` fractions of the clip in which a stranger stands at the right.
        empty: ``(start, end)`` fractions of the clip in which nobody is in the frame.
        tone_hz: frequency of the audio tone (0: no audio).
    """

    seconds: float = 2.0
    size: tuple[int, int] = (240, 320)
    fps: int = 30
    pan: float = 0.08
    zoom: float = 1.08
    rotation: float = 4.0
    stranger: tuple[float, float] = (0.3, 0.5)
    empty: tuple[float, float] = (0.75, 0.85)
    tone_hz: float = 440.0

    @property
    def frames(self) -> int:
        return round(self.seconds * self.fps)


def _head(photo: np.ndarray) -> np.ndarray:
    """Alpha ``(h, w)`` in [0, 1]: a soft ellipse around the centre of an LFW photo (the face and hair)."""
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = ((xx - w / 2) / (0.30 * w)) ** 2 + ((yy - h / 2) / (0.40 * h)) ** 2
    return np.clip((1.25 - r) / 0.25, 0.0, 1.0)


def user_affine(plan: ClipPlan, photo_hw: tuple[int, int], i: int) -> np.ndarray:
    """``(2, 3)`` map from photo pixels to frame pixels of the user's photo in frame ``i``."""
    h, w = plan.size
    s = i / max(plan.frames - 1, 1)
    scale = 0.85 * h / photo_hw[0] * (1 + (plan.zoom - 1) * s)
    angle = plan.rotation * s
    centre = (0.38 * w + plan.pan * w * s, 0.5 * h)
    m = cv2.getRotationMatrix2D((photo_hw[1] / 2 - 0.5, photo_hw[0] / 2 - 0.5), angle, scale)
    m[:, 2] += np.array(centre) - (photo_hw[1] / 2 - 0.5, photo_hw[0] / 2 - 0.5)
    return m


def _composite(canvas: np.ndarray, photo: np.ndarray, m: np.ndarray) -> None:
    size = (canvas.shape[1], canvas.shape[0])
    warped = cv2.warpAffine(photo, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    alpha = cv2.warpAffine(_head(photo), m, size, flags=cv2.INTER_LINEAR)[..., None]
    canvas[:] = canvas * (1 - alpha) + warped * alpha


def render_frames(
    plan: ClipPlan, user: np.ndarray, stranger: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    """The clip's RGB uint8 frames and, per frame, the user's affine (None when the user is absent)."""
    h, w = plan.size
    frames, affines = [], []
    for i in range(plan.frames):
        s = i / plan.frames
        canvas = np.full((h, w, 3), BACKGROUND, np.float32)
        m = None
        if not plan.empty[0] <= s < plan.empty[1]:
            m = user_affine(plan, user.shape[:2], i)
            _composite(canvas, user.astype(np.float32), m)
            if plan.stranger[0] <= s < plan.stranger[1]:
                k = 0.55 * h / stranger.shape[0]
                ms = np.array([[k, 0, 0.82 * w - k * stranger.shape[1] / 2],
                               [0, k, 0.45 * h - k * stranger.shape[0] / 2]])
                _composite(canvas, stranger.astype(np.float32), ms)
        frames.append(np.clip(canvas + 0.5, 0, 255).astype(np.uint8))
        affines.append(m)
    return frames, affines


def write_clip(path: str | os.PathLike, frames: list[np.ndarray], fps: int, tone_hz: float = 440.0,
               codec: str = "libx264", audio_codec: str = "aac", container: str | None = None) -> Path:
    """Encode RGB uint8 frames (and a sine tone as long as them) into a video file, atomically."""
    path = Path(path)
    rate = 48000
    with atomic_path(path) as tmp:
        fmt = container or {".mkv": "matroska", ".webm": "webm"}.get(path.suffix, path.suffix[1:])
        with av.open(str(tmp), "w", format=fmt) as box:
            v = box.add_stream(codec, rate=fps)
            v.height, v.width = frames[0].shape[:2]
            v.pix_fmt = "yuv420p"
            a = None
            if tone_hz:
                a = box.add_stream(audio_codec, rate=rate)
                a.layout = "mono"
            for frame in frames:
                box.mux(v.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            box.mux(v.encode(None))
            if a is not None:
                n = round(len(frames) / fps * rate)
                t = np.arange(n) / rate
                tone = (0.3 * np.sin(2 * math.pi * tone_hz * t)).astype(np.float32)[None]
                chunk = 1024
                for start in range(0, n, chunk):
                    af = av.AudioFrame.from_ndarray(tone[:, start:start + chunk], format="flt", layout="mono")
                    af.sample_rate, af.pts, af.time_base = rate, start, Fraction(1, rate)
                    box.mux(a.encode(af))
                box.mux(a.encode(None))
    return path


def make_clip(path: str | os.PathLike, user_photo: str | os.PathLike, stranger_photo: str | os.PathLike,
              plan: ClipPlan = ClipPlan(), **encode) -> list[np.ndarray | None]:
    """Render and write a clip; return the user's affine per frame (None where the user is absent).

    ``encode`` goes to :func:`write_clip` (``codec``, ``audio_codec``, ``container``).
    """
    user = cv2.cvtColor(cv2.imread(str(user_photo)), cv2.COLOR_BGR2RGB)
    stranger = cv2.cvtColor(cv2.imread(str(stranger_photo)), cv2.COLOR_BGR2RGB)
    frames, affines = render_frames(plan, user, stranger)
    write_clip(path, frames, plan.fps, plan.tone_hz, **encode)
    return affines


__all__ = ["ClipPlan", "make_clip", "render_frames", "user_affine", "write_clip"]
