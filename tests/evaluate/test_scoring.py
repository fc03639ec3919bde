"""Scoring probe sets against a gallery, on seeded synthetic embeddings."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from p3mask.evaluate.gallery import Gallery
from p3mask.evaluate.scoring import (
    ProbeSet,
    gallery_hits,
    gallery_threshold,
    query_psr,
    rethreshold,
    top1_accuracy,
    verification_rejections,
)

IDS, PER_ID, DIM = 12, 6, 24


def _gallery(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(IDS, DIM, generator=g), dim=1)
    emb = F.normalize(centres.repeat_interleave(PER_ID, 0) + 0.05 * torch.randn(IDS * PER_ID, DIM, generator=g), dim=1)
    labels = torch.arange(IDS).repeat_interleave(PER_ID)
    paths = [Path(f"id{i // PER_ID}/{i % PER_ID}.jpg") for i in range(IDS * PER_ID)]
    gallery = Gallery("synthetic", [f"id{i}" for i in range(IDS)], paths, labels,
                      torch.zeros(len(paths), 5, 2), torch.ones(len(paths), dtype=torch.bool), {"m": emb})
    return gallery, centres


def _probes(gallery: Gallery, users: list[int], shift: torch.Tensor | None = None) -> ProbeSet:
    """Two test photos (the last two) of each user; ``shift`` (D,) is added to them (a 'mask')."""
    rows = [u * PER_ID + k for u in users for k in (PER_ID - 2, PER_ID - 1)]
    emb = gallery.embeddings["m"][rows]
    if shift is not None:
        emb = F.normalize(emb + shift, dim=1)
    as_long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    return ProbeSet({"m": emb}, gallery.labels[rows], as_long(rows),
                    as_long([i for i, _ in enumerate(users) for _ in (0, 1)]))


def test_clean_probes_are_found_and_strong_masks_protect():
    gallery, centres = _gallery()
    clean = _probes(gallery, [0, 1, 2])
    assert top1_accuracy(clean, gallery)["m"] == 1.0
    assert query_psr(clean, gallery, 1)["m"] == 0.0
    protected = _probes(gallery, [0, 1, 2], shift=-3.0 * centres[[0, 0, 1, 1, 2, 2]])
    assert query_psr(protected, gallery, 1)["m"] == 1.0
    assert query_psr(protected, gallery, 5)["m"] == 1.0  # not even among the 5 nearest
    # A weaker mask: one probe of six loses its top-1 match, yet every user stays in the top 5.
    weaker = _probes(gallery, [0, 1, 2], shift=-0.8 * centres[[0, 0, 1, 1, 2, 2]])
    assert query_psr(weaker, gallery, 1)["m"] == pytest.approx(1 / 6)
    assert query_psr(weaker, gallery, 5)["m"] == 0.0


def test_gallery_protection_replaces_the_users_entries():
    gallery, centres = _gallery(1)
    clean = _probes(gallery, [3, 4])
    # Protected entries near the user: each clean probe finds the user's other protected photo.
    near = _probes(gallery, [3, 4], shift=0.01 * torch.ones(DIM))
    assert gallery_hits(clean, near, gallery)["m"].all()
    # Protected entries far from the user: the user's clean photos are gone from the gallery, so it fails.
    far = _probes(gallery, [3, 4], shift=-3.0 * centres[[3, 3, 4, 4]])
    assert not gallery_hits(clean, far, gallery)["m"].any()


def test_verification_and_rethreshold():
    gallery, centres = _gallery(2)
    thresholds = {"m": gallery_threshold(gallery, "m")}
    assert -1.0 < thresholds["m"] < 1.0
    clean = _probes(gallery, [0, 1, 2, 3])
    assert not verification_rejections(clean, gallery, thresholds)["m"].any()
    # A moderate, user-independent push: protected genuine scores drop below the threshold...
    users = [0, 1, 2, 3]
    pushed = _probes(gallery, users, shift=-0.9 * centres[[u for u in users for _ in (0, 1)]])
    rejected = verification_rejections(pushed, gallery, thresholds)["m"]
    assert rejected.float().mean() > 0.5
    # ...but an adversary re-fitting the threshold on the other users' protected photos accepts most again.
    psr, details = rethreshold(clean, pushed, gallery, thresholds)
    assert psr["m"] < rejected.float().mean().item()
    assert details["m"]["clean_accept_rate"] == 1.0
    assert len(details["m"]["adapted_thresholds"]) == 4
    # The adapted thresholds sit far below the FAR = 1e-3 one, so they accept strangers far more often.
    assert max(details["m"]["adapted_thresholds"]) < thresholds["m"] / 2
    assert 0.1 < details["m"]["far_at_adapted"] < 0.5


def test_empty_probe_set_gives_nan():
    gallery, _ = _gallery()
    empty = ProbeSet({"m": torch.zeros(0, DIM)}, torch.zeros(0, dtype=torch.long),
                     torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))
    assert math.isnan(query_psr(empty, gallery)["m"])


def test_probe_subset():
    gallery, _ = _gallery()
    probes = _probes(gallery, [0, 1])
    sub = probes.subset(probes.users == 1)
    assert len(sub) == 2 and sub.labels.tolist() == [1, 1]
    with pytest.raises(KeyError):
        gallery.index_of(Path("nope.jpg"))


def test_psr_block_splits_the_probes_of_users_whose_team_had_the_model():
    from p3mask.evaluate.runner import psr_block

    gallery, centres = _gallery(3)
    users = [0, 1, 2]
    clean = _probes(gallery, users)
    protected = _probes(gallery, users)
    away = F.normalize(protected.embeddings["m"][:2] - 3 * centres[0], dim=1)  # user 0's probes pushed away
    protected.embeddings["m"] = torch.cat([away, protected.embeddings["m"][2:]])
    block = psr_block(clean, protected, gallery, {"m": 0.5}, {0: ("m",), 1: ("x",), 2: ("x",)})["m"]
    assert block["query_top1_in_team"] == pytest.approx(1.0)  # only user 0 trained against "m"
    assert block["query_top1"] == pytest.approx(1 / 3)
    assert block["seen_in_training"] and block["team_fraction"] == pytest.approx(1 / 3)
    none = psr_block(clean, protected, gallery, {"m": 0.5}, {0: ("x",), 1: ("x",), 2: ("x",)})["m"]
    assert math.isnan(none["query_top1_in_team"]) and not none["seen_in_training"]
