"""One method on one user, and one method's figures over all users.

For each user, the method is set up on the training photos (timed) and protects each held-out photo
(timed: detection, finding the user's face and any per-photo optimisation included). Protected photos
are rounded to 8 bits, as a stored photo is. Probes are then scored exactly as ``p3mask evaluate``
scores Chameleon (:mod:`p3mask.evaluate.scoring`): the face is re-detected near its known position and
searched in the clean gallery of the dataset.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from p3mask.evaluate.conditions import probe_set
from p3mask.evaluate.gallery import Gallery
from p3mask.evaluate.metrics import psr_from_hits
from p3mask.evaluate.probes import ProbeEmbedder, nearest_face
from p3mask.evaluate.quality import PhotoQuality, face_region, mean_quality, photo_quality
from p3mask.evaluate.retrieval import retrieval_block
from p3mask.evaluate.scoring import ProbeSet, gallery_hits, query_psr
from p3mask.evaluate.transforms import TRANSFORMS, quantize
from p3mask.evaluate.users import ProtectedPhoto
from p3mask.face.image_io import load_image
from p3mask.methods.base import NoUserFaceError, Protector
from p3mask.protect.config import CANONICAL_SIZE, CANONICAL_TEMPLATE, HELD_OUT_MODEL, HELD_OUT_MODERN

logger = logging.getLogger(__name__)

ROBUSTNESS_TRANSFORM = "jpeg75"  # the scraper-side transform the comparison table reports


@dataclass
class MethodUser:
    """One user under one method (duck-types :class:`p3mask.evaluate.users.UserCase` for probe sets).

    Attributes:
        index: position among the users.
        name: identity name.
        label: gallery label.
        setup_s: wall time of :meth:`Protector.setup`.
        test: protected held-out photos.
        quality: per test photo, quality of the protected photo.
        unprotected: test photos in which the method found no face of the user.
        info: what the method chose for this user (team, target identity, calibration scale, ...).
    """

    index: int
    name: str
    label: int
    setup_s: float
    test: list[ProtectedPhoto] = field(default_factory=list)
    quality: list[PhotoQuality] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)
    info: dict = field(default_factory=dict)


def _face_box(protector: Protector, clean: torch.Tensor, landmarks: torch.Tensor):
    """The detector's box of the face at ``landmarks`` in the clean photo (the face in context is measured
    around it for every method alike), or ``None`` when the detector does not find it."""
    found = protector.detector.detect(clean)
    index = nearest_face(found.landmarks, landmarks)
    return None if index is None else tuple(float(v) for v in found.boxes[index])


def method_info(protector: Protector) -> dict:
    """The per-user choices a method made, for the details report."""
    info = {}
    key = getattr(protector, "key", None)
    if key is not None:
        info.update(team=list(key.team), quality_train_min=key.quality_min, quality_train_mean=key.quality_mean)
    for attr in ("target_name", "scale", "bound", "quality_train"):
        value = getattr(protector, attr, None)
        if value is not None:
            info[attr] = value
    return info


def run_user(
    protector: Protector, index: int, name: str, split: tuple[list[Path], list[Path]], gallery: Gallery
) -> MethodUser:
    """Set ``protector`` up on the user's training photos and protect their test photos."""
    train, test = split
    tic = time.perf_counter()
    protector.setup([str(p) for p in train])
    case = MethodUser(index, name, gallery.label_of(name), time.perf_counter() - tic, info=method_info(protector))
    for path in test:
        row = gallery.index_of(path)
        clean = load_image(path)
        tic = time.perf_counter()
        try:
            protected = protector.protect(clean)
        except NoUserFaceError as exc:
            logger.warning("%s: %s: %s; left out", protector.name, path, exc)
            case.unprotected.append(str(path))
            continue
        ms = (time.perf_counter() - tic) * 1e3
        landmarks = gallery.landmarks[row]
        photo = ProtectedPhoto(path, row, clean, quantize(protected), landmarks, ms,
                               _face_box(protector, clean, landmarks))
        case.test.append(photo)
        region = face_region(landmarks, clean.shape[-2:], CANONICAL_TEMPLATE, CANONICAL_SIZE)
        case.quality.append(photo_quality(clean, photo.protected, region, photo.box))
    logger.info("%s on %s: setup %.1f s, %d photos protected (%.2f s each), %d without the user's face",
                protector.name, name, case.setup_s, len(case.test),
                _mean([p.protect_ms / 1e3 for p in case.test]), len(case.unprotected))
    return case


def clean_probes(cases: list[MethodUser], gallery: Gallery) -> ProbeSet:
    """The clean originals of the protected test photos, from the gallery's embeddings."""
    ids = torch.tensor([p.row for c in cases for p in c.test], dtype=torch.long)
    labels = torch.tensor([c.label for c in cases for _ in c.test], dtype=torch.long)
    users = torch.tensor([c.index for c in cases for _ in c.test], dtype=torch.long)
    return ProbeSet({n: e[ids] for n, e in gallery.embeddings.items()}, labels, ids, users)


def split_probes(names: list[str], splits: dict[str, tuple[list[Path], list[Path]]], gallery: Gallery) -> ProbeSet:
    """Clean probes of every user's test photos (whatever any method did), from the gallery."""
    rows = [(i, gallery.label_of(n), gallery.index_of(p)) for i, n in enumerate(names) for p in splits[n][1]]
    users, labels, ids = (torch.tensor(v, dtype=torch.long) for v in zip(*rows))
    return ProbeSet({n: e[ids] for n, e in gallery.embeddings.items()}, labels, ids, users)


def _mean(values) -> float:
    values = [float(v) for v in values if v is not None and not math.isnan(float(v))]
    return sum(values) / len(values) if values else math.nan


def summarise(
    cases: list[MethodUser], embedder: ProbeEmbedder, gallery: Gallery, pool: tuple[str, ...], seed: int = 0
) -> tuple[dict, dict]:
    """One method's row of the comparison table, and its details.

    The four retrieval cases (:mod:`p3mask.evaluate.retrieval`) are run on the users' test photos
    (queries and database entries split under ``seed``); the row carries case 2a's top-1 (protected
    photos finding the user's other protected photos), the details every case per model.

    Returns:
        ``(row, details)``: ``row`` has exactly the keys of ``compare.json``; ``details`` holds the
        per-model figures, quality, per-user timing and choices.
    """
    protected = probe_set(cases, embedder, lambda c, p: p.protected)
    transform = TRANSFORMS[ROBUSTNESS_TRANSFORM]
    compressed = probe_set(cases, embedder, lambda c, p: transform(p.protected))
    top1, top5 = query_psr(protected, gallery, 1), query_psr(protected, gallery, 5)
    robust = query_psr(compressed, gallery, 1)
    clean = clean_probes(cases, gallery)
    hits = gallery_hits(clean, protected, gallery)
    retrieval = retrieval_block(clean, protected, gallery, seed)
    linked = {n: v["top1"]["2a"] for n, v in retrieval.items()}
    gallery_psr = {n: psr_from_hits(h) for n, h in hits.items()}
    quality = mean_quality([q for c in cases for q in c.quality])
    unseen = [n for n in top1 if n not in pool]
    row = {
        "psr_seen": _mean(top1[n] for n in pool),
        "psr_unseen": _mean(top1[n] for n in unseen) if HELD_OUT_MODEL not in top1 else top1[HELD_OUT_MODEL],
        "psr_unseen_modern": top1.get(HELD_OUT_MODERN, math.nan),
        "gallery_psr": _mean(gallery_psr.values()),
        "ssimulacra2_face": quality["ssimulacra2_face"],
        "butteraugli_face": quality["butteraugli_face"],
        "ssim_face": quality["ssim_face"],
        "psnr": quality["psnr_face"],
        "psr_unseen_jpeg75": robust.get(HELD_OUT_MODEL, _mean(robust[n] for n in unseen)),
        "retrieval_2a_seen": _mean(linked[n] for n in pool),
        "retrieval_2a_unseen": linked.get(HELD_OUT_MODEL, _mean(linked[n] for n in unseen)),
        "setup_s": _mean(c.setup_s for c in cases),
        "protect_s_per_photo": _mean(p.protect_ms / 1e3 for c in cases for p in c.test),
    }
    details = {
        "query_top1": top1, "query_top5": top5, "gallery_top1": gallery_psr, "retrieval": retrieval,
        f"query_top1_{ROBUSTNESS_TRANSFORM}": robust,
        "quality": quality, "probes": len(protected),
        "unprotected": [p for c in cases for p in c.unprotected],
        "per_user": [{"name": c.name, "setup_s": c.setup_s, "test_photos": len(c.test),
                      "protect_s": [p.protect_ms / 1e3 for p in c.test],
                      "ssimulacra2_face": [q.ssimulacra2_face for q in c.quality],
                      "butteraugli_face": [q.butteraugli_face for q in c.quality],
                      "ssim_face": [q.ssim_face for q in c.quality], **c.info} for c in cases],
    }
    return row, details
