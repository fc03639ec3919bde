"""How the choice of faces to protect does on LFW users: ``p3mask bench choice``.

Users are drawn as ``p3mask evaluate`` draws them (identities with at least ``min_photos`` photos
under the seed, capped at ``max_photos``, split 70/30 into train and test photos). A user's reference
is made as ``p3mask learn`` makes it (:func:`p3mask.protect.trainset.build_training_set` over the
train photos), and each test photo's faces are detected, scored
(:func:`p3mask.protect.apply.face_scores`) and chosen (:func:`p3mask.protect.face_choice.choose_faces`)
as ``p3mask protect`` does, under the fail-safe and the strict rule. The user's face in an LFW photo
is its central face.

Two figures per rule:

* **user left bare**: the share of the users' test photos in which the user's face is not chosen;
* **strangers masked**: the share of strangers' faces chosen, in the test photos as they are (LFW
  photos sometimes hold other people) and in constructed multi-face photos: each test photo pasted
  beside ``others`` photos of seeded non-user LFW identities, in a seeded order.

Only the choice is measured: no mask is learned, since the mask does not change which faces are chosen.
"""

from __future__ import annotations

import random
from collections import Counter

import torch
import torch.nn.functional as F

from p3mask.datasets.lfw import load_lfw
from p3mask.evaluate.users import split_user
from p3mask.face.detect import Detections, FaceDetector
from p3mask.face.image_io import load_image
from p3mask.models import load_model
from p3mask.models.thresholds import doubt_threshold, match_threshold
from p3mask.protect.apply import face_scores
from p3mask.protect.config import get_config
from p3mask.protect.face_choice import FacePolicy, choose_faces
from p3mask.protect.trainset import build_training_set, model_frames
from p3mask.recognition import central_face

RULES = ("failsafe", "strict")


def side_by_side(images: list[torch.Tensor]) -> tuple[torch.Tensor, list[int]]:
    """Paste ``(3, H_i, W_i)`` photos left to right (bottom padded with black).

    Returns:
        ``(photo, offsets)``: the ``(3, max H_i, sum W_i)`` photo and each pasted photo's x offset.
    """
    height = max(im.shape[1] for im in images)
    offsets, x = [], 0
    for im in images:
        offsets.append(x)
        x += im.shape[2]
    return torch.cat([F.pad(im, (0, 0, 0, height - im.shape[1])) for im in images], dim=2), offsets


def face_in_tile(detections: Detections, x0: int, width: int, height: int) -> int | None:
    """Index of the detection nearest the centre of the tile ``[x0, x0 + width)``, among those centred in it."""
    centres = (detections.boxes[:, :2] + detections.boxes[:, 2:]) / 2
    inside = (centres[:, 0] >= x0) & (centres[:, 0] < x0 + width)
    if not inside.any():
        return None
    offset = (centres - torch.tensor([x0 + width / 2, height / 2])).norm(dim=1)
    return int(torch.where(inside, offset, torch.inf).argmin())


def _tally(counts: Counter, where: str, cosines, user: int | None, thresholds) -> None:
    for rule in RULES:
        choice = choose_faces(cosines, *thresholds, FacePolicy(rule))
        counts[f"{where}.{rule}.user_left"] += user is None or not choice.protect[user]
        counts[f"{where}.{rule}.strangers_masked"] += sum(p for i, p in enumerate(choice.protect) if i != user)
    counts[f"{where}.photos"] += 1
    counts[f"{where}.user_not_detected"] += user is None
    counts[f"{where}.stranger_faces"] += len(cosines) - (user is not None)


def run_choice_bench(root=None, users: int = 20, others: int = 2, seed: int = 0, min_photos: int = 10,
                     max_photos: int | None = 30, match_model: str = "mobilefacenet",
                     train_photos: int | None = None) -> dict:
    """Figures of the face choice on ``users`` LFW users (see the module docstring).

    ``train_photos`` makes each reference from only the first N train photos (a key learned from few
    photos, whose reference is weaker); ``None``: all of them, as the evaluation learns.

    Returns:
        ``{"users", "others", "seed", "match_threshold", "doubt_threshold", "plain": {...}, "composite": {...},
        "hard": [...]}``; ``plain`` and ``composite`` hold counts and, per rule, ``user_left_share`` and
        ``strangers_masked_share``; ``hard`` lists the one-face test photos whose user scores below the
        match threshold.
    """
    lfw = load_lfw(root)
    names = lfw.sample_identities(users, min_photos, seed)
    pool = sorted(set(lfw.identities) - set(names))
    rng = random.Random(f"choice:{seed}")
    detector, matcher = FaceDetector(), load_model(match_model, "cpu")
    thresholds = (match_threshold(match_model), doubt_threshold(match_model))
    config = get_config("mid", match_model=match_model)
    frames = [(config.frame_template, config.frame_size)] + model_frames({match_model: matcher})
    counts, hard = Counter(), []
    for name in names:
        train, test = split_user(lfw, name, 0.7, seed, max_photos)
        train = train[:train_photos] if train_photos else train
        _, reference = build_training_set([load_image(p) for p in train], [str(p) for p in train], detector,
                                          matcher, thresholds[0], frames, config.max_face_scale)
        for path in test:
            image = load_image(path)
            det = detector.detect(image)
            if det.is_empty:
                counts["plain.no_face"] += 1
                continue
            cosines = face_scores(matcher, reference, image, det.landmarks)
            user = central_face(det, image)
            _tally(counts, "plain", cosines, user, thresholds)
            if len(det) == 1 and float(cosines[0]) < thresholds[0]:
                hard.append({"photo": str(path), "user": name, "score": float(cosines[0])})
            tiles = [image] + [load_image(rng.choice(lfw.identities[rng.choice(pool)])) for _ in range(others)]
            order = rng.sample(range(len(tiles)), len(tiles))
            photo, offsets = side_by_side([tiles[i] for i in order])
            det = detector.detect(photo)
            if det.is_empty:
                continue
            x0 = offsets[order.index(0)]
            user = face_in_tile(det, x0, image.shape[2], image.shape[1])
            _tally(counts, "composite", face_scores(matcher, reference, photo, det.landmarks), user, thresholds)
    out = {"users": users, "others": others, "seed": seed, "train_photos": train_photos, "match_model": match_model,
           "match_threshold": thresholds[0], "doubt_threshold": thresholds[1], "hard": hard}
    for where in ("plain", "composite"):
        part = {k.split(".", 1)[1]: v for k, v in counts.items() if k.startswith(where + ".")}
        for rule in RULES:
            part[f"{rule}.user_left_share"] = part.get(f"{rule}.user_left", 0) / max(part.get("photos", 0), 1)
            part[f"{rule}.strangers_masked_share"] = (part.get(f"{rule}.strangers_masked", 0)
                                                      / max(part.get("stranger_faces", 0), 1))
        out[where] = part
    return out
