"""The model work behind the page, off the request thread, through the library calls the CLI uses.

:class:`Worker` keeps two single-thread executors, each with its own detector and recognisers (so no
model object is ever used by two threads): one for learning (:func:`p3mask.protect.learning.learn`,
one key at a time: a second tab's request waits its turn and says so) and one for the quick work
(the face preview of :func:`p3mask.protect.trainset.find_user_faces`,
:func:`p3mask.protect.apply.protect_files`, :func:`p3mask.protect.unlock.unlock_file`).
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch

from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ImageLoadError, load_image
from p3mask.models import load_model
from p3mask.models.thresholds import match_threshold
from p3mask.protect.apply import FileOutcome, face_scores, protect_files
from p3mask.protect.config import ChameleonConfig, get_config
from p3mask.protect.face_choice import FacePolicy
from p3mask.protect.key import P3Mask
from p3mask.protect.learning import EpochStats, LearnResult, learn, resolve_device
from p3mask.protect.trainset import find_user_faces, unused_reason
from p3mask.protect.unlock import MIN_CORRELATION, unlock_file
from p3mask.web.sessions import LearningStopped, LearnJob, Output, Session
from p3mask.web.uploads import StoredPhoto

logger = logging.getLogger(__name__)


class _Models:
    """One thread's detector and recognisers, loaded on first use."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._detector: FaceDetector | None = None
        self._models: dict = {}

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = FaceDetector()
        return self._detector

    def model(self, name: str):
        if name not in self._models:
            self._models[name] = load_model(name, self.device)
        return self._models[name]

    def all(self) -> dict:
        return dict(self._models)


def _box(values) -> list[float]:
    return [round(float(v), 1) for v in values]


def preview_faces(models: _Models, photos: list[StoredPhoto], config: ChameleonConfig) -> list[dict]:
    """Which face learning would take in each photo: the boxes, the chosen one, or why none."""
    images = [load_image(p.path) for p in photos]
    name = config.match_model
    try:
        detections, choice = find_user_faces(images, models.detector, models.model(name), match_threshold(name))
    except ValueError:  # no face in any photo
        return [{"id": p.id, "faces": [], "chosen": None, "reason": "no face found"} for p in photos]
    out = []
    for photo, det, index in zip(photos, detections, choice.indices):
        out.append({"id": photo.id, "faces": [_box(b) for b in det.boxes], "chosen": index,
                    "reason": None if index is not None else unused_reason(det)})
    return out


def _epoch_event(stats: EpochStats, epochs: int) -> dict:
    return {"type": "epoch", "epoch": stats.epoch, "epochs": epochs, "team": list(stats.team),
            "quality": round(stats.quality, 1), "quality_min": round(stats.quality_min, 1),
            "distance_degrees": round(math.degrees(stats.feature_distance), 1), "seconds": round(stats.seconds, 1)}


def learn_summary(result: LearnResult, names: dict[str, str]) -> dict:
    """The ``done`` event: the key's figures and, per team model, how many training photos it still matches."""
    key, fit = result.key, result.fit
    models = []
    for name, protected in fit.protected_cosine.items():
        threshold = match_threshold(name)
        clean = fit.clean_cosine[name]
        models.append({"name": name, "photos": len(protected), "matched_clean": int((clean >= threshold).sum()),
                       "matched_protected": int((protected >= threshold).sum())})
    return {"type": "done", "user": key.user, "photos": key.photos, "preset": key.preset, "team": list(key.team),
            "seconds": round(result.seconds, 1), "quality_min": round(key.quality_min, 1),
            "quality_mean": round(key.quality_mean, 1), "quality_floor": key.quality_floor, "models": models,
            "skipped": [[names.get(p, Path(p).name), why] for p, why in result.skipped], "warnings": result.warnings}


def _nearest(detections, box) -> int | None:
    """Index of the detection whose box centre is nearest ``box``'s, if it lies inside ``box``."""
    if detections.is_empty:
        return None
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    centres = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2
    k = int(((centres - torch.tensor([cx, cy])) ** 2).sum(1).argmin())
    x, y = float(centres[k, 0]), float(centres[k, 1])
    return k if box[0] <= x <= box[2] and box[1] <= y <= box[3] else None


def verdict_models(key: P3Mask) -> list[str]:
    """The recognisers a protected photo is judged by: the key's team and its match model (the key holds
    their references to the user)."""
    return [name for name in dict.fromkeys([*key.team, key.match_model]) if name in key.references]


def verdicts(models: _Models, key: P3Mask, original: torch.Tensor, protected: torch.Tensor, box) -> list[dict]:
    """For each of :func:`verdict_models`: does it still match the user on the protected face
    (re-detected in the saved copy, as a recogniser would), and did it on the original?"""
    found = {}
    for label, image in (("clean", original), ("protected", protected)):
        det = models.detector.detect(image)
        k = _nearest(det, box)
        found[label] = (image, det.landmarks[k:k + 1]) if k is not None else None
    out = []
    for name in verdict_models(key):
        threshold = key.match_threshold if name == key.match_model else match_threshold(name)
        model = models.model(name)
        scores = {label: float(face_scores(model, key.references[name], *where)[0]) if where else None
                  for label, where in found.items()}
        after = scores["protected"]
        matched = after is not None and after >= threshold
        if scores["clean"] is not None and scores["clean"] < threshold:
            text = f"{name} did not match you even before protection"
        elif after is None:
            text = f"{name}: no face found in the protected photo (it cannot match you)"
        else:
            verdict = "still matches you" if matched else "no longer matches you"
            text = f"{name} {verdict} (score {after:.2f}; it matches from {threshold:.2f})"
        out.append({"model": name, "clean": scores["clean"], "protected": after, "threshold": threshold,
                    "matched": matched, "text": text})
    return out


def _outcome_faces(outcome: FileOutcome) -> list[dict]:
    faces = outcome.report.faces if outcome.report else []
    return [{"box": _box(f.box), "protected": f.protected, "reason": f.reason, "score": round(f.cosine, 3),
             "quality": None if f.quality is None else round(f.quality, 1),
             "strength": None if f.strength is None else round(f.strength, 2)} for f in faces]


class Worker:
    """Runs the page's model work in background threads (see the module docstring)."""

    def __init__(self, device: str = "auto") -> None:
        self.device = resolve_device(device)
        self._quick = ThreadPoolExecutor(1, thread_name_prefix="p3mask-web")
        self._learn = ThreadPoolExecutor(1, thread_name_prefix="p3mask-learn")
        self._quick_models = _Models(self.device)
        self._learn_models = _Models(self.device)
        self._learning = 0  # jobs submitted and not finished
        self._count_lock = threading.Lock()

    def submit(self, fn, *args) -> Future:
        """Run ``fn(models, *args)`` on the quick thread."""
        return self._quick.submit(fn, self._quick_models, *args)

    # ------------------------------------------------------------------ learning
    def start_learning(self, session: Session, photo_ids: list[str], config: ChameleonConfig, user: str) -> LearnJob:
        """Queue learning a key from the session's photos ``photo_ids``; progress goes to the returned job."""
        photos = [session.photo(i) for i in photo_ids]
        job = LearnJob()
        with self._count_lock:
            if self._learning:
                job.post({"type": "waiting", "message": "another key is being learned on this computer; "
                                                        "this one starts when it is done"})
            self._learning += 1
        session.learning = job
        self._learn.submit(self._learn_job, session, job, photos, config, user)
        return job

    def _learn_job(self, session: Session, job: LearnJob, photos: list[StoredPhoto], config: ChameleonConfig,
                   user: str) -> None:
        try:
            if job.stop.is_set():
                raise LearningStopped
            job.post({"type": "start", "epochs": config.epochs,
                      "message": "loading the recognisers and finding your face in each photo"})

            def on_epoch(stats: EpochStats) -> None:
                job.post(_epoch_event(stats, config.epochs))
                if job.stop.is_set():
                    raise LearningStopped

            wanted = list(dict.fromkeys([*(config.team or config.pool), config.match_model]))
            models = {n: self._learn_models.model(n) for n in wanted}
            result = learn([p.path for p in photos], config, user=user, device=self.device, progress=False,
                           models=models, detector=self._learn_models.detector, on_epoch=on_epoch)
            path = session.folder / "key.p3m"
            result.key.save(path, overwrite=True)
            with session.lock:
                session.key, session.key_path = result.key, path
            job.post(learn_summary(result, {str(p.path): p.name for p in photos}))
        except LearningStopped:
            job.post({"type": "stopped", "message": "learning was stopped"})
        except (ValueError, ImageLoadError, OSError) as exc:
            job.post({"type": "error", "message": str(exc)})
        except Exception as exc:  # noqa: BLE001 - the page must hear of any failure, not wait forever
            logger.exception("learning failed")
            job.post({"type": "error", "message": f"learning failed: {type(exc).__name__}: {exc}"})
        finally:
            with self._count_lock:
                self._learning -= 1

    def shutdown(self) -> None:
        """Stop taking work; running learning jobs are stopped by their sessions' stop flags."""
        self._quick.shutdown(wait=False, cancel_futures=True)
        self._learn.shutdown(wait=False, cancel_futures=True)


def protect_photo(models: _Models, session: Session, photo: StoredPhoto, key: P3Mask) -> dict:
    """Protect one uploaded photo as ``p3mask protect`` does (fail-safe face choice); the page's result."""
    out_dir = session.subfolder("protected")
    outcome = protect_files(key, [photo.path], out_dir, detector=models.detector, matcher=models.model(key.match_model),
                            policy=FacePolicy(), overwrite=True)[0]
    result = {"id": photo.id, "name": photo.name, "faces": _outcome_faces(outcome), "notes": list(outcome.notes)}
    if not outcome.ok:
        return {**result, "error": outcome.error}
    output_id = secrets.token_urlsafe(9)
    chosen = next(f for f in outcome.report.faces if f.protected)
    with session.lock:
        session.outputs[output_id] = Output(outcome.output, f"protected_{photo.name}", photo, chosen.box)
        session.protected.append(output_id)
    return {**result, "output": output_id}


def judge_output(models: _Models, output: Output, key: P3Mask) -> list[dict]:
    """The :func:`verdicts` on one protected copy (asked for once the copy is shown: they take longer)."""
    return verdicts(models, key, load_image(output.source.path), load_image(output.path), output.box)


def unlock_photo(models: _Models, session: Session, photo: StoredPhoto, key: P3Mask) -> dict:
    """Unlock one uploaded photo as ``p3mask unlock`` does; the page's result."""
    target = session.subfolder("unlocked") / photo.path.name
    outcome = unlock_file(key, photo.path, target, models.detector, MIN_CORRELATION, overwrite=True)
    result = {"id": photo.id, "name": photo.name, "notes": list(outcome.notes)}
    if not outcome.ok:
        return {**result, "error": outcome.error}
    output_id = secrets.token_urlsafe(9)
    with session.lock:
        session.outputs[output_id] = Output(outcome.output, f"unlocked_{photo.name}")
    return {**result, "output": output_id}


def learning_config(preset: str, epochs: int | None) -> ChameleonConfig:
    """The config the page's choices ask for (the CLI's ``--preset`` and ``--epochs``)."""
    return get_config(preset, epochs=epochs)
