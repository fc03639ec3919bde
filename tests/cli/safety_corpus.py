"""A corpus of awkward inputs for the safety tests, generated at test time (nothing committed).

Also: a valid key, a stand-in face pipeline for the file-level tests (the face logic is tested with
real weights elsewhere), a snapshot of every pre-existing file's bytes, and a small tmpfs.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p3mask.protect.config import CANONICAL_SIZE, CANONICAL_TEMPLATE, PRESETS
from p3mask.protect.key import P3Mask

GPS_IFD, EXIF_IFD = 0x8825, 0x8769


def photo(path: Path, seed: int = 0, size=(64, 48), exif: Image.Exif | None = None) -> Path:
    """A noise JPEG/PNG (format from the suffix) with optional EXIF."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    im = Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))
    options = {"exif": exif.tobytes()} if exif is not None else {}
    im.save(path, **options)
    return path


def private_exif() -> Image.Exif:
    """EXIF with GPS, camera make/model, a serial number, orientation 6 and a kept copyright."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0110] = "Phone 12"
    exif[0x8298] = "(c) me"
    exif[0x0112] = 6
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 0.0), 3: "W", 4: (0.0, 7.0, 0.0)})
    exif.get_ifd(EXIF_IFD).update({0xA431: "SN-123456"})
    return exif


def rgba(path: Path) -> Path:
    im = Image.new("RGBA", (40, 40), (200, 10, 10, 0))
    im.paste((10, 200, 10, 255), (10, 10, 30, 30))
    im.save(path)
    return path


def animated_gif(path: Path, frames: int = 3) -> Path:
    ims = [Image.new("RGB", (40, 40), (60 * i, 20, 20)) for i in range(frames)]
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=100, loop=0)
    return path


def png16(path: Path) -> Path:
    arr = (np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40).astype(np.uint16)
    Image.fromarray(arr).save(path)  # uint16 -> mode I;16
    return path


def key(path: Path | None = None, **changes) -> P3Mask:
    """A key that passes every check (mid preset, sface match model at its calibrated threshold)."""
    from p3mask.models.thresholds import match_threshold

    g = torch.Generator().manual_seed(0)
    eps = 12 / 255
    fields = dict(
        mask=(torch.rand(3, *CANONICAL_SIZE, generator=g) * 2 - 1) * eps, epsilon=eps, frame_size=CANONICAL_SIZE,
        template=CANONICAL_TEMPLATE, team=("mobileface", "mobilefacenet"), quality_floor=PRESETS["mid"].quality_floor,
        quality_min=70.2, quality_mean=72.0, preset="mid", user="alice",
        references={"sface": torch.nn.functional.normalize(torch.randn(128, generator=g), dim=0)},
        match_model="sface", match_threshold=match_threshold("sface"), photos=12,
    )
    fields.update(changes)
    k = P3Mask(**fields)
    if path is not None:
        k.save(path)
    return k


def snapshot(root: Path) -> dict[Path, str]:
    """SHA-256 of every file under ``root``."""
    return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def unchanged(before: dict[Path, str]) -> list[Path]:
    """Files of ``before`` that are gone or whose bytes changed."""
    return [p for p, h in before.items() if not p.is_file() or hashlib.sha256(p.read_bytes()).hexdigest() != h]


def fake_pipeline(monkeypatch, events: list | None = None) -> None:
    """Stand-ins for detection, the match model and masking: every photo whose name has no "stranger"
    holds one face of the user, masked by darkening the photo a little."""
    from p3mask.face import detect
    from p3mask.protect import apply

    class Matcher(torch.nn.Module):
        name = "sface"

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

    def protect_image(key, image, detector=None, matcher=None, detections=None, policy=None):
        if events is not None:
            events.append(("work", image.shape))
        if getattr(protect_image, "stranger", False):
            return image.clone(), apply.ProtectReport([apply.FaceOutcome((0, 0, 9, 9), 0.1, False)])
        face = apply.FaceOutcome((0.0, 0.0, 9.0, 9.0), 0.9, True, quality=75.0, ssim=0.97, strength=1.0, reason="match")
        return (image * 0.9).clamp(0, 1), apply.ProtectReport([face])

    monkeypatch.setattr(apply, "protect_image", protect_image)
    monkeypatch.setattr(detect, "FaceDetector", lambda *a, **k: None)
    monkeypatch.setattr("p3mask.models.load_model", lambda name, device=None: Matcher())
    return protect_image


@contextmanager
def small_disk(where: Path, size: str = "96k"):
    """A tmpfs of ``size`` mounted at ``where`` (yields None where mounting is not allowed)."""
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                          capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError:
        pass
    finally:
        os.close(fd)
