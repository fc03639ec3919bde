"""The conditions a protected probe is seen under, each turned into a :class:`ProbeSet` and scored:
as published, after a scraper's transform, unlocked with the right or a wrong key, and under the
adaptive adversaries of :mod:`p3mask.evaluate.adaptive`."""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable

import torch

from p3mask.evaluate.adaptive import PURIFIERS, aligned_stack, estimate_mask, subtract_estimate
from p3mask.evaluate.gallery import Gallery
from p3mask.evaluate.metrics import psr_from_hits
from p3mask.evaluate.probes import ProbeEmbedder
from p3mask.evaluate.scoring import ProbeSet, query_hits
from p3mask.evaluate.transforms import TRANSFORMS
from p3mask.evaluate.users import ProtectedPhoto, UserCase
from p3mask.face.image_io import load_image
from p3mask.protect.unlock import unlock_image

logger = logging.getLogger(__name__)

ImageOf = Callable[[UserCase, ProtectedPhoto], torch.Tensor]


def probe_set(cases: list[UserCase], embedder: ProbeEmbedder, image_of: ImageOf) -> ProbeSet:
    """Embed ``image_of(case, photo)`` for every test photo of every user (face re-detected near the
    user's known landmarks)."""
    pairs = [(case, photo) for case in cases for photo in case.test]
    embeddings = embedder.embed_many([image_of(c, p) for c, p in pairs], [p.landmarks for _, p in pairs])
    as_long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    return ProbeSet(embeddings, as_long([c.label for c, _ in pairs]), as_long([p.row for _, p in pairs]),
                    as_long([c.index for c, _ in pairs]))


def unlocked_set(cases: list[UserCase], embedder: ProbeEmbedder, wrong: bool) -> ProbeSet:
    """Probes unlocked with the user's key that protected them, or (``wrong``) with the next user's key."""
    def image_of(case: UserCase, photo: ProtectedPhoto) -> torch.Tensor:
        key = cases[(case.index + 1) % len(cases)].key if wrong else case.key_of(photo)
        return unlock_image(photo.protected, key, detector=embedder.detector).image
    return probe_set(cases, embedder, image_of)


def transform_sets(
    cases: list[UserCase], embedder: ProbeEmbedder, names: list[str]
) -> dict[str, tuple[ProbeSet, ProbeSet]]:
    """Per transform name, (protected probes transformed, clean probes transformed)."""
    out = {}
    for name in names:
        t = TRANSFORMS[name]
        out[name] = (probe_set(cases, embedder, lambda c, p, t=t: t(p.protected)),
                     probe_set(cases, embedder, lambda c, p, t=t: t(p.clean)))
    return out


def population_mean(gallery: Gallery, exclude: set[int], template, frame_size, count: int, seed: int) -> torch.Tensor:
    """Mean aligned clean face of ``count`` random gallery photos of identities not in ``exclude``."""
    rows = [i for i in range(len(gallery)) if int(gallery.labels[i]) not in exclude]
    chosen = random.Random(seed).sample(rows, min(count, len(rows)))
    faces = aligned_stack([load_image(gallery.paths[i]) for i in chosen], [gallery.landmarks[i] for i in chosen],
                          template, frame_size)
    return faces.mean(0)


def estimation_sets(
    cases: list[UserCase], embedder: ProbeEmbedder, gallery: Gallery, population: int, seed: int
) -> dict[str, ProbeSet]:
    """Adversary (a): per variant ("mask_estimate", "mask_estimate_detail"), the probes after subtracting
    the mask estimated from all of the user's protected photos (train and test)."""
    exclude = {c.label for c in cases}
    key0 = cases[0].key
    mean_face = population_mean(gallery, exclude, key0.template, key0.frame_size, population, seed)
    estimates: dict[str, dict[int, tuple[torch.Tensor, dict[int, torch.Tensor]]]] = {}
    for case in cases:
        photos = case.train + case.test
        located = [embedder.locate(p.protected, p.landmarks) for p in photos]
        faces = aligned_stack([p.protected for p in photos], located, case.key.template, case.key.frame_size)
        spots = {id(p): lm for p, lm in zip(photos, located)}
        for variant, detail in (("mask_estimate", False), ("mask_estimate_detail", True)):
            est = estimate_mask(faces, mean_face, case.key.epsilon, detail_only=detail)
            estimates.setdefault(variant, {})[case.index] = (est, spots)
    out = {}
    for variant, per_user in estimates.items():
        def image_of(case, photo, per_user=per_user):
            est, spots = per_user[case.index]
            return subtract_estimate(photo.protected, spots[id(photo)], est, case.key.template)
        out[variant] = probe_set(cases, embedder, image_of)
    return out


def purification_psr(
    cases: list[UserCase], embedder: ProbeEmbedder, gallery: Gallery
) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """Adversary (b): each purifier family at the strength the adversary picks on the *other* users
    (lowest mean query top-1 PSR over models), scored per user and pooled.

    Returns:
        ``({"purify_<family>": {model: psr}}, details)`` with the PSR of every strength in the details.
    """
    hits = {}
    for name, purifier in PURIFIERS.items():
        probes = probe_set(cases, embedder, lambda c, p, f=purifier: f(p.protected, c.key.epsilon))
        hits[name] = (probes.users, query_hits(probes, gallery, 1))
    families = list(dict.fromkeys(p.family for p in PURIFIERS.values()))
    users = [c.index for c in cases]
    result, details = {}, {}
    for family in families:
        names = [n for n, p in PURIFIERS.items() if p.family == family]
        chosen = {u: _pick_level(names, hits, [v for v in users if v != u] or [u]) for u in users}
        per_model: dict[str, list[torch.Tensor]] = {}
        for u, name in chosen.items():
            owners, model_hits = hits[name]
            for model, h in model_hits.items():
                per_model.setdefault(model, []).append(h[owners == u])
        result[f"purify_{family}"] = {m: psr_from_hits(torch.cat(parts)) for m, parts in per_model.items()}
        details[f"purify_{family}"] = {
            "chosen_per_user": [chosen[u] for u in users],
            "chosen_on_same_user": len(users) < 2,  # with one user the adversary tunes on the user itself
            "psr_per_strength": {n: {m: psr_from_hits(h) for m, h in hits[n][1].items()} for n in names},
        }
    return result, details


def _pick_level(names: list[str], hits: dict, users: list[int]) -> str:
    """The strength with the lowest mean (over models) query top-1 PSR on ``users``' probes."""
    def mean_psr(name: str) -> float:
        owners, model_hits = hits[name]
        keep = torch.isin(owners, torch.tensor(users))
        values = [psr_from_hits(h[keep]) for h in model_hits.values()]
        values = [v for v in values if not math.isnan(v)]
        return sum(values) / len(values) if values else math.inf
    return min(names, key=mean_psr)
