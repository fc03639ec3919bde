"""Butteraugli (Google / JPEG XL) as an independent audit of protected photos.

The optimiser never sees this measure: it runs libjxl's ``butteraugli_main`` (Debian package
``libjxl-devtools``: ``apt-get install libjxl-devtools``) as a subprocess on two 8-bit PNGs written to a
private temporary folder, and reads the two figures it prints: the max distance (<= 1.0 looks the same,
about 1.3 for JPEG q75, 4 for q50 on LFW photos) and the 3-norm. When the tool is not installed every
call returns None and one log message says why.

Example:
    >>> import torch
    >>> x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> score = butteraugli(x, x)
    >>> score is None or score.max_distance == 0.0
    True
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

TOOL = "butteraugli_main"
INSTALL_HINT = "apt-get install libjxl-devtools (Debian/Ubuntu) provides butteraugli_main"
TIMEOUT_S = 120.0  # a 250x250 pair takes well under a second
_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
_warned = False


@dataclass(frozen=True)
class ButteraugliScore:
    """The two figures ``butteraugli_main`` prints for one pair."""

    max_distance: float  # the max over the distance map: <= 1.0 looks the same
    pnorm3: float  # the 3-norm of the distance map


def butteraugli_available() -> bool:
    """Whether ``butteraugli_main`` is on the PATH."""
    return shutil.which(TOOL) is not None


def _warn_once(reason: str) -> None:
    global _warned
    if not _warned:
        log.warning("Butteraugli not measured: %s", reason)
        _warned = True


def _to_uint8(name: str, image: torch.Tensor) -> np.ndarray:
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise TypeError(f"{name}: expected a float torch.Tensor, got {type(image).__name__}")
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"{name}: expected (3,H,W) or (1,3,H,W) RGB in [0,1], got {tuple(image.shape)}")
    pixels = (image.detach().float().clamp(0, 1) * 255.0).round().to(torch.uint8)
    return pixels.permute(1, 2, 0).cpu().numpy()


def parse_output(text: str) -> ButteraugliScore:
    """The max distance (the first line) and the 3-norm (``3-norm: X``) from ``butteraugli_main``'s
    standard output; ValueError naming what is missing otherwise."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    first = re.fullmatch(_NUMBER, lines[0]) if lines else None
    norm = re.search(r"3-norm:\s*" + _NUMBER, text)
    if first is None or norm is None:
        raise ValueError(f"unexpected {TOOL} output (expected a max distance line and '3-norm: X'): {text!r}")
    return ButteraugliScore(float(first.group(1)), float(norm.group(1)))


def butteraugli(reference: torch.Tensor, distorted: torch.Tensor) -> ButteraugliScore | None:
    """Butteraugli of ``distorted`` against ``reference``, both ``(3, H, W)`` or ``(1, 3, H, W)`` RGB
    in [0, 1] (quantised to 8 bits, as a saved photo is), or None when ``butteraugli_main`` is missing.

    Raises:
        ValueError: shapes differ, or the tool's output cannot be read.
        RuntimeError: the tool failed (its exit status and message are in the error).
    """
    ref, dist = _to_uint8("reference", reference), _to_uint8("distorted", distorted)
    if ref.shape != dist.shape:
        raise ValueError(f"reference and distorted must have the same shape, got {ref.shape} and {dist.shape}")
    tool = shutil.which(TOOL)
    if tool is None:
        _warn_once(f"{TOOL} is not installed ({INSTALL_HINT})")
        return None
    with tempfile.TemporaryDirectory(prefix="p3mask-butteraugli-") as folder:
        paths = [Path(folder) / "reference.png", Path(folder) / "distorted.png"]
        for path, pixels in zip(paths, (ref, dist)):
            Image.fromarray(pixels).save(path)
        result = subprocess.run(
            [tool, str(paths[0]), str(paths[1]), "--pnorm", "3"],
            capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
        )
    if result.returncode != 0:
        raise RuntimeError(f"{TOOL} exited with status {result.returncode}: {result.stderr.strip()[-500:]}")
    return parse_output(result.stdout)


__all__ = ["ButteraugliScore", "INSTALL_HINT", "butteraugli", "butteraugli_available", "parse_output"]
