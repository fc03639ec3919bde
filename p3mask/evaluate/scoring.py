"""From probe embeddings to the report's figures: every PSR, per model, pooled over users.

A :class:`ProbeSet` holds one embedding per (user, test photo) under one condition (clean, protected,
JPEG-compressed, unlocked, ...). Identification is always against the full clean :class:`Gallery` of
the dataset, leaving out the probe's own photo (see :mod:`p3mask.evaluate.metrics`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from p3mask.bench.protocol import threshold_at_far
from p3mask.evaluate.gallery import Gallery
from p3mask.evaluate.metrics import (
    cosine_matrix,
    identification_hits,
    psr_from_hits,
    rate_matching_threshold,
    success_rate,
    verification_below,
)


@dataclass(frozen=True)
class ProbeSet:
    """Embeddings of the users' test photos under one condition.

    Attributes:
        embeddings: model -> ``(P, D)``.
        labels: ``(P,)`` gallery label of each probe's user.
        ids: ``(P,)`` gallery row of each probe's photo (its clean original).
        users: ``(P,)`` index of the probe's user among the evaluated users.
    """

    embeddings: dict[str, torch.Tensor]
    labels: torch.Tensor
    ids: torch.Tensor
    users: torch.Tensor

    def __len__(self) -> int:
        return int(self.labels.numel())

    def subset(self, keep: torch.Tensor) -> ProbeSet:
        """The probes where ``keep`` ``(P,)`` is True."""
        return ProbeSet({n: e[keep] for n, e in self.embeddings.items()}, self.labels[keep], self.ids[keep],
                        self.users[keep])


def query_hits(probes: ProbeSet, gallery: Gallery, k: int = 1) -> dict[str, torch.Tensor]:
    """Per model, ``(P,)`` whether each probe's user is in the top ``k`` of the clean gallery."""
    rows = torch.arange(len(gallery))
    return {
        name: identification_hits(emb, probes.labels, gallery.embeddings[name], gallery.labels, k, probes.ids, rows)
        for name, emb in probes.embeddings.items()
    }


def query_psr(probes: ProbeSet, gallery: Gallery, k: int = 1) -> dict[str, float]:
    """Query-protection PSR per model: fraction of probes whose user is not in the top ``k``."""
    if len(probes) == 0:
        return {name: math.nan for name in probes.embeddings}
    return {name: psr_from_hits(h) for name, h in query_hits(probes, gallery, k).items()}


def top1_accuracy(probes: ProbeSet, gallery: Gallery) -> dict[str, float]:
    """Top-1 identification accuracy per model (``1 - query PSR``)."""
    return {name: 1.0 - psr for name, psr in query_psr(probes, gallery, 1).items()}


def gallery_hits(clean: ProbeSet, protected: ProbeSet, gallery: Gallery) -> dict[str, torch.Tensor]:
    """Gallery protection: clean probes of each user against a gallery whose entries of that user are
    only their protected test photos (every clean photo of the user removed); other photos of the same
    test photo are never paired with themselves. Per model, ``(P,)`` top-1 hits."""
    out: dict[str, list[torch.Tensor]] = {name: [] for name in clean.embeddings}
    for user in clean.users.unique().tolist():
        probe, entry = clean.subset(clean.users == user), protected.subset(protected.users == user)
        others = gallery.labels != int(probe.labels[0])
        labels = torch.cat([gallery.labels[others], entry.labels])
        ids = torch.cat([torch.full((int(others.sum()),), -1), entry.ids])
        for name in out:
            entries = torch.cat([gallery.embeddings[name][others], entry.embeddings[name]])
            out[name].append(identification_hits(probe.embeddings[name], probe.labels, entries, labels, 1, probe.ids,
                                                 ids))
    return {name: torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool) for name, parts in out.items()}


def _user_rows(gallery: Gallery, label: int) -> torch.Tensor:
    return (gallery.labels == label).nonzero().flatten()


def verification_rejections(
    protected: ProbeSet, gallery: Gallery, thresholds: Mapping[str, float], users: list[int] | None = None
) -> dict[str, torch.Tensor]:
    """Per model, ``(pairs,)`` whether each (protected test photo, other clean photo of the same user)
    pair falls below the model's threshold. ``thresholds`` may map a model to one float or to a
    ``{user index: float}`` dict (a per-user adapted threshold)."""
    out: dict[str, list[torch.Tensor]] = {name: [] for name in protected.embeddings}
    for user in (users if users is not None else protected.users.unique().tolist()):
        probe = protected.subset(protected.users == user)
        if len(probe) == 0:
            continue
        rows = _user_rows(gallery, int(probe.labels[0]))
        for name in out:
            t = thresholds[name]
            t = t[user] if isinstance(t, Mapping) else t
            out[name].append(verification_below(probe.embeddings[name], gallery.embeddings[name][rows], t, probe.ids,
                                                rows))
    return {name: torch.cat(parts) if parts else torch.zeros(0, dtype=torch.bool) for name, parts in out.items()}


def genuine_scores(probes: ProbeSet, gallery: Gallery, name: str, user: int) -> torch.Tensor:
    """Cosines of one user's probes with that user's other clean gallery photos, ``(pairs,)``."""
    probe = probes.subset(probes.users == user)
    if len(probe) == 0:
        return torch.zeros(0)
    rows = _user_rows(gallery, int(probe.labels[0]))
    scores = cosine_matrix(probe.embeddings[name], gallery.embeddings[name][rows])
    return scores[probe.ids[:, None] != rows[None, :]]


def impostor_scores(gallery: Gallery, name: str, pairs: int = 200_000, seed: int = 0) -> torch.Tensor:
    """Cosines of ``pairs`` random gallery pairs of different identities (seeded), ``(M,)``."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(len(gallery), (pairs,), generator=g)
    b = torch.randint(len(gallery), (pairs,), generator=g)
    keep = gallery.labels[a] != gallery.labels[b]
    emb = gallery.embeddings[name]
    return (emb[a[keep]] * emb[b[keep]]).sum(dim=1)


def gallery_threshold(gallery: Gallery, name: str, far: float = 1e-3) -> float:
    """A model's threshold at ``far`` from random impostor pairs of the gallery (a fallback when the
    calibrated threshold is not available)."""
    scores = impostor_scores(gallery, name).numpy()
    return threshold_at_far(scores, [False] * len(scores), far)


def rethreshold(
    clean: ProbeSet, protected: ProbeSet, gallery: Gallery, thresholds: Mapping[str, float]
) -> tuple[dict[str, float], dict[str, dict]]:
    """Adversary (c): per model and user, a threshold re-fitted on the *other* users' protected photos so
    that their protected genuine pairs are accepted as often as clean genuine pairs are at the original
    threshold; verification PSR of each user at its threshold, pooled.

    Returns:
        ``(psr per model, details per model)``; details hold the clean acceptance rate, the adapted
        thresholds and the false-accept rate they cost on clean impostor pairs of the gallery.
    """
    users = protected.users.unique().tolist()
    psr, details = {}, {}
    for name in protected.embeddings:
        clean_scores = torch.cat([genuine_scores(clean, gallery, name, u) for u in users])
        accept = float((clean_scores >= thresholds[name]).float().mean()) if clean_scores.numel() else math.nan
        adapted = {}
        for u in users:
            others = [genuine_scores(protected, gallery, name, v) for v in users if v != u]
            pool = torch.cat(others) if others else genuine_scores(protected, gallery, name, u)
            adapted[u] = rate_matching_threshold(pool, accept) if pool.numel() and not math.isnan(accept) else math.nan
        rejected = _rejected(protected, gallery, name, adapted)
        impostors = impostor_scores(gallery, name)
        far = [float((impostors >= t).float().mean()) for t in adapted.values() if not math.isnan(t)]
        psr[name] = success_rate(rejected)
        details[name] = {
            "clean_accept_rate": accept,
            "threshold": float(thresholds[name]),
            "adapted_thresholds": [adapted[u] for u in users],
            "far_at_adapted": sum(far) / len(far) if far else math.nan,
            "single_user_calibration": len(users) < 2,
        }
    return psr, details


def _rejected(protected: ProbeSet, gallery: Gallery, name: str, adapted: dict[int, float]) -> torch.Tensor:
    sub = ProbeSet({name: protected.embeddings[name]}, protected.labels, protected.ids, protected.users)
    return verification_rejections(sub, gallery, {name: adapted})[name]
