"""Checking uploaded files and keeping them in the server's private folder.

Every upload is refused before it is stored when it is over :data:`MAX_UPLOAD_BYTES`; a photo is
recognised by its content (Pillow), never by its name, and is stored under a name the server makes
(``<id><suffix of its real format>``), so a user's file name never becomes a path. It is then read
through :func:`p3mask.face.image_io.load_image_with_info`, the reader every command uses, which
refuses pictures too small (under 16 pixels a side) or too large (:data:`MAX_MEGAPIXELS`).
"""

from __future__ import annotations

import io
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from p3mask.atomic import atomic_path
from p3mask.face.image_io import ImageInfo, ImageLoadError, load_image_with_info

MAX_UPLOAD_BYTES = 40 * 1024 * 1024  # one photo or key; phone photos are 2-12 MB
MAX_MEGAPIXELS = 50.0  # pixels of one photo (a 50 MP phone camera)
# Formats a photo may have, by what Pillow reads in the file, and the suffix its stored copy gets.
PHOTO_FORMATS: dict[str, str] = {"JPEG": ".jpg", "MPO": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp",
                                 "TIFF": ".tif", "GIF": ".gif"}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._ -]+")


class UploadError(ValueError):
    """An upload was refused; the message names the file and the problem, for the page."""


@dataclass(frozen=True)
class StoredPhoto:
    """A checked photo in the private folder.

    Attributes:
        id: the server's name for it (random, URL-safe).
        name: the user's file name, cleaned for display and downloads.
        path: the stored copy.
        info: what :func:`load_image_with_info` read (size, format, metadata).
    """

    id: str
    name: str
    path: Path
    info: ImageInfo


def display_name(name: str, fallback: str = "photo") -> str:
    """The user's file name without folders or odd characters (at most 100 characters)."""
    base = _SAFE_NAME.sub("_", os.path.basename(name.replace("\\", "/"))).strip(" .")
    return base[:100] or fallback


def check_size(name: str, size: int) -> None:
    """Raise :class:`UploadError` when an upload of ``size`` bytes is empty or over the limit."""
    if size == 0:
        raise UploadError(f"{name}: the file is empty")
    if size > MAX_UPLOAD_BYTES:
        raise UploadError(f"{name}: too large ({size / 1e6:.1f} MB; limit {MAX_UPLOAD_BYTES / 1e6:.0f} MB)")


def photo_format(name: str, data: bytes) -> str:
    """The Pillow format of ``data``, read from its content.

    Raises:
        UploadError: not a picture Pillow recognises, or not one of :data:`PHOTO_FORMATS`.
    """
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        raise UploadError(f"{name}: not a photo (its content is not a picture format p3mask reads: "
                          f"{', '.join(sorted(set(PHOTO_FORMATS) - {'MPO'}))})") from None
    except Image.DecompressionBombError:
        raise UploadError(f"{name}: image too large (over {MAX_MEGAPIXELS:g} megapixels)") from None
    if fmt not in PHOTO_FORMATS:
        raise UploadError(f"{name}: {fmt or 'this'} pictures are not supported; give JPEG, PNG, WebP, BMP, TIFF or GIF")
    return fmt


def store_photo(folder: Path, name: str, data: bytes) -> StoredPhoto:
    """Check one uploaded photo and keep it in ``folder`` (owner-only).

    Raises:
        UploadError: empty, too large, not a supported picture, too small or too many pixels, unreadable.
    """
    name = display_name(name)
    check_size(name, len(data))
    fmt = photo_format(name, data)
    photo_id = secrets.token_urlsafe(9)
    path = folder / f"{photo_id}{PHOTO_FORMATS[fmt]}"
    write_private(path, data)
    try:
        _, info = load_image_with_info(path, max_megapixels=MAX_MEGAPIXELS)
    except ImageLoadError as exc:
        path.unlink(missing_ok=True)
        raise UploadError(f"{name}: {exc.problem}") from None
    return StoredPhoto(photo_id, name, path, info)


def write_private(path: Path, data: bytes) -> Path:
    """Write ``data`` to a new file ``path`` readable by its owner only (never over an existing file)."""
    with atomic_path(path, mode=0o600) as tmp:
        tmp.write_bytes(data)
    return path
