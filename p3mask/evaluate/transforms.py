"""What a scraper's pipeline does to photos before recognising them: re-compression, resizing, filtering.

Each transform maps one ``(3, H, W)`` RGB photo in [0, 1] to another of the same shape, in [0, 1] and
quantised to 8 bits (as any stored photo is). They run on the CPU through Pillow and OpenCV, exactly as a
scraper's image tooling would, and are not differentiable.

:data:`TRANSFORMS` is the registry (name -> :class:`Transform`); :func:`get_transform` looks one up.

Example:
    >>> import torch
    >>> x = torch.rand(3, 64, 48, generator=torch.Generator().manual_seed(0))
    >>> y = TRANSFORMS["jpeg75"](x)
    >>> y.shape == x.shape and 0.0 <= float(y.min()) and float(y.max()) <= 1.0
    True
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from p3mask.checks import check_photo
from p3mask.registries import entry


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float [0, 1] -> ``(H, W, 3)`` uint8 RGB (rounded, clipped)."""
    check_photo(image, in_range=False)
    x = image.detach().to("cpu", torch.float32).clamp(0, 1)
    return np.ascontiguousarray((x * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy())


def from_uint8(array: np.ndarray, like: torch.Tensor | None = None) -> torch.Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(3, H, W)`` float32 [0, 1] (on ``like``'s device when given)."""
    out = torch.from_numpy(np.array(array, dtype=np.uint8, copy=True)).permute(2, 0, 1).float() / 255.0
    return out.to(like.device) if like is not None else out


def quantize(image: torch.Tensor) -> torch.Tensor:
    """Round to the nearest of the 256 levels a stored 8-bit photo can hold."""
    return from_uint8(to_uint8(image), image)


def jpeg(image: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode as a baseline JPEG with Pillow at ``quality`` (1..100, Pillow's default 4:2:0 chroma
    subsampling, as most web pipelines use) and decode it again."""
    if not 1 <= int(quality) <= 100:
        raise ValueError(f"quality must be in 1..100, got {quality}")
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(image), mode="RGB").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as im:
        return from_uint8(np.asarray(im.convert("RGB")), image)


def downscale(image: torch.Tensor, factor: float) -> torch.Tensor:
    """Shrink by ``factor`` (area averaging, as thumbnails are made), then enlarge back to the
    original size (bicubic), as a recogniser working at a fixed face size does."""
    if not 0.0 < factor <= 1.0:
        raise ValueError(f"factor must be in (0, 1], got {factor}")
    array = to_uint8(image)
    h, w = array.shape[:2]
    small = cv2.resize(array, (max(1, round(w * factor)), max(1, round(h * factor))), interpolation=cv2.INTER_AREA)
    return from_uint8(cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC), image)


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur with standard deviation ``sigma`` pixels (kernel side ``2*ceil(3*sigma)+1``)."""
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    side = 2 * int(np.ceil(3.0 * sigma)) + 1
    blurred = cv2.GaussianBlur(to_uint8(image), (side, side), sigmaX=sigma, sigmaY=sigma,
                               borderType=cv2.BORDER_REFLECT_101)
    return from_uint8(blurred, image)


def median_filter(image: torch.Tensor, size: int) -> torch.Tensor:
    """Median filter over a ``size`` x ``size`` window (odd ``size`` >= 3), per channel."""
    if size < 3 or size % 2 == 0:
        raise ValueError(f"size must be an odd int >= 3, got {size}")
    return from_uint8(cv2.medianBlur(to_uint8(image), int(size)), image)


@dataclass(frozen=True)
class Transform:
    """One scraper-side transform at one strength.

    Attributes:
        name: registry name ("jpeg75").
        family: what kind of transform ("jpeg", "downscale", "blur", "median"); robustness curves
            draw one line per family.
        level: strength on the family's own axis (JPEG quality, scale factor, sigma, window side).
        fn: ``(3, H, W) [0, 1] -> (3, H, W) [0, 1]``.
    """

    name: str
    family: str
    level: float
    fn: Callable[[torch.Tensor], torch.Tensor]

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        check_photo(image, in_range=False)
        return self.fn(image)


def _registry() -> dict[str, Transform]:
    items = []
    for q in (90, 75, 50):  # JPEG qualities of the evaluation protocol
        items.append(Transform(f"jpeg{q}", "jpeg", q, lambda x, q=q: jpeg(x, q)))
    for f in (0.5, 0.25):  # downscale factors of the evaluation protocol
        items.append(Transform(f"downscale{f:g}", "downscale", f, lambda x, f=f: downscale(x, f)))
    for s in (1.0, 2.0):  # mild and strong blur, in pixels of a 250x250 LFW photo
        items.append(Transform(f"blur{s:g}", "blur", s, lambda x, s=s: gaussian_blur(x, s)))
    for k in (3, 5):  # the two median windows image tools offer first
        items.append(Transform(f"median{k}", "median", k, lambda x, k=k: median_filter(x, k)))
    return {t.name: t for t in items}


TRANSFORMS: dict[str, Transform] = _registry()

# What "no transform" means on each family's axis, for drawing curves from the untouched photo.
IDENTITY_LEVEL: dict[str, float] = {"jpeg": 100.0, "downscale": 1.0, "blur": 0.0, "median": 1.0}


def available_transforms() -> list[str]:
    """Names of every registered transform."""
    return list(TRANSFORMS)


def get_transform(name: str) -> Transform:
    """A transform by name; an unknown name raises ``ValueError`` listing the valid ones."""
    return entry(TRANSFORMS, name, "transform")
