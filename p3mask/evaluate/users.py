"""One evaluated user: learn a mask on 70% of their photos, protect the other 30% (and, for the
mask-estimating adversary, the 70% too), and measure image quality and timing on the way.

With ``masks = K > 1`` (the several-masks key of issue 19, measured here before any key format holds it)
K masks are learned on the same photos with different seeds, and each photo takes the one
:func:`mask_for` picks from its file's bytes: the same photo always gets the same mask.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from p3mask.datasets.base import FaceDataset
from p3mask.evaluate.quality import PhotoQuality, face_region, photo_quality
from p3mask.evaluate.transforms import quantize
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image
from p3mask.models.base import FaceRecognizer
from p3mask.protect.apply import protect_image
from p3mask.protect.config import ChameleonConfig
from p3mask.protect.key import P3Mask
from p3mask.protect.learning import learn

logger = logging.getLogger(__name__)


@dataclass
class ProtectedPhoto:
    """One photo of the user, clean and protected.

    Attributes:
        path: the photo.
        row: its row in the gallery.
        clean: ``(3, H, W)`` original.
        protected: ``(3, H, W)`` protected photo, rounded to 8 bits as a stored photo is.
        landmarks: ``(5, 2)`` landmarks of the user's face (where the mask was put).
        protect_ms: wall time of applying the key (detection and face matching included).
    """

    path: Path
    row: int
    clean: torch.Tensor
    protected: torch.Tensor
    landmarks: torch.Tensor
    protect_ms: float
    box: tuple[float, float, float, float] | None = None  # the face box (x1, y1, x2, y2) in photo pixels
    mask: int = 0  # which of the user's masks protected it (``UserCase.keys``)


@dataclass
class UserCase:
    """Everything the evaluation keeps about one user.

    Attributes:
        index: position among the evaluated users.
        name: identity name in the dataset.
        label: gallery label.
        key: the learned :class:`P3Mask` (the first of ``keys``).
        learn_s: wall time of learning (loading the photos included).
        test: protected held-out photos (the probes).
        train: the training photos, protected with the same key (the adversary's collection).
        quality: per test photo, quality of the protected photo.
        unprotected: test photos in which the key found no face of the user (left out of the probes).
        keys: every mask learned for the user (one unless several were asked for).
    """

    index: int
    name: str
    label: int
    key: P3Mask
    learn_s: float
    test: list[ProtectedPhoto] = field(default_factory=list)
    train: list[ProtectedPhoto] = field(default_factory=list)
    quality: list[PhotoQuality] = field(default_factory=list)
    unprotected: list[str] = field(default_factory=list)
    keys: list[P3Mask] = field(default_factory=list)

    def key_of(self, photo: ProtectedPhoto) -> P3Mask:
        """The key that protected ``photo`` (the one an authorised party unlocks it with)."""
        return self.keys[photo.mask] if self.keys else self.key


def mask_for(path: Path, masks: int) -> int:
    """Index in ``[0, masks)`` of the mask a photo takes: from the SHA-256 of its file's bytes (not read
    when there is one mask)."""
    if masks == 1:
        return 0
    return int.from_bytes(hashlib.sha256(Path(path).read_bytes()).digest()[:8], "big") % masks


def split_user(dataset: FaceDataset, name: str, train_fraction: float, seed: int, max_photos: int | None):
    """(train, test) photo paths of one user, after capping their photos at ``max_photos`` (seeded draw)."""
    photos = list(dataset.identities[name])
    if max_photos is not None and len(photos) > max_photos:
        photos = sorted(random.Random(f"cap:{seed}:{name}").sample(photos, max_photos))
    capped = FaceDataset(dataset.name, dataset.root, {name: photos})
    return capped.split_photos(name, train_fraction, seed)


def protect_photo(key: P3Mask, path: Path, row: int, detector: FaceDetector, matcher: FaceRecognizer):
    """Protect one photo with ``key`` as ``p3mask protect`` does; ``None`` when the key finds no face
    of the user in it. The time covers detection, face matching and masking."""
    clean = load_image(path)
    tic = time.perf_counter()
    detections = detector.detect(clean)
    protected, report = protect_image(key, clean, matcher=matcher, detections=detections)
    ms = (time.perf_counter() - tic) * 1e3
    chosen = [i for i, face in enumerate(report.faces) if face.protected]
    if not chosen:
        return None
    return ProtectedPhoto(path, row, clean, quantize(protected), detections.landmarks[chosen[0]], ms,
                          report.faces[chosen[0]].box)


def learn_and_protect(
    index: int,
    name: str,
    label: int,
    split: tuple[list[Path], list[Path]],
    rows: dict[Path, int],
    config: ChameleonConfig,
    models: dict[str, FaceRecognizer],
    thresholds: dict[str, float],
    detector: FaceDetector,
    seed: int,
    device: torch.device,
    protect_train: bool = True,
    masks: int = 1,
) -> UserCase:
    """Learn the user's key (``masks`` keys, seeds ``seed + 1000 k``) on the train photos and protect the
    test (and train) photos with it (each with the key :func:`mask_for` picks)."""
    train, test = split
    tic = time.perf_counter()
    keys = [learn([str(p) for p in train], config, user=name, device=device, seed=seed + 1000 * k, progress=False,
                  models=models, detector=detector, thresholds=thresholds).key for k in range(masks)]
    case = UserCase(index, name, label, keys[0], time.perf_counter() - tic, keys=keys)
    matcher = models[case.key.match_model]

    def protect(path: Path) -> ProtectedPhoto | None:
        k = mask_for(path, masks)
        photo = protect_photo(keys[k], path, rows[path], detector, matcher)
        if photo is not None:
            photo.mask = k
        return photo

    for path in test:
        photo = protect(path)
        if photo is None:
            case.unprotected.append(str(path))
            continue
        case.test.append(photo)
        region = face_region(photo.landmarks, photo.clean.shape[-2:], case.key.template, case.key.frame_size)
        case.quality.append(photo_quality(photo.clean, photo.protected, region, photo.box))
    if protect_train:
        case.train = [p for p in (protect(q) for q in train) if p]
    logger.info("%s: learned in %.1f s (team %s); %d test photos protected, %d without the user's face",
                name, case.learn_s, ",".join(case.key.team), len(case.test), len(case.unprotected))
    return case
