"""One worker of ``p3mask protect-many``: the detector and match models loaded once, the users' keys
loaded when first needed, then one photo after another in five timed stages:

``decode`` (:func:`load_image_with_info`), ``detect`` (YuNet), ``apply`` (:func:`protect_image`:
matching, choosing the faces, the mask under the perceptual floor), ``encode``
(:func:`encode_image`, in memory) and ``write`` (:func:`write_encoded`: temporary file, fsync, decoded
again, linked into place). The copy is the one ``p3mask protect`` writes for the same photo and key.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

from p3mask.atomic import WriteError
from p3mask.batch.jobs import PhotoJob, key_path
from p3mask.batch.record import WorkRecord, worker_name
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ImageLoadError, encode_image, load_image_with_info, write_encoded
from p3mask.models import load_model
from p3mask.protect.apply import ProtectReport, copy_notes, protect_image
from p3mask.protect.face_choice import FaceIndexError, FacePolicy
from p3mask.protect.key import KeyFileError, P3Mask
from p3mask.protect.learning import resolve_device

logger = logging.getLogger(__name__)

STAGES = ("decode", "detect", "apply", "encode", "write")
KEY_CACHE_SIZE = 256  # keys a worker keeps loaded (about 200 kB each)


@dataclass(frozen=True)
class ProtectSettings:
    """How every photo of a batch is protected (the flags of ``p3mask protect``)."""

    keys_dir: Path  # where each user's key is: <user>.p3m
    policy: FacePolicy = field(default_factory=FacePolicy)  # which faces (default fail-safe)
    overwrite: bool = False  # replace copies that exist
    keep_metadata: bool = False  # keep the EXIF location and device fields
    jpeg_quality: int = 95  # JPEG/WebP quality of the copies, as `p3mask protect`
    device: str = "cpu"  # "auto", "cpu" or "cuda"


@dataclass(frozen=True)
class PhotoOutcome(WorkRecord):
    """What became of one photo.

    Attributes:
        source, user: the photo and whose key protects it.
        target: the copy (written, or there from an earlier run), None when there is none.
        status: ``"protected"``, ``"skipped"`` (the copy was there), ``"failed"`` or ``"ignored"``
            (not a photo, a repeat: not a failure).
        error: why it failed or was ignored.
        faces: per face: index, box, score, protected, reason, ssimulacra2, ssim, strength.
        notes: what the copy lost or had removed.
        seconds: wall seconds of each stage done (:data:`STAGES`).
        worker, started, finished, cpu_seconds: see :class:`WorkRecord`.
    """

    DONE = ("protected", "skipped")

    source: str
    user: str | None
    target: str | None
    status: str
    error: str | None = None
    faces: tuple[dict, ...] = ()
    notes: tuple[str, ...] = ()
    seconds: dict = field(default_factory=dict)


def face_rows(report: ProtectReport | None) -> tuple[dict, ...]:
    """The faces of a report as plain values, as the summary of ``p3mask protect --json`` lists them."""
    return tuple({"index": i, "box": list(f.box), "score": f.cosine, "protected": f.protected, "reason": f.reason,
                  "ssimulacra2": f.quality, "ssim": f.ssim, "strength": f.strength}
                 for i, f in enumerate(report.faces if report else []))


class PhotoProtector:
    """A worker's detector, match models and keys, loaded once and used for every photo it is given.

    Args:
        settings: the batch's :class:`ProtectSettings`.
    """

    def __init__(self, settings: ProtectSettings) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        self.detector = FaceDetector()
        self._matchers: dict = {}
        self._keys: OrderedDict[str, P3Mask] = OrderedDict()

    def key(self, user: str) -> P3Mask:
        """``user``'s key, loaded (and checked) the first time, kept for the next photos."""
        if user in self._keys:
            self._keys.move_to_end(user)
            return self._keys[user]
        key = P3Mask.load(key_path(self.settings.keys_dir, user))
        self._keys[user] = key
        if len(self._keys) > KEY_CACHE_SIZE:
            self._keys.popitem(last=False)
        return key

    def matcher(self, name: str):
        """The match model ``name``, loaded the first time."""
        if name not in self._matchers:
            self._matchers[name] = load_model(name, self.device)
        return self._matchers[name]

    def __call__(self, job: PhotoJob) -> PhotoOutcome:
        """Protect one photo into ``job.target``; any error is this photo's failure (the batch goes on)."""
        seconds: dict[str, float] = {}
        base = PhotoOutcome(str(job.source), job.user, None, "failed", seconds=seconds, worker=worker_name(),
                            started=time.time())
        cpu = time.process_time()
        try:
            outcome = self._protect(job, base, seconds)
        except Exception as exc:  # noqa: BLE001 - one photo's failure must not stop the others
            logger.info("protecting %s failed", job.source, exc_info=True)
            outcome = replace(base, error=f"{type(exc).__name__}: {exc}")
        return replace(outcome, finished=time.time(), cpu_seconds=time.process_time() - cpu)

    def _protect(self, job: PhotoJob, base: PhotoOutcome, seconds: dict[str, float]) -> PhotoOutcome:
        s = self.settings

        def timed(stage, fn, *args, **kwargs):
            tic = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                seconds[stage] = time.perf_counter() - tic

        try:
            key = self.key(job.user)
            image, info = timed("decode", load_image_with_info, job.source)
        except (KeyFileError, ImageLoadError) as exc:
            return replace(base, error=getattr(exc, "problem", None) or str(exc))
        image = image.to(self.device)
        detections = timed("detect", self.detector.detect, image)
        try:
            protected, report = timed("apply", protect_image, key, image, matcher=self.matcher(key.match_model),
                                      detections=detections, policy=s.policy)
        except FaceIndexError as exc:
            return replace(base, error=f"{exc}; left unprotected, not written")
        faces = face_rows(report)
        if report.protected == 0:
            why = "no face found" if not report.faces else f"no face of {key.user} among {len(report.faces)} face(s)"
            return replace(base, faces=faces, error=f"{why}; left unprotected, not written")
        try:
            encoded = timed("encode", encode_image, protected, job.target, like=info, jpeg_quality=s.jpeg_quality,
                            keep_metadata=s.keep_metadata)
            timed("write", write_encoded, encoded, job.target, overwrite=s.overwrite)
        except (WriteError, ValueError) as exc:
            return replace(base, faces=faces, error=f"not written: {exc}")
        return replace(base, target=str(job.target), status="protected", faces=faces,
                       notes=copy_notes(info, s.keep_metadata))
