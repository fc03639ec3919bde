"""Ordinary degradations that anchor the perceptual scores: JPEG, Gaussian noise, a colour shift.

Each maps one ``(3, H, W)`` RGB photo in [0, 1] to another of the same shape, quantised to 8 bits (as a
saved photo is). JPEG is :func:`p3mask.evaluate.transforms.jpeg` (Pillow, 4:2:0).

Example:
    >>> import torch
    >>> x = torch.full((3, 16, 16), 0.5)
    >>> DEGRADATIONS["noise4"](x).shape
    torch.Size([3, 16, 16])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from p3mask.checks import check_photo
from p3mask.evaluate.transforms import jpeg, quantize


def gaussian_noise(image: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    """Add i.i.d. Gaussian noise of standard deviation ``sigma`` (in [0, 1] units) to every channel,
    clip and quantise; ``seed`` makes it repeatable."""
    check_photo(image, in_range=False)
    if sigma < 0:
        raise ValueError(f"sigma must be >= 0, got {sigma}")
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed)).to(image)
    return quantize((image + sigma * noise).clamp(0, 1))


def colour_shift(image: torch.Tensor, amplitude: float = 8.0 / 255.0) -> torch.Tensor:
    """A low-frequency colour cast: red raised towards the left, blue towards the top, by up to
    ``amplitude``, in one smooth half-period across the photo (what a colour-shifting mask looks like)."""
    check_photo(image, in_range=False)
    _, h, w = image.shape
    xs = torch.cos(torch.linspace(0.0, math.pi, w, dtype=image.dtype, device=image.device))
    ys = torch.cos(torch.linspace(0.0, math.pi, h, dtype=image.dtype, device=image.device))
    shifted = image.clone()
    shifted[0] += amplitude * xs.view(1, w)
    shifted[2] += amplitude * ys.view(h, 1)
    return quantize(shifted.clamp(0, 1))


DEGRADATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "jpeg75": lambda x: jpeg(x, 75),
    "jpeg50": lambda x: jpeg(x, 50),
    "noise4": lambda x: gaussian_noise(x, 4.0 / 255.0),
    "noise8": lambda x: gaussian_noise(x, 8.0 / 255.0),
    "colour_shift": colour_shift,
}

__all__ = ["DEGRADATIONS", "colour_shift", "gaussian_noise"]
