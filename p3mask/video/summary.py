"""The per-video summary: frames protected and skipped, quality, speed; printed and written as JSON."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path

from p3mask.atomic import write_json


def _stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"min": None, "median": None}
    return {"min": min(values), "median": statistics.median(values)}


@dataclass(frozen=True)
class VideoSummary:
    """What protecting one video did.

    Attributes:
        source: the input file.
        output: the written file.
        width, height, fps: the video's frame size and average frame rate.
        frames: frames in the video (input and output alike).
        protected: frames in which the user's face was masked.
        skipped: frames passed through unchanged, by reason ("no_face", "no_user", "small", "weakened_out").
        quality: face-region quality of the protected frames as masked (``protect_image``'s ``ssim``) and
            as decoded from the written file against the decoded source: ``{"masked": {"min", "median"},
            "decoded": {"min", "median"}}``.
        floor: the key's quality floor; ``decoded_below_floor`` counts decoded frames under it.
        decoded_below_floor: protected frames whose decoded quality is below ``floor``.
        seconds: wall seconds by step (decode, detect, apply, encode, verify) and in total.
        audio_streams: audio streams copied.
    """

    source: str
    output: str
    width: int
    height: int
    fps: float
    frames: int
    protected: int
    skipped: dict[str, int]
    quality: dict[str, dict[str, float | None]]
    floor: float
    decoded_below_floor: int
    seconds: dict[str, float]
    audio_streams: int
    notes: list[str] = field(default_factory=list)

    @property
    def frames_per_second(self) -> float:
        """Frames processed per wall second, end to end (verification included)."""
        return self.frames / max(self.seconds["total"], 1e-9)

    def as_dict(self) -> dict:
        return {**asdict(self), "frames_per_second": self.frames_per_second}

    def write(self, path: str | Path) -> Path:
        """Write the summary as JSON atomically."""
        return write_json(self.as_dict(), path)

    def line(self) -> str:
        """One line for the terminal."""
        skipped = ", ".join(f"{n} {why}" for why, n in self.skipped.items() if n) or "none"
        q = self.quality["decoded"]
        measured = f"quality min {q['min']:.4f}, median {q['median']:.4f} decoded"
        quality = measured if q["min"] is not None else "no quality"
        return (f"protected {self.source} -> {self.output}: {self.protected} of {self.frames} frames protected "
                f"(skipped: {skipped}), {quality} (floor {self.floor:.3f}, {self.decoded_below_floor} below), "
                f"{self.frames_per_second:.1f} fps")


def quality_stats(masked: list[float], decoded: list[float]) -> dict[str, dict[str, float | None]]:
    """The summary's ``quality`` block from per-frame values."""
    return {"masked": _stats(masked), "decoded": _stats(decoded)}


__all__ = ["VideoSummary", "quality_stats"]
