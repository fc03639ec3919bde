"""Instant protection: apply a learned P3-Mask to new photos.

For each photo: detect every face, score each face by the cosine of its embedding (from the key's
``match_model``) to the key's reference embedding, choose the faces to protect
(:mod:`p3mask.protect.face_choice`: sure matches, else fail-safe, or the faces a flag names), warp the
mask from the canonical frame onto each chosen face at the photo's full resolution, and leave the
other faces untouched.
The change stays inside the face in context (:func:`p3mask.quality.face_in_context`: the square twice
the face box around it), where its SSIMULACRA2 against the original photo is measured on the 8-bit
result. If it would fall below the key's perceptual floor, the mask is weakened on that face
(:func:`p3mask.protect.floor.strongest_within_floor`) until it holds, on that face and on any of the
user's faces masked before whose region it reaches. Files are written into an output folder in the
original's format (:func:`protect_files`): outputs are planned before any work, nothing existing is
replaced unless asked, every copy is read back before it is reported, location and device metadata
are removed, originals are never touched, and a photo in which no face is chosen is reported and not
written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from p3mask.atomic import WriteError
from p3mask.checks import check_photo
from p3mask.face.align import align_faces, estimate_similarity, paste_from_crop
from p3mask.face.detect import Detections, FaceDetector
from p3mask.face.image_io import ImageInfo, ImageLoadError, load_image_with_info, same_file, save_image, scan_inputs
from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer
from p3mask.models.thresholds import doubt_threshold as calibrated_doubt_threshold
from p3mask.protect.face_choice import FaceIndexError, FacePolicy, choose_faces
from p3mask.protect.floor import strongest_within_floor
from p3mask.protect.key import P3Mask
from p3mask.protect.ssim import WINDOW_SIZE, FixedReferenceSSIM
from p3mask.quality import SSIMULACRA2Reference, changed_box, face_in_context
from p3mask.quality.ssimulacra2 import MIN_SIDE
from p3mask.timing import NO_TIMINGS, Timings

logger = logging.getLogger(__name__)

# The search measures SSIMULACRA2 in float32; a face keeps the floor by this many points more, so that
# a float64 measurement of the saved photo keeps it too.
_QUALITY_GUARD = 0.01
# A face in context must have room for both measures: SSIMULACRA2's smallest scale and the SSIM window.
_MIN_SIDE = max(MIN_SIDE, WINDOW_SIZE + 1)


@dataclass(frozen=True)
class FaceOutcome:
    """What happened to one detected face."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in photo pixels
    cosine: float  # similarity to the user's reference (key.match_model)
    protected: bool  # True: chosen and masked
    quality: float | None = None  # SSIMULACRA2 of the face in context after masking (protected faces only)
    ssim: float | None = None  # face-region SSIM after masking (protected faces only), reported
    strength: float | None = None  # fraction of the mask applied (1.0 unless the perceptual floor needed less)
    # Why it was chosen or left (p3mask.protect.face_choice.REASONS): "match" (a sure match), "doubt"
    # (fail-safe), "flag" (named by --faces/--face) or "stranger" (left untouched).
    reason: str = "stranger"


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


class _MaskedFace:
    """Where one face of the photo was masked: its face-in-context window ``(y0, y1, x0, x1)``, the
    original photo there, and its SSIMULACRA2 against that original (:meth:`quality`)."""

    def __init__(self, window: tuple[int, int, int, int], clean: torch.Tensor, measure: SSIMULACRA2Reference) -> None:
        self.window, self._clean, self._measure = window, clean, measure
        self._whole: SSIMULACRA2Reference | None = None

    def quality(self, image: torch.Tensor, alone: bool = True) -> float:
        """SSIMULACRA2 of this face in context in ``image`` against the original photo. ``alone``: only
        this face's mask changed the window (the measure then reads only where the mask reaches);
        otherwise the whole window is measured."""
        if not alone and self._whole is None:
            self._whole = SSIMULACRA2Reference(self._clean)
        y0, y1, x0, x1 = self.window
        return float((self._measure if alone else self._whole)(image[:, y0:y1, x0:x1][None]))


def _overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3]


def _mask_face(
    key: P3Mask,
    image: torch.Tensor,
    original: torch.Tensor,
    landmarks: torch.Tensor,
    box: Sequence[float],
    masked_before: Sequence[_MaskedFace] = (),
    timings: Timings = NO_TIMINGS,
) -> tuple[float, float, float, _MaskedFace | None]:
    """Paste the mask onto one face of ``image`` in place; return ``(quality, ssim, strength, where)``.

    The quality (SSIMULACRA2 of the face in context) is measured against ``original`` (the photo before
    any face was masked). Faces masked before (``masked_before``) whose windows this mask reaches must
    keep the floor too: the strength is the largest that keeps the floor on this face and on each of them.
    ``timings`` gets the phases ``warp`` (the mask onto the face), ``quality_reference`` (SSIMULACRA2 of
    the clean face in context), ``quality`` (each strength tried: rounding and SSIMULACRA2) and ``ssim``.
    """
    y0, y1, x0, x1 = window = face_in_context(box, image.shape[1], image.shape[2])
    if y1 - y0 < _MIN_SIDE or x1 - x0 < _MIN_SIDE:
        return 100.0, 1.0, 0.0, None  # too small to measure, or (almost) outside the picture
    with timings.phase("warp"):
        template = torch.tensor(key.template, dtype=image.dtype)
        matrix = estimate_similarity(landmarks[None].to(image.dtype), template)[0]
        shift = torch.tensor([[1.0, 0.0, x0], [0.0, 1.0, y0], [0.0, 0.0, 1.0]], dtype=image.dtype)
        to_frame = (matrix.cpu() @ shift)[None].to(image.device)
        mask = key.mask.to(image.device, image.dtype)[None]
        pasted, cover = paste_from_crop(mask, to_frame, (y1 - y0, x1 - x0))
    base, clean = image[:, y0:y1, x0:x1][None].clone(), original[:, y0:y1, x0:x1][None]
    neighbours = [face for face in masked_before if _overlaps(face.window, window)]
    # alone, the mask is the only change in the window: the measure reads only the box it reaches
    with timings.phase("quality_reference"):
        measure = SSIMULACRA2Reference(clean, changed=None if neighbours else changed_box(cover))
    floor = key.quality_floor + _QUALITY_GUARD

    @timings.timed("quality")
    def masked(strength: float) -> tuple[torch.Tensor, float]:
        # The change is rounded to whole 8-bit levels first, so that the quality checked here is the
        # quality of the photo as saved (an 8-bit original stays on its grid).
        change = (base + strength * pasted * cover).clamp(0, 1) - base
        out = (base + torch.round(change * 255.0) / 255.0).clamp(0, 1)
        quality = float(measure(out))
        if neighbours:  # try it in place, measure the faces it reaches, put the photo back
            image[:, y0:y1, x0:x1] = out[0]
            quality = min([quality] + [face.quality(image, alone=False) for face in neighbours])
            image[:, y0:y1, x0:x1] = base[0]
        return out, quality

    # Below this strength no change reaches half an 8-bit level: the photo would stay unchanged.
    smallest = 0.5 / 255.0 / max(float(pasted.abs().max()), 1e-12)
    zero = masked(0.0)[1] if neighbours else 100.0
    strength, out, quality = strongest_within_floor(masked, floor, smallest=smallest, quality_zero=zero)
    image[:, y0:y1, x0:x1] = out[0]
    where = _MaskedFace(window, clean, measure)
    if neighbours:
        quality = where.quality(image)  # this face's own quality for the report (its measure reads all)
    with timings.phase("ssim"):
        ssim = FixedReferenceSSIM(clean, cover)(out)
    return quality, ssim, strength, where


def _doubt_threshold(key: P3Mask, given: float | None) -> float:
    """The doubt threshold for ``key``: ``given``, else the calibrated one of its match model; never above
    the key's match threshold. A model without a calibrated one gets no looser band (the match threshold)."""
    if given is None:
        try:
            given = calibrated_doubt_threshold(key.match_model)
        except ValueError:
            logger.warning("no calibrated doubt threshold for %s; doubtful faces need a sure match", key.match_model)
            given = key.match_threshold
    return min(float(given), key.match_threshold)


@torch.no_grad()
def face_scores(
    matcher: FaceRecognizer, reference: torch.Tensor, image: torch.Tensor, landmarks: torch.Tensor
) -> torch.Tensor:
    """Match score of each face: the cosine of its ``matcher`` embedding to the user's reference.

    Args:
        matcher: the key's match model.
        reference: ``(D,)`` L2-normalised reference embedding of the user for ``matcher``.
        image: ``(3, H, W)`` RGB in [0, 1].
        landmarks: ``(N, 5, 2)`` landmarks of the detected faces, ``N >= 1``.

    Returns:
        ``(N,)`` cosines in [-1, 1] on the CPU.
    """
    device = next(matcher.parameters()).device
    crops, _ = align_faces(image, landmarks.to(image.device), matcher.template, matcher.input_size)
    return (matcher(crops.to(device)) * reference.to(device)).sum(dim=1).cpu()


@torch.no_grad()
def protect_image(
    key: P3Mask,
    image: torch.Tensor,
    detector: FaceDetector | None = None,
    matcher: FaceRecognizer | None = None,
    detections: Detections | None = None,
    policy: FacePolicy | None = None,
    doubt_threshold: float | None = None,
    timings: Timings = NO_TIMINGS,
) -> tuple[torch.Tensor, ProtectReport]:
    """Mask the user's face(s) in one photo (see :meth:`P3Mask.apply`).

    Args:
        key: the user's :class:`P3Mask`.
        image: ``(3, H, W)`` RGB in [0, 1] at full resolution.
        detector: face detector (default: a new YuNet detector); unused when ``detections`` is given.
        matcher: the loaded ``key.match_model`` (default: loaded on ``image``'s device).
        detections: faces already detected in ``image`` (skips detection).
        policy: which faces to protect (default: fail-safe, see :mod:`p3mask.protect.face_choice`).
        doubt_threshold: cosine at which a face is plausibly the user (default: the calibrated FAR = 1e-2
            threshold of ``key.match_model``; capped at ``key.match_threshold``).
        timings: where the parts add their wall seconds (``bench protect``'s split): ``match`` (every face's
            embedding against the reference), then per masked face ``warp``, ``quality_reference``,
            ``quality`` (once per strength tried) and ``ssim``.

    Returns:
        ``(protected, report)``: a new ``(3, H, W)`` tensor (the input is not modified) and a
        :class:`ProtectReport`.
    """
    check_photo(image, in_range=False)
    if detections is None:
        detections = (detector or FaceDetector()).detect(image)
    protected = image.detach().clone()
    if detections.is_empty:
        return protected, ProtectReport([])
    matcher = matcher or load_model(key.match_model, image.device)
    if getattr(matcher, "name", key.match_model) != key.match_model:
        raise ValueError(f"the key matches faces with {key.match_model!r}, got a {matcher.name!r} matcher")
    with timings.phase("match"):
        cosines = face_scores(matcher, key.references[key.match_model], image, detections.landmarks)
    choice = choose_faces(cosines, key.match_threshold, _doubt_threshold(key, doubt_threshold), policy)
    faces, masked = [], []  # masked: (index in faces, where its mask went)
    for box, lmk, cos, chosen, reason in zip(detections.boxes, detections.landmarks, cosines, choice.protect,
                                             choice.reasons):
        box_t = tuple(float(v) for v in box)
        if not chosen:
            faces.append(FaceOutcome(box_t, float(cos), False, reason=reason))
            continue
        quality, ssim, strength, where = _mask_face(key, protected, image, lmk.to(image.device), box_t,
                                                    [w for _, w in masked], timings)
        if where is not None:
            masked.append((len(faces), where))
        faces.append(FaceOutcome(box_t, float(cos), strength > 0, quality, ssim, strength, reason))
    if len(masked) > 1:  # a later face's mask may reach an earlier face: report each quality on the final photo
        for i, where in masked:
            alone = not any(_overlaps(where.window, other.window) for _, other in masked if other is not where)
            faces[i] = replace(faces[i], quality=where.quality(protected, alone))
    return protected, ProtectReport(faces)


@dataclass(frozen=True)
class FileOutcome:
    """Result of one file given to :func:`protect_files` (or another per-file command).

    Attributes:
        source: the input file.
        output: the written file, or None when nothing was written.
        report: the faces of the photo; None when it was not processed.
        error: why nothing was written (None when written, or when the file was not taken).
        notes: what the written copy lost or had removed (transparency, frames, metadata), one phrase each.
        ignored: why the file was not taken at all (not a photo, hidden, a repeat); not a failure.
    """

    source: Path
    output: Path | None
    report: ProtectReport | None
    error: str | None = None
    notes: tuple[str, ...] = ()
    ignored: str | None = None

    @property
    def ok(self) -> bool:
        """True when a copy was written."""
        return self.output is not None

    @property
    def failed(self) -> bool:
        """True when the file was meant to be processed and was not written."""
        return self.output is None and self.ignored is None


@dataclass(frozen=True)
class OutputPlan:
    """What a per-file command will write, decided before any work (see :func:`plan_outputs`).

    Attributes:
        jobs: ``(source, target)`` for each file to process.
        refused: outcomes of files that will not be processed (missing, a name clash, an existing
            output, not a photo, a repeat); each says why.
    """

    jobs: list[tuple[Path, Path]]
    refused: list[FileOutcome]


def plan_outputs(
    inputs: Iterable[str | os.PathLike], out_dir: str | os.PathLike, overwrite: bool = False
) -> OutputPlan:
    """Pair each input photo with its output in ``out_dir`` and refuse, per file, what must not be written.

    Files named directly keep their name; files found in a folder keep their path inside that folder.
    A file is refused when it is missing, when its output is the photo itself, when an earlier input
    already claims the same output name, or when the output exists (unless ``overwrite``). Files of a
    folder that are not photos (hidden, unsupported type), repeats of a file, and files of an input
    folder that lie inside ``out_dir`` (earlier outputs) are listed as ignored.

    Raises:
        ValueError: ``out_dir`` exists and is not a folder.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: is a file, not a folder")
    scan = scan_inputs(inputs)
    refused = [FileOutcome(path, None, None, "file not found") for path in scan.missing]
    refused += [FileOutcome(path, None, None, ignored=why) for path, why in scan.skipped]
    jobs, claimed = [], {}
    out_real = out_dir.resolve()
    for root, source in scan.files:
        target = out_dir / (source.name if root == source else source.relative_to(root))
        if root != source and source.resolve().is_relative_to(out_real):
            refused.append(FileOutcome(source, None, None, ignored="inside the output folder (an earlier output?); "
                                                                   "not an input"))
            continue
        if same_file(source, target):
            why = f"the output {target} would be the photo itself; choose another --out"
        elif target in claimed:
            why = f"output name {target} already taken by {claimed[target]}; not written"
        elif target.is_dir():
            why = f"the output {target} is a folder"
        elif target.exists() and not overwrite:
            why = f"{target} already exists; not replaced (pass --overwrite)"
        else:
            claimed[target] = source
            jobs.append((source, target))
            continue
        refused.append(FileOutcome(source, None, None, why))
    return OutputPlan(jobs, refused)


def copy_notes(info: ImageInfo, keep_metadata: bool) -> tuple[str, ...]:
    """What a copy of the photo of ``info`` written by :func:`save_image` loses, one phrase each."""
    notes = list(info.notes)
    if info.private_exif and not keep_metadata:
        notes.append(f"removed {', '.join(info.private_exif)} (keep them with --keep-metadata)")
    return tuple(notes)


def process_files(
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    overwrite: bool,
    start: Callable[[], Callable[[Path, Path], FileOutcome]],
    on_outcome: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """The per-file loop of :func:`protect_files` and :func:`p3mask.protect.unlock.unlock_files`.

    Every output is planned first (:func:`plan_outputs`) and the refused files are reported before any
    work; then ``start()`` (called only when there is a file to process: it loads the models) gives the
    function that turns one ``(source, target)`` into its outcome, and each outcome goes to
    ``on_outcome`` as soon as it is known, so an interrupted run shows what was finished.

    Raises:
        ValueError: ``out_dir`` is a file.
    """
    plan = plan_outputs(inputs, Path(out_dir), overwrite)
    outcomes = []

    def done(outcome: FileOutcome) -> None:
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)

    for outcome in plan.refused:
        done(outcome)
    process = start() if plan.jobs else None
    for source, target in plan.jobs:
        done(process(source, target))
    return outcomes


def protect_file(
    key: P3Mask, source: Path, target: Path, detector: FaceDetector, matcher: FaceRecognizer,
    jpeg_quality: int = 95, overwrite: bool = False, keep_metadata: bool = False, policy: FacePolicy | None = None,
) -> FileOutcome:
    """Protect one photo file into ``target``; every expected failure is an outcome, not an exception."""
    try:
        image, info = load_image_with_info(source)
    except ImageLoadError as exc:
        return FileOutcome(source, None, None, exc.problem)
    device = next(matcher.parameters()).device
    try:
        protected, report = protect_image(key, image.to(device), detector=detector, matcher=matcher, policy=policy)
    except FaceIndexError as exc:
        return FileOutcome(source, None, None, f"{exc}; left unprotected, not written")
    if report.protected == 0:
        why = "no face found" if not report.faces else f"no face of {key.user} among {len(report.faces)} face(s)"
        return FileOutcome(source, None, report, f"{why}; left unprotected, not written")
    try:
        save_image(protected, target, like=info, jpeg_quality=jpeg_quality, overwrite=overwrite,
                   keep_metadata=keep_metadata)
    except (WriteError, ValueError) as exc:
        return FileOutcome(source, None, report, f"not written: {exc}")
    return FileOutcome(source, target, report, notes=copy_notes(info, keep_metadata))


def protect_files(
    key: P3Mask,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    detector: FaceDetector | None = None,
    matcher: FaceRecognizer | None = None,
    jpeg_quality: int = 95,
    overwrite: bool = False,
    keep_metadata: bool = False,
    on_outcome: Callable[[FileOutcome], None] | None = None,
    policy: FacePolicy | None = None,
) -> list[FileOutcome]:
    """Protect photo files (and folders of photos) into ``out_dir``, one outcome per file.

    Every output is planned first (:func:`plan_outputs`): files refused there are reported before any
    photo is processed. Each photo is then written with :func:`save_image` (never over an existing
    file unless ``overwrite``; checked by decoding it again) and reported through ``on_outcome`` as
    soon as it is done, so an interrupted run shows what was finished. Failures (unreadable file, no
    face chosen, a ``--face`` index the photo lacks, full disk) are per file and the batch goes on.
    Originals are never modified.

    Args:
        key, detector, matcher: as for :func:`protect_image`.
        inputs: photos and folders of photos.
        out_dir: folder of the protected copies (created).
        jpeg_quality: JPEG/WebP quality of the copies.
        overwrite: replace outputs that already exist.
        keep_metadata: keep the EXIF location and device fields (default: removed).
        on_outcome: called with each outcome when it is known.
        policy: which faces to protect (default: fail-safe; see :mod:`p3mask.protect.face_choice`).

    Raises:
        ValueError: ``out_dir`` is a file.
    """
    def start() -> Callable[[Path, Path], FileOutcome]:
        found, match = detector or FaceDetector(), matcher or load_model(key.match_model)
        return lambda source, target: protect_file(key, source, target, found, match, jpeg_quality, overwrite,
                                                   keep_metadata, policy)

    return process_files(inputs, out_dir, overwrite, start, on_outcome)
