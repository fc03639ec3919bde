"""Reading and writing photos: one convention in, the same format back out.

:func:`load_image` turns any photo Pillow can read into a float ``(3, H, W)`` RGB tensor in [0, 1]
with the EXIF orientation applied, so every later step (detection, alignment, masking) sees the
picture the way a viewer shows it. Every failure is an :class:`ImageLoadError` whose message starts
with the file name, so batch commands can report it and go on.

:func:`save_image` writes with :func:`p3mask.atomic.atomic_path` (never replacing an existing file
unless told to, and checking that the written file decodes at the right size), in the format of the
original when given its :class:`ImageInfo`, keeping its ICC profile and its EXIF less the orientation
(the pixels are already upright) and, unless asked to keep them, less the location and device
fields (:data:`PRIVATE_EXIF`). What a photo loses on the way (transparency, animation frames, bit
depth) is listed in :attr:`ImageInfo.notes` so commands can say so per file.

:func:`scan_inputs` expands files and folders into photos and names every file of a folder it does
not take, with the reason.
"""

from __future__ import annotations

import io
import logging
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from p3mask.atomic import atomic_path
from p3mask.checks import check_photo
from p3mask.errors import FileError

logger = logging.getLogger(__name__)

# File suffixes (lower case) that directory walks treat as photos.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".pgm", ".ppm", ".pnm"}
)
MIN_SIDE = 16  # smallest width/height accepted; a face cannot be found in fewer pixels
_EXIF_ORIENTATION = 0x0112  # EXIF tag number of Orientation
_META_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF"}  # Pillow writers that accept exif= and icc_profile=
_QUALITY_FORMATS = {"JPEG", "WEBP"}  # Pillow writers that accept quality=
_FORMAT_ALIASES = {"MPO": "JPEG"}  # multi-picture JPEGs from phones are written as plain JPEG
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825  # EXIF pointers to the Exif and GPS sub-IFDs
# EXIF fields that say where a photo was taken, with what device, or by whom: removed from every
# written photo unless the caller keeps metadata. (IFD0 tag or (sub-IFD, tag)) -> what it is.
PRIVATE_EXIF: dict = {
    _GPS_IFD: "GPS location",
    0x010F: "camera make", 0x0110: "camera model", 0x0131: "software", 0x013C: "host computer",
    0x013B: "artist", (_EXIF_IFD, 0xA430): "camera owner", (_EXIF_IFD, 0xA431): "camera serial number",
    (_EXIF_IFD, 0xA433): "lens make", (_EXIF_IFD, 0xA434): "lens model", (_EXIF_IFD, 0xA435): "lens serial number",
    (_EXIF_IFD, 0x927C): "maker note", (_EXIF_IFD, 0xA420): "image unique id",
}
_RGB_PROFILE_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA")  # modes whose ICC profile still fits RGB output


class ImageLoadError(FileError):
    """A photo could not be read; the message is ``"<file name>: <problem>"`` (``path``, ``problem``)."""


@dataclass(frozen=True)
class ImageInfo:
    """What a writer needs to save a processed photo like its original.

    Attributes:
        path: the source file.
        format: Pillow format name of the source ("JPEG", "PNG", ...).
        size: ``(W, H)`` of the loaded (upright) picture.
        mode: Pillow mode of the source before conversion ("RGB", "L", "RGBA", "I;16", ...).
        exif: EXIF block with the Orientation tag removed, or ``None``.
        icc_profile: embedded ICC profile bytes, or ``None`` (also when the profile describes
            CMYK or grey pixels, which are converted to RGB).
        notes: what a copy written by :func:`save_image` loses (transparency, frames, depth,
            a non-RGB colour profile), one phrase each.
        private_exif: names of the :data:`PRIVATE_EXIF` fields the photo carries.
    """

    path: Path
    format: str
    size: tuple[int, int]
    mode: str
    exif: bytes | None
    icc_profile: bytes | None
    notes: tuple[str, ...] = ()
    private_exif: tuple[str, ...] = ()


def _open_checked(path: Path, max_megapixels: float) -> Image.Image:
    """Open lazily and check the header: existence, identity, size limits."""
    if not path.exists():
        raise ImageLoadError(path, "file not found")
    if path.is_dir():
        raise ImageLoadError(path, "is a directory, not an image file")
    try:
        with warnings.catch_warnings():
            # Our own megapixel limit is checked below; Pillow's warning would only be noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError:
        limit = 2 * Image.MAX_IMAGE_PIXELS / 1e6
        raise ImageLoadError(
            path, f"image too large (over {limit:.0f} megapixels; limit {min(limit, max_megapixels):g})"
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not an image (cannot identify image file)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(path, f"unreadable image header ({exc})") from exc
    w, h = im.size
    if w * h / 1e6 > max_megapixels:
        im.close()
        raise ImageLoadError(
            path, f"image too large ({w * h / 1e6:.1f} megapixels; limit {max_megapixels:g})"
        )
    if min(w, h) < MIN_SIDE:
        im.close()
        raise ImageLoadError(path, f"image too small ({w}x{h} pixels; need >= {MIN_SIDE}x{MIN_SIDE})")
    return im


def _decode(im: Image.Image, path: Path) -> Image.Image:
    """Force the full decode (so truncation is caught) and apply the EXIF orientation."""
    kind = im.format or "image"
    try:
        im.seek(0)  # first frame of GIF/TIFF/MPO
        im.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(path, f"corrupt or truncated {kind} ({exc})") from exc
    try:
        upright = ImageOps.exif_transpose(im)
    except Exception as exc:  # noqa: BLE001 - Pillow raises many types on malformed EXIF
        logger.warning("%s: unreadable EXIF orientation, using stored pixels (%s)", path.name, exc)
        upright = im.copy()
    return upright


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """``(H, W, 3)`` float32 RGB in [0, 1]; alpha composited on white, deep modes rescaled."""
    mode = im.mode
    if mode.startswith("I;16") or mode in ("I", "F"):
        grey = np.asarray(im, dtype=np.float64)
        if mode.startswith("I;16"):
            grey = grey / 65535.0
        elif mode == "I":  # 32-bit integer: 16-bit PNGs/TIFFs land here in older Pillow
            grey = grey / (65535.0 if grey.max(initial=0) > 255 else 255.0)
        elif grey.max(initial=0) > 1.0:  # float TIFF stored as 0..255
            grey = grey / 255.0
        grey = np.clip(grey, 0.0, 1.0).astype(np.float32)
        return np.repeat(grey[..., None], 3, axis=2)
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        return rgba[..., :3] * alpha + (1.0 - alpha)  # composite on white
    return np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0


def _exif_without_orientation(im: Image.Image) -> bytes | None:
    try:
        exif = im.getexif()
        exif.pop(_EXIF_ORIENTATION, None)
        return exif.tobytes() if len(exif) else None
    except Exception as exc:  # noqa: BLE001 - malformed EXIF must not stop loading
        logger.warning("dropping unreadable EXIF block (%s)", exc)
        return None


def _private_fields(exif: Image.Exif, remove: bool) -> list[str]:
    """Names of the :data:`PRIVATE_EXIF` fields in ``exif``; deleted from it when ``remove``."""
    found = []
    sub_ifd = exif.get_ifd(_EXIF_IFD) if _EXIF_IFD in exif else {}
    for tag, name in PRIVATE_EXIF.items():
        where, key = (sub_ifd, tag[1]) if isinstance(tag, tuple) else (exif, tag)
        if key in where:
            found.append(name)
            if remove:
                del where[key]
    return found


def private_exif(exif: bytes | None, remove: bool = False) -> tuple[bytes | None, list[str]]:
    """``(exif, names)``: the EXIF block (with the private fields removed when ``remove``) and the
    names of the :data:`PRIVATE_EXIF` fields it held. An unreadable block is dropped whole."""
    if not exif:
        return None, []
    parsed = Image.Exif()
    try:
        parsed.load(exif)
        names = _private_fields(parsed, remove)
        return (parsed.tobytes() if len(parsed) else None) if remove else exif, names
    except Exception as exc:  # noqa: BLE001 - malformed EXIF: drop it rather than publish what it holds
        return None, [f"unreadable EXIF block ({type(exc).__name__})"]


def _losses(im: Image.Image, mode: str, fmt: str, icc: bytes | None) -> list[str]:
    """What an 8-bit RGB copy of ``im`` (the opened source) loses, one phrase each."""
    notes = []
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        notes.append("transparency flattened onto white (the copy has no alpha channel)")
    frames = getattr(im, "n_frames", 1)
    if getattr(im, "is_animated", False) and frames > 1 and fmt != "MPO":
        notes.append(f"animated: only the first of {frames} frames is kept")
    if mode.startswith("I;16") or mode in ("I", "F"):
        notes.append(f"{'16' if mode.startswith('I;16') else '32'}-bit depth reduced to 8 bits")
    if icc and mode not in _RGB_PROFILE_MODES:
        notes.append(f"the {mode} colour profile is dropped (the pixels are converted to RGB)")
    return notes


def load_image_with_info(
    path: str | os.PathLike, max_megapixels: float = 100.0
) -> tuple[torch.Tensor, ImageInfo]:
    """Load a photo and the metadata needed to write it back in the same format.

    Args:
        path: image file (any format Pillow reads: JPEG, PNG, WebP, TIFF, BMP, GIF, PGM, ...).
        max_megapixels: refuse pictures with more pixels than this (default 100).

    Returns:
        ``(image, info)``: image is ``(3, H, W)`` float32 RGB in [0, 1], upright (EXIF
        orientation applied); greyscale/palette/CMYK/16-bit converted to RGB; alpha
        composited on white.

    Raises:
        ImageLoadError: file missing, not an image, corrupt/truncated, too small (< 16 px a
            side) or too large; the message names the file.
    """
    if max_megapixels <= 0:
        raise ValueError(f"max_megapixels must be > 0, got {max_megapixels}")
    path = Path(path)
    im = _open_checked(path, max_megapixels)
    try:
        fmt = im.format or "PNG"
        mode = im.mode
        icc = im.info.get("icc_profile") or None
        notes = _losses(im, mode, fmt, icc)
        icc = icc if mode in _RGB_PROFILE_MODES else None
        upright = _decode(im, path)
        try:
            array = _to_rgb_array(upright)
        except (OSError, ValueError) as exc:
            raise ImageLoadError(path, f"cannot convert {mode} pixels to RGB ({exc})") from exc
        exif = _exif_without_orientation(upright)
        info = ImageInfo(
            path=path, format=fmt, size=upright.size, mode=mode, exif=exif, icc_profile=icc,
            notes=tuple(notes), private_exif=tuple(private_exif(exif)[1]),
        )
    finally:
        im.close()
    tensor = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1).contiguous()
    return tensor, info


def load_image(path: str | os.PathLike, max_megapixels: float = 100.0) -> torch.Tensor:
    """Load a photo as a ``(3, H, W)`` float32 RGB tensor in [0, 1] (see :func:`load_image_with_info`).

    Example:
        >>> x = load_image("photo.jpg")  # doctest: +SKIP
        >>> x.shape, x.dtype  # doctest: +SKIP
        (torch.Size([3, 480, 640]), torch.float32)
    """
    return load_image_with_info(path, max_megapixels)[0]


def _check_save_tensor(image: torch.Tensor) -> torch.Tensor:
    check_photo(image, tolerance=1e-4)  # tolerance for float round-off only
    return image.detach().to("cpu", torch.float32).clamp(0, 1)


def _format_for(path: Path, like: ImageInfo | None) -> str:
    by_suffix = Image.registered_extensions().get(path.suffix.lower())
    if like is None:
        if by_suffix is None:
            raise ValueError(f"{path.name}: cannot tell the image format from suffix {path.suffix!r}")
        fmt = by_suffix
    else:
        fmt = _FORMAT_ALIASES.get(like.format, like.format)
        if by_suffix is not None and _FORMAT_ALIASES.get(by_suffix, by_suffix) != fmt:
            raise ValueError(
                f"{path.name}: suffix {path.suffix!r} means {by_suffix} but the original is {like.format}"
            )
    if fmt not in Image.SAVE:
        raise ValueError(f"{path.name}: Pillow cannot write {fmt} images")
    return fmt


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (same path, or the same file through links)."""
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


def _verifier(fmt: str, size: tuple[int, int]):
    """A check for :func:`atomic_path`: the written file decodes fully, as ``fmt``, at ``size``."""
    def verify(tmp: Path) -> None:
        with Image.open(tmp) as im:
            im.load()
            if im.size != size:
                raise ValueError(f"decoded {im.size[0]}x{im.size[1]}, expected {size[0]}x{size[1]}")
            if _FORMAT_ALIASES.get(im.format, im.format) != fmt:
                raise ValueError(f"reads back as {im.format}, expected {fmt}")
    return verify


@dataclass(frozen=True)
class EncodedImage:
    """A photo encoded in memory by :func:`encode_image`, ready for :func:`write_encoded`.

    Attributes:
        data: the file's bytes.
        format: Pillow format name ("JPEG", "PNG", ...).
        size: ``(W, H)`` of the picture.
    """

    data: bytes
    format: str
    size: tuple[int, int]


def _prepared(
    image: torch.Tensor, path: Path, like: ImageInfo | None, jpeg_quality: int, keep_metadata: bool
) -> tuple[Image.Image, str, dict]:
    """The 8-bit picture, its format and Pillow's save options, as :func:`save_image` writes ``image`` to ``path``."""
    if not 1 <= int(jpeg_quality) <= 100:
        raise ValueError(f"jpeg_quality must be in 1..100, got {jpeg_quality}")
    x = _check_save_tensor(image)
    fmt = _format_for(path, like)
    array = (x * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()
    im = Image.fromarray(np.ascontiguousarray(array), mode="RGB")
    options: dict = {}
    if fmt in _QUALITY_FORMATS:
        options["quality"] = int(jpeg_quality)
    if fmt == "JPEG":
        options["subsampling"] = 0
    if like is not None and fmt in _META_FORMATS:
        exif = like.exif if keep_metadata else private_exif(like.exif, remove=True)[0]
        if exif:
            options["exif"] = exif
        if like.icc_profile:
            options["icc_profile"] = like.icc_profile
    return im, fmt, options


def encode_image(
    image: torch.Tensor,
    path: str | os.PathLike,
    like: ImageInfo | None = None,
    jpeg_quality: int = 95,
    keep_metadata: bool = False,
) -> EncodedImage:
    """Encode a ``(3, H, W)`` RGB [0, 1] tensor in memory, byte for byte as :func:`save_image` writes it
    to ``path``; :func:`write_encoded` then writes it.

    Args and errors: those of :func:`save_image` (the format comes from ``like``, else from ``path``'s
    suffix; nothing is written).
    """
    im, fmt, options = _prepared(image, Path(path), like, jpeg_quality, keep_metadata)
    buffer = io.BytesIO()
    im.save(buffer, format=fmt, **options)
    return EncodedImage(buffer.getvalue(), fmt, im.size)


def write_encoded(encoded: EncodedImage, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write an :class:`EncodedImage` with :func:`p3mask.atomic.atomic_path`: flushed, decoded again in
    full (format and size checked), then moved into place; an existing ``path`` is never replaced
    unless ``overwrite``.

    Raises:
        p3mask.atomic.WriteError: ``path`` exists, the disk is full, or the file did not read back.
    """
    with atomic_path(path, overwrite=overwrite, verify=_verifier(encoded.format, encoded.size)) as tmp:
        tmp.write_bytes(encoded.data)
    return Path(path)


def save_image(
    image: torch.Tensor,
    path: str | os.PathLike,
    like: ImageInfo | None = None,
    jpeg_quality: int = 95,
    overwrite_source: bool = False,
    overwrite: bool = False,
    keep_metadata: bool = False,
) -> Path:
    """Write a ``(3, H, W)`` RGB [0, 1] tensor with :func:`p3mask.atomic.atomic_path`.

    The file is written beside ``path``, flushed, decoded again in full (format and size checked)
    and only then moved into place; an existing ``path`` is never replaced unless ``overwrite``.
    (:func:`encode_image` and :func:`write_encoded` do the same in two steps.)

    Args:
        image: ``(3, H, W)`` float tensor in [0, 1]; rounded to 8 bits.
        path: output file.
        like: :class:`ImageInfo` of the original; when given, the output has the original's
            format, ICC profile and EXIF (orientation reset; location and device fields removed
            unless ``keep_metadata``). Otherwise the suffix picks the format.
        jpeg_quality: quality for JPEG/WebP output, 1..100 (default 95). JPEGs are written
            without chroma subsampling (4:4:4) so fine colour detail survives.
        overwrite_source: allow ``path`` to be ``like.path`` (default ``False``; needs ``overwrite`` too).
        overwrite: replace ``path`` if it exists (default ``False``).
        keep_metadata: keep the :data:`PRIVATE_EXIF` fields (GPS, camera, serials) of ``like``.

    Returns:
        The written path.

    Raises:
        ValueError: out path is the source path, the suffix contradicts ``like.format``, the
            format is unknown/unwritable, or the tensor is not (3,H,W) in [0,1].
        p3mask.atomic.WriteError: ``path`` exists, the disk is full, or the file did not read back.
    """
    path = Path(path)
    if like is not None and not overwrite_source and same_file(path, like.path):
        raise ValueError(f"{path.name}: refusing to overwrite the source photo")
    im, fmt, options = _prepared(image, path, like, jpeg_quality, keep_metadata)
    with atomic_path(path, overwrite=overwrite, verify=_verifier(fmt, im.size)) as tmp:
        im.save(tmp, format=fmt, **options)
    return path


# Folders a walk never enters: p3mask's own learning artefacts (see p3mask.cli.learn), so that
# learning from a folder never takes its own pictures for photos of the user.
ARTEFACT_FOLDER_SUFFIX = ".learn"


@dataclass(frozen=True)
class Scan:
    """Files found by :func:`scan_inputs`.

    Attributes:
        files: ``(root, file)``: every photo, with the input it came from (the file itself when
            named directly, else the folder), sorted, each file once.
        skipped: ``(path, reason)`` for every file of a folder not taken (not a photo, hidden) and
            every repeat of a file already taken.
        missing: inputs that do not exist.
    """

    files: list[tuple[Path, Path]]
    skipped: list[tuple[Path, str]]
    missing: list[Path]


def _walk(folder: Path, skipped: list[tuple[Path, str]]) -> Iterable[Path]:
    for root, dirs, files in os.walk(folder):
        for d in sorted(dirs):
            if d.startswith("."):
                skipped.append((Path(root) / d, "hidden folder, not searched"))
            elif d.endswith(ARTEFACT_FOLDER_SUFFIX):
                skipped.append((Path(root) / d, "p3mask learning artefacts, not photos"))
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not d.endswith(ARTEFACT_FOLDER_SUFFIX))
        for name in sorted(files):
            path = Path(root) / name
            if name.startswith("."):
                if not name.endswith(".part"):  # unfinished writes of p3mask itself stay unmentioned
                    skipped.append((path, "hidden file"))
            elif path.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append((path, f"unsupported file type {path.suffix or '(no suffix)'!r}; "
                                      f"supported: {', '.join(sorted(IMAGE_SUFFIXES))}"))
            else:
                yield path


def scan_inputs(paths: Iterable[str | os.PathLike]) -> Scan:
    """Expand files and folders into photos, naming every file not taken and why.

    Folders are walked recursively, keeping files whose suffix is in :data:`IMAGE_SUFFIXES`
    (case-insensitive); hidden files and folders and p3mask's learning-artefact folders are not
    taken. A missing input is listed in :attr:`Scan.missing`; a file named explicitly is kept whatever
    its suffix, so that the loader reports its problem. A file reached twice (named twice, or also
    inside a folder given) is taken once and the repeat is reported.
    """
    files: list[tuple[Path, Path]] = []
    skipped: list[tuple[Path, str]] = []
    missing: list[Path] = []
    seen: dict[Path, Path] = {}
    for item in map(Path, paths):
        if not item.exists():
            missing.append(item)
            continue
        found = sorted(_walk(item, skipped)) if item.is_dir() else [item]
        if item.is_dir() and not found:
            skipped.append((item, "folder holds no photo"))
        for path in found:
            real = path.resolve()
            if real in seen:
                skipped.append((path, f"given more than once (same file as {seen[real]}); taken once"))
                continue
            seen[real] = path
            files.append((item, path))
    return Scan(files, skipped, missing)


def iter_image_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted, de-duplicated list of image files.

    Folders are walked recursively, keeping files whose suffix is in :data:`IMAGE_SUFFIXES`
    (case-insensitive) and skipping hidden files and folders (including unfinished atomic
    writes). Files named explicitly are kept whatever their suffix, even if missing, so that
    the loader reports each problem with its file name.

    Args:
        paths: one path or an iterable of paths.

    Returns:
        Sorted list of paths.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    found: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            found.update(_walk(p, []))
        else:
            found.add(p)
    return sorted(found)


__all__ = [
    "ARTEFACT_FOLDER_SUFFIX", "IMAGE_SUFFIXES", "PRIVATE_EXIF", "ImageInfo", "ImageLoadError", "Scan",
    "iter_image_files", "load_image", "load_image_with_info", "private_exif", "same_file", "save_image", "scan_inputs",
]
