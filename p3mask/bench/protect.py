"""Speed of applying a key: ``p3mask bench protect``.

For each photo, YuNet detection (:meth:`p3mask.face.detect.FaceDetector.detect`) is timed apart from
what follows it in :func:`p3mask.protect.apply.protect_image`: matching every detected face against
the user's reference, warping the mask onto the user's face(s), holding the perceptual (SSIMULACRA2)
floor and pasting. The second part is ``protect_image`` itself given the detections, the same work
``p3mask protect`` does after detecting. It costs more on a face whose SSIMULACRA2 would fall below the
key's floor at full strength (the strength is then found by a secant search, usually one or two more
evaluations): such
faces are counted as ``faces_weakened``. Photo decoding is not timed. The issue's target: at most 50 ms per photo
after detection.

``ms_per_face`` is the same time per protected face, and ``phases`` splits it
(:class:`p3mask.timing.Timings`, mean milliseconds per protected face): ``match`` (every detected face's
embedding by the key's match model, against the reference), ``warp`` (the mask onto the face),
``quality_reference`` (SSIMULACRA2 of the clean face in context), ``quality`` (each strength tried,
``quality_evaluations`` of them per face on average), ``ssim`` (the reported face SSIM) and ``other``;
``encode`` (the protected photo encoded in memory in its file's format, as ``protect`` writes it, not
part of the 50 ms) is timed apart.

Without a key, one is learned first (``mid`` preset and its epochs, the user's first 10 photos) and
the user's other photos are protected. A fully learned key matters: an under-trained one breaks the
perceptual floor on most new faces, and every such face pays that search. With a key, ``skip`` leaves out
the photos it was learned from.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from p3mask.bench.learn import lfw_user_photos
from p3mask.bench.machine import machine_info, thread_count
from p3mask.datasets.lfw import load_lfw
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import encode_image, load_image_with_info
from p3mask.models import load_model
from p3mask.protect.apply import protect_image
from p3mask.protect.config import get_config
from p3mask.protect.key import P3Mask
from p3mask.protect.learning import learn
from p3mask.timing import Timings

TARGET_APPLY_MS = 50.0  # the issue: <= 50 ms per photo after detection (mean over the photos)
QUICK_KEY_PHOTOS = 10  # photos a key is learned from when none is given
QUICK_KEY_EPOCHS: int | None = None  # epochs of that key (None: the preset's, as a real key has)


def _summary(values_ms: list[float]) -> dict:
    return {"mean": statistics.fmean(values_ms), "median": statistics.median(values_ms), "per_photo": values_ms}


def _quick_key(paths: list[Path], user: str, epochs: int | None, seed: int, progress: bool) -> tuple[P3Mask, float]:
    result = learn(paths, get_config("mid", epochs=epochs), user=user, device="cpu", seed=seed, progress=progress)
    return result.key, result.seconds


def _choose_photos(root, user: str | None, key: P3Mask | None, photos: int | None, skip: int | None,
                   learn_photos: int) -> tuple[str, list[Path], int, list[Path]]:
    """``(user, photos to learn a quick key from (empty with a key), photos skipped, photos to protect)``."""
    if key is not None and user is None and key.user in load_lfw(root).identities:
        user = key.user
    user, paths = lfw_user_photos(root, user)
    train = paths[:learn_photos] if key is None else []
    skip = (learn_photos if key is None else 0) if skip is None else skip
    if key is None and skip < learn_photos:
        raise ValueError(f"skip must be >= {learn_photos} so that no photo the quick key learned from is protected")
    if not 0 <= skip < len(paths):
        raise ValueError(f"{user} has {len(paths)} photos: cannot skip {skip} and protect any")
    return user, train, skip, paths[skip:][:photos]


def _timed(fn, repeat: int) -> tuple[object, float]:
    """Last result of ``repeat`` calls of ``fn`` and the mean wall milliseconds per call."""
    tic = time.perf_counter()
    for _ in range(repeat):
        out = fn()
    return out, (time.perf_counter() - tic) * 1000 / repeat


def run_protect(root=None, user: str | None = None, photos: int | None = None, key: str | Path | None = None,
                threads: int | None = None, repeat: int = 1, skip: int | None = None,
                learn_photos: int = QUICK_KEY_PHOTOS, learn_epochs: int | None = QUICK_KEY_EPOCHS, seed: int = 0,
                progress: bool = False) -> dict:
    """Time detection and key application per photo on an LFW identity's photos; a JSON-ready dict.

    Args:
        root: LFW folder (default ``data_root()/lfw``).
        user: LFW identity (default: the key's user when it is an LFW identity, else the first
            identity, sorted, with 20+ photos).
        photos: protect at most this many photos (default all that are available).
        skip: leave out the user's first ``skip`` photos (sorted), e.g. those a key was learned from
            (default: 0 with a key, the quick key's photos without one).
        key: a ``.p3m`` key file; without one a quick key is learned (see the module docstring).
        threads: torch and OpenCV threads during the run (default: leave them as they are).
        repeat: time each photo this many times (mean per photo).
        learn_photos, learn_epochs: the quick key's photos and epochs.
        seed: the quick key's learning seed.
        progress: tqdm lines while learning the quick key.

    Raises:
        ValueError: bad ``repeat``/``photos``, unknown user, too few photos.
        p3mask.protect.key.KeyFileError: unreadable key file.
    """
    if repeat < 1 or (photos is not None and photos < 1):
        raise ValueError(f"repeat and photos must be >= 1, got {repeat} and {photos}")
    loaded = P3Mask.load(key) if key is not None else None
    user, train, skip, targets = _choose_photos(root, user, loaded, photos, skip, learn_photos)
    with thread_count(threads):
        machine = machine_info()
        learned = None
        if loaded is None:
            loaded, seconds = _quick_key(train, user, learn_epochs, seed, progress)
            learned = {"photos": len(train), "epochs": learn_epochs or get_config("mid").epochs, "seconds": seconds}
        detector, matcher = FaceDetector(), load_model(loaded.match_model)
        loaded_images = [load_image_with_info(p) for p in targets]
        images = [image for image, _ in loaded_images]
        protect_image(loaded, images[0], matcher=matcher, detections=detector.detect(images[0]))  # warm-up
        detect_ms, apply_ms, encode_ms, faces, protected, masked, weakened = [], [], [], 0, 0, 0, 0
        timings = Timings()
        for path, (image, info) in zip(targets, loaded_images):
            detections, ms = _timed(lambda image=image: detector.detect(image), repeat)
            detect_ms.append(ms)
            (copy, report), ms = _timed(lambda image=image, found=detections: protect_image(
                loaded, image, matcher=matcher, detections=found, timings=timings), repeat)
            apply_ms.append(ms)
            _, ms = _timed(lambda copy=copy, path=path, info=info: encode_image(copy, path, like=info), repeat)
            encode_ms.append(ms)
            faces += len(detections)
            protected += report.protected > 0
            masked += report.protected
            weakened += sum(f.protected and f.strength < 1.0 for f in report.faces)
        machine["load_average_after"] = machine_info()["load_average"]
    applied = _summary(apply_ms)
    per_face = {name: seconds * 1000 / (repeat * max(masked, 1)) for name, seconds in timings.seconds.items()}
    per_face["other"] = sum(apply_ms) / max(masked, 1) - sum(per_face.values())
    return {
        "benchmark": "protect", "dataset": "lfw", "user": user, "key": str(key) if key is not None else None,
        "key_learned": learned, "match_model": loaded.match_model, "photos": len(images),
        "skip": skip, "files": [p.name for p in targets], "repeat": repeat,
        "image_sizes": [list(s) for s in sorted({tuple(im.shape[1:]) for im in images})],
        "faces_detected": faces, "photos_protected": protected, "faces_protected": masked,
        "faces_weakened": weakened, "detect_ms": _summary(detect_ms), "apply_ms": applied,
        "ms_per_face": sum(apply_ms) / max(masked, 1), "phases": per_face,
        "quality_evaluations": timings.calls.get("quality", 0) / (repeat * max(masked, 1)),
        "encode_ms": _summary(encode_ms),
        "target": {"apply_ms": TARGET_APPLY_MS, "met": applied["mean"] <= TARGET_APPLY_MS},
        "threads": machine["torch_threads"], "opencv_threads": machine["opencv_threads"], "machine": machine,
    }
