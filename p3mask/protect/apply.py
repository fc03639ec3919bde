"""Instant protection: apply a learned P3-Mask to new photos.

For each photo: detect every face, recognise the user's face(s) by comparing each face's embedding
(from the key's ``match_model``) with the key's reference embedding, warp the mask from the canonical
frame onto each of the user's faces at the photo's full resolution, and leave strangers untouched.
If the face-region SSIM of a face would fall below the key's SSIM floor, the mask is weakened on that
face (a safeguarded secant search on a strength factor) until it holds, on that face and on any of
the user's faces masked before whose region it reaches. Files are written atomically into an output
folder in the original's format; originals are never touched, and a photo without the user's face is
reported and not written.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from p3mask.face.align import align_faces, estimate_similarity, invert_affine, paste_from_crop
from p3mask.face.detect import Detections, FaceDetector
from p3mask.face.image_io import ImageLoadError, iter_image_files, load_image_with_info, save_image
from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer
from p3mask.protect.key import P3Mask
from p3mask.protect.ssim import WINDOW_SIZE, FixedReferenceSSIM

logger = logging.getLogger(__name__)

_BISECT_STEPS = 10  # strength resolution 2^-10 when a face needs a weaker mask
_SEARCH_STEPS = 16  # most SSIM evaluations of that search (it usually stops after 2-3)
_FLOOR_TOLERANCE = 0.001  # a strength whose SSIM is within this of the floor is taken
_PAD = WINDOW_SIZE // 2 + 2  # pixels kept around a face's mask footprint (SSIM window + bilinear tap)
# The search measures SSIM with FixedReferenceSSIM, which agrees with face_ssim to a few 1e-7: a face
# keeps the floor by this much more, so that face_ssim on the saved photo keeps it too.
_SSIM_GUARD = 1e-6


@dataclass(frozen=True)
class FaceOutcome:
    """What happened to one detected face."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in photo pixels
    cosine: float  # similarity to the user's reference (key.match_model)
    protected: bool  # True: the user's face, masked
    ssim: float | None = None  # face-region SSIM after masking (protected faces only)
    strength: float | None = None  # fraction of the mask applied (1.0 unless the SSIM floor needed less)


@dataclass(frozen=True)
class ProtectReport:
    """Faces protected and left in one photo."""

    faces: list[FaceOutcome] = field(default_factory=list)

    @property
    def protected(self) -> int:
        """Number of the user's faces masked."""
        return sum(f.protected for f in self.faces)

    @property
    def left(self) -> int:
        """Number of faces left untouched (strangers)."""
        return sum(not f.protected for f in self.faces)


def _window(matrix: torch.Tensor, frame: tuple[int, int], hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """Photo box ``(y0, y1, x0, x1)`` that the frame reaches for this face, padded, clipped."""
    h, w = frame
    corners = torch.tensor([[-1.0, -1.0, w, w], [-1.0, h, -1.0, h], [1.0] * 4], dtype=matrix.dtype)
    pts = invert_affine(matrix[None].cpu())[0] @ corners
    x0, y0 = int(pts[0].min()) - _PAD, int(pts[1].min()) - _PAD
    x1, y1 = int(pts[0].max()) + _PAD + 1, int(pts[1].max()) + _PAD + 1
    return max(0, y0), min(hw[0], y1), max(0, x0), min(hw[1], x1)


@dataclass(frozen=True)
class _MaskedFace:
    """Where one face of the photo was masked: its photo window ``(y0, y1, x0, x1)`` and the SSIM of
    that window against the original photo over the mask's coverage (the face region)."""

    window: tuple[int, int, int, int]
    measure: FixedReferenceSSIM


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _region_ssim(image: torch.Tensor, face: _MaskedFace) -> float:
    """Face-region SSIM of one masked face of ``image`` against the original photo."""
    y0, y1, x0, x1 = face.window
    return face.measure(image[:, y0:y1, x0:x1][None])


def _mask_face(
    key: P3Mask,
    image: torch.Tensor,
    original: torch.Tensor,
    landmarks: torch.Tensor,
    masked_before: Sequence[_MaskedFace] = (),
) -> tuple[float, float, _MaskedFace | None]:
    """Paste the mask onto one face of ``image`` in place; return ``(ssim, strength, where)``.

    The SSIM is measured against ``original`` (the photo before any face was masked). Faces masked
    before (``masked_before``) whose windows this mask reaches must keep the floor too: the strength is
    the largest that keeps the floor on this face and on each of them.
    """
    matrix = estimate_similarity(landmarks[None].to(image.dtype), torch.tensor(key.template, dtype=image.dtype))[0]
    y0, y1, x0, x1 = window = _window(matrix, key.frame_size, tuple(image.shape[1:]))
    if y1 - y0 <= WINDOW_SIZE or x1 - x0 <= WINDOW_SIZE:
        return 1.0, 0.0, None  # the face lies (almost) outside the picture
    shift = torch.tensor([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]], dtype=image.dtype)
    to_frame = (matrix.cpu() @ shift)[None].to(image.device)
    mask = key.mask.to(image.device, image.dtype)[None]
    pasted, cover = paste_from_crop(mask, to_frame, (y1 - y0, x1 - x0))
    base, clean = image[:, y0:y1, x0:x1][None].clone(), original[:, y0:y1, x0:x1][None]
    neighbours = [face for face in masked_before if _overlaps(face.window, window)]
    measure = FixedReferenceSSIM(clean, cover)
    floor = key.ssim_floor + _SSIM_GUARD

    def masked(strength: float) -> tuple[torch.Tensor, float]:
        # The change is rounded to whole 8-bit levels first, so that the SSIM checked here is the SSIM
        # of the photo as saved (an 8-bit original stays on its grid).
        change = (base + strength * pasted * cover).clamp(0, 1) - base
        out = (base + torch.round(change * 255.0) / 255.0).clamp(0, 1)
        ssim = measure(out)
        if neighbours:  # try it in place, measure the faces it reaches, put the photo back
            image[:, y0:y1, x0:x1] = out[0]
            ssim = min([ssim] + [_region_ssim(image, face) for face in neighbours])
            image[:, y0:y1, x0:x1] = base[0]
        return out, ssim

    strength, (out, ssim) = 1.0, masked(1.0)
    if ssim < floor:
        # Below this strength no change reaches half an 8-bit level: the photo would stay unchanged.
        smallest = 0.5 / 255.0 / max(float(pasted.abs().max()), 1e-12)
        zero = masked(0.0)[1] if neighbours else 1.0
        strength, out, ssim = _strongest_within_floor(masked, floor, ssim, smallest, zero)
    image[:, y0:y1, x0:x1] = out[0]
    if neighbours:
        ssim = measure(out)  # this face's own SSIM for the report
    return ssim, strength, _MaskedFace(window, measure)


def _strongest_within_floor(masked, floor: float, ssim_full: float, smallest: float = 0.0, ssim_zero: float = 1.0):
    """The largest strength in [0, 1) whose SSIM keeps ``floor``, when the full mask (``ssim_full``) breaks it.

    A safeguarded secant search on the model ``1 - SSIM(s) = c + a * s**p``, ``c = 1 - ssim_zero``
    (0 for a lone face; a masked neighbour's own loss when the mask reaches one): the exponent ``p``
    is fitted to the last two measured strengths (2 until there are two; kept in [1, 4]) and each
    guess is the strength where the model meets the middle of the accepted band
    ``[floor, floor + _FLOOR_TOLERANCE]``. A guess outside the bracket ``(lo, hi)`` (``lo`` keeps
    the floor, ``hi`` breaks it), or one after two guesses in a row broke the floor, is replaced by
    the midpoint. It stops once a strength keeps the floor within ``_FLOOR_TOLERANCE``, the bracket
    is narrower than ``2**-_BISECT_STEPS``, or every strength left is below ``smallest`` (too weak to
    change the photo): usually 2-3 SSIM evaluations.

    Args:
        masked: ``strength -> (protected window, ssim)``.
        floor: the SSIM the face must keep.
        ssim_full: SSIM at strength 1 (< floor).
        smallest: strengths below this change nothing (0: no such bound).
        ssim_zero: SSIM at strength 0 (1 unless a neighbour has already lost some).

    Returns:
        ``(strength, protected window, ssim)``; strength 0 (the photo unchanged) when nothing else holds.
    """
    lo, hi = 0.0, 1.0
    best = None
    offset = 1.0 - ssim_zero
    target = 1.0 - floor - _FLOOR_TOLERANCE / 2 - offset  # the model's a * s**p in the middle of the band
    last, before = (1.0, 1.0 - ssim_full - offset), None  # (strength, a * s**p) of the last two measurements
    broke = 0  # guesses in a row that broke the floor
    for _ in range(_SEARCH_STEPS if target > 0 else 0):
        power = 2.0
        if before is not None and min(last[1], before[1]) > 0 and last[0] != before[0] and last[1] != before[1]:
            power = min(max(math.log(last[1] / before[1]) / math.log(last[0] / before[0]), 1.0), 4.0)
        guess = last[0] * (target / max(last[1], 1e-12)) ** (1.0 / power)
        s = guess if lo < guess < hi and broke < 2 else (lo + hi) / 2
        out, ssim_s = masked(s)
        if ssim_s >= floor:
            lo, best, broke = s, (s, out, ssim_s), 0
            if ssim_s - floor <= _FLOOR_TOLERANCE:
                break
        else:
            hi, broke = s, broke + 1
        before, last = last, (s, 1.0 - ssim_s - offset)
        if hi - lo < 2.0 ** -_BISECT_STEPS or hi <= smallest:
            break
    if best is None:
        out, ssim_s = masked(0.0)
        best = (0.0, out, ssim_s)
    return best


def _check_image(image: torch.Tensor) -> None:
    if not isinstance(image, torch.Tensor) or not image.is_floating_point():
        raise TypeError(f"expected a float torch.Tensor in [0,1], got {type(image).__name__}")
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"expected (3,H,W) RGB in [0,1], got {tuple(image.shape)}")


@torch.no_grad()
def face_cosines(
    key: P3Mask, image: torch.Tensor, landmarks: torch.Tensor, matcher: FaceRecognizer | None = None
) -> torch.Tensor:
    """Cosine of each face's embedding (``key.match_model``) with the user's reference.

    Args:
        key: the user's :class:`P3Mask`.
        image: ``(3, H, W)`` RGB in [0, 1].
        landmarks: ``(N, 5, 2)`` landmarks of the faces in ``image``.
        matcher: the loaded ``key.match_model`` (default: loaded on ``image``'s device).

    Returns:
        ``(N,)`` cosines on the CPU; a face is the user's when its cosine is ``>= key.match_threshold``.
    """
    matcher = matcher or load_model(key.match_model, image.device)
    if getattr(matcher, "name", key.match_model) != key.match_model:
        raise ValueError(f"the key matches faces with {key.match_model!r}, got a {matcher.name!r} matcher")
    device = next(matcher.parameters()).device
    crops, _ = align_faces(image, landmarks.to(image.device), matcher.template, matcher.input_size)
    reference = key.references[key.match_model].to(device)
    return (matcher(crops.to(device)) * reference).sum(dim=1).cpu()


@torch.no_grad()
def protect_image(
    key: P3Mask,
    image: torch.Tensor,
    detector: FaceDetector | None = None,
    matcher: FaceRecognizer | None = None,
    detections: Detections | None = None,
) -> tuple[torch.Tensor, ProtectReport]:
    """Mask the user's face(s) in one photo (see :meth:`P3Mask.apply`).

    Args:
        key: the user's :class:`P3Mask`.
        image: ``(3, H, W)`` RGB in [0, 1] at full resolution.
        detector: face detector (default: a new YuNet detector); unused when ``detections`` is given.
        matcher: the loaded ``key.match_model`` (default: loaded on ``image``'s device).
        detections: faces already detected in ``image`` (skips detection).

    Returns:
        ``(protected, report)``: a new ``(3, H, W)`` tensor (the input is not modified) and a
        :class:`ProtectReport`.
    """
    _check_image(image)
    if detections is None:
        detections = (detector or FaceDetector()).detect(image)
    protected = image.detach().clone()
    if detections.is_empty:
        return protected, ProtectReport([])
    cosines = face_cosines(key, image, detections.landmarks, matcher)
    faces, masked = [], []  # masked: (index in faces, where its mask went)
    for box, lmk, cos in zip(detections.boxes, detections.landmarks, cosines):
        box_t = tuple(float(v) for v in box)
        if float(cos) < key.match_threshold:
            faces.append(FaceOutcome(box_t, float(cos), False))
            continue
        ssim, strength, where = _mask_face(key, protected, image, lmk.to(image.device), [w for _, w in masked])
        if where is not None:
            masked.append((len(faces), where))
        faces.append(FaceOutcome(box_t, float(cos), strength > 0, ssim, strength))
    if len(masked) > 1:  # a later face's mask may reach an earlier face: report each SSIM on the final photo
        for i, where in masked:
            faces[i] = replace(faces[i], ssim=_region_ssim(protected, where))
    return protected, ProtectReport(faces)


@dataclass(frozen=True)
class FileOutcome:
    """Result of protecting one file."""

    source: Path
    output: Path | None  # written file, or None when nothing was written
    report: ProtectReport | None  # None when the file could not be read
    error: str | None = None  # why nothing was written

    @property
    def ok(self) -> bool:
        """True when a protected copy was written."""
        return self.output is not None


def _targets(inputs: Iterable[str | os.PathLike], out_dir: Path) -> list[tuple[Path, Path]]:
    """(source, output) pairs: files keep their name, folders their inner layout, under ``out_dir``."""
    pairs = []
    for item in map(Path, inputs):
        if item.is_dir():
            pairs += [(f, out_dir / f.relative_to(item)) for f in iter_image_files([item])]
        else:
            pairs.append((item, out_dir / item.name))
    return pairs


def protect_files(
    key: P3Mask,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    detector: FaceDetector | None = None,
    matcher: FaceRecognizer | None = None,
    jpeg_quality: int = 95,
) -> list[FileOutcome]:
    """Protect photo files (and folders of photos) into ``out_dir``, one outcome per file.

    Each failure (unreadable file, no face of the user, name collision) is logged with its file name
    and the batch goes on. Originals are never modified.
    """
    out_dir = Path(out_dir)
    detector = detector or FaceDetector()
    matcher = matcher or load_model(key.match_model)
    device = next(matcher.parameters()).device
    outcomes, taken = [], set()
    for source, target in _targets(inputs, out_dir):
        if target in taken:
            outcomes.append(FileOutcome(source, None, None, f"output name {target.name} already used by another input"))
            continue
        taken.add(target)
        try:
            image, info = load_image_with_info(source)
        except ImageLoadError as exc:
            outcomes.append(FileOutcome(source, None, None, exc.problem))
            continue
        protected, report = protect_image(key, image.to(device), detector=detector, matcher=matcher)
        if report.protected == 0:
            why = "no face found" if not report.faces else f"no face of {key.user} among {len(report.faces)} face(s)"
            outcomes.append(FileOutcome(source, None, report, f"{why}; left unprotected, not written"))
            continue
        try:
            save_image(protected, target, like=info, jpeg_quality=jpeg_quality)
        except (OSError, ValueError) as exc:
            outcomes.append(FileOutcome(source, None, report, f"cannot write {target}: {exc}"))
            continue
        outcomes.append(FileOutcome(source, target, report))
    for o in outcomes:
        if o.error:
            logger.warning("%s: %s", o.source, o.error)
    return outcomes
