"""The four retrieval cases on hand-built embeddings whose every figure is known in closed form."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from p3mask.evaluate.gallery import Gallery
from p3mask.evaluate.retrieval import (
    CASES,
    COSINES,
    retrieval_block,
    retrieval_cases,
    retrieve,
    split_queries,
)
from p3mask.evaluate.scoring import ProbeSet

DIM = 40
E = torch.eye(DIM)
USER, OTHER = 0, 1  # labels
N = 6  # test photos of the user: 3 queries, 3 database entries


def _vec(*terms) -> torch.Tensor:
    """Normalised sum of (weight, basis index) terms."""
    return F.normalize(sum(w * E[i] for w, i in terms), dim=0)


def _user(cluster: bool):
    """The user's clean photos lie near basis 0 (identity), each with its own small detail (10 + i).

    Protected: with ``cluster``, each photo is moved to the mask's direction (basis 1) keeping 0.2 of
    the identity, with its own small detail (20 + i): the protected photos form a tight cluster away
    from the user. Without it, each photo is moved to its *own* direction (20 + i): no cluster.
    """
    clean = torch.stack([_vec((1.0, 0), (0.1, 10 + i)) for i in range(N)])
    if cluster:
        protected = torch.stack([_vec((0.2, 0), (1.0, 1), (0.1, 20 + i)) for i in range(N)])
    else:
        protected = torch.stack([_vec((0.2, 0), (1.0, 20 + i)) for i in range(N)])
    return clean, protected


def _distractors():
    """Other people: one near the mask's direction (it beats the user's clean photos for a protected
    query), one sharing some of the user's identity (it beats protected entries for a clean query),
    and two unrelated ones. Plus the user's own clean gallery photos, which must never be counted as
    distractors (they carry the user's label)."""
    rows = [_vec((1.0, 1), (0.5, 2)), _vec((1.0, 0), (1.0, 3)), _vec((1.0, 4)), _vec((1.0, 5))]
    labels = [OTHER, OTHER + 1, OTHER + 2, OTHER + 3]
    own = [_vec((1.0, 0), (0.1, 30 + i)) for i in range(3)]
    return torch.stack(rows + own), torch.tensor(labels + [USER] * 3)


def test_split_queries_is_seeded_disjoint_and_handles_small_users():
    q, d = split_queries(9, seed=3, key=7)
    assert len(q) == 4 and len(d) == 5 and sorted(q + d) == list(range(9))
    assert (q, d) == split_queries(9, seed=3, key=7)
    assert any(split_queries(9, seed=s, key=7) != (q, d) for s in range(4, 10))
    assert split_queries(2, 0) in (([0], [1]), ([1], [0]))
    with pytest.raises(ValueError, match="at least 2 photos, got 1"):
        split_queries(1, 0)


def test_retrieve_top1_and_precision_at_k():
    entries = torch.stack([_vec((1.0, 0)), _vec((1.0, 0), (0.5, 1))])  # k = 2
    distractors = torch.stack([_vec((1.0, 0), (0.2, 2)), _vec((1.0, 3))])
    queries = torch.stack([_vec((1.0, 0), (0.01, 4)),  # nearest: entries[0], then distractor 0 -> 1/2
                           _vec((1.0, 0), (0.5, 1)),  # entries[1], entries[0] -> 2/2
                           _vec((1.0, 3))])  # distractor 1, then distractor 0 / entries[0] (both 0) -> 0/2
    top1, precision = retrieve(queries, entries, distractors)
    assert top1.tolist() == [True, True, False]
    assert precision.tolist() == [0.5, 1.0, 0.0]
    with pytest.raises(ValueError, match="E >= 1"):
        retrieve(queries, torch.zeros(0, DIM), distractors)


def test_a_protected_cluster_is_caught_by_2a_but_not_by_2b():
    clean, protected = _user(cluster=True)
    distractors, labels = _distractors()
    result = retrieval_cases(clean, protected, torch.full((N,), USER), distractors, labels, seed=0)
    assert (result.queries, result.entries, result.users, result.skipped) == (3, 3, 1, ())
    # 1b: clean photos find each other (cos 1/1.01 against at most 1/sqrt(2.02) for distractor 1).
    assert result.top1["1b"] == 1.0 and result.precision_at_k["1b"] == 1.0
    # 2a: the cluster finds itself (cos 1.04/1.05 against 1/sqrt(1.05 * 1.25) for distractor 0).
    assert result.top1["2a"] == 1.0 and result.precision_at_k["2a"] == 1.0
    # 2b: distractor 0 is nearest (cos 0.894) before the user's clean photos (cos 0.195): top-1 fails;
    # of the k = 3 nearest, the other two are the user's.
    assert result.top1["2b"] == 0.0 and result.precision_at_k["2b"] == pytest.approx(2 / 3)
    # 1a: distractor 1 (cos 0.704) beats the protected entries (cos 0.195), which come next.
    assert result.top1["1a"] == 0.0 and result.precision_at_k["1a"] == pytest.approx(2 / 3)
    nc, npr = math.sqrt(1.01), math.sqrt(1.05)
    expected = {"protected_protected": 1.04 / 1.05, "clean_clean": 1 / 1.01, "protected_clean": 0.2 / (nc * npr),
                # each clean photo against the 4 other people: 0, 1/sqrt(2), 0, 0 (times 1/sqrt(1.01))
                "clean_other_people": (2**-0.5 / nc) / 4}
    assert set(result.cosine) == set(COSINES)
    for kind, value in expected.items():
        assert result.cosine[kind] == pytest.approx(value, abs=1e-6), kind


def test_photos_that_do_not_cluster_are_not_linked():
    clean, protected = _user(cluster=False)
    distractors, labels = _distractors()
    result = retrieval_cases(clean, protected, torch.full((N,), USER), distractors, labels, seed=0)
    # Protected photos share only 0.2 of the identity: cos 0.04/1.04 = 0.038 with each other, less
    # than with distractor 1 (0.2/sqrt(1.04 * 2) = 0.139): 2a fails at top-1, and distractor 1 is
    # the only other person above them, so 2 of the k = 3 nearest are the user's.
    assert result.top1["2a"] == 0.0 and result.precision_at_k["2a"] == pytest.approx(2 / 3)
    assert result.cosine["protected_protected"] == pytest.approx(0.04 / 1.04, abs=1e-6)
    assert result.top1["1b"] == 1.0


def test_users_pool_and_small_users_are_skipped():
    clean, protected = _user(cluster=True)
    second_clean = torch.stack([_vec((1.0, 6), (0.1, 10 + i)) for i in range(4)])
    # A cluster at 7, pointing a little away from the second user's identity (no ties with distractors).
    second_protected = torch.stack([_vec((1.0, 7), (-0.3, 6), (0.1, 20 + i)) for i in range(4)])
    lone = _vec((1.0, 8))[None]
    distractors, labels = _distractors()
    result = retrieval_cases(torch.cat([clean, second_clean, lone]), torch.cat([protected, second_protected, lone]),
                             torch.tensor([USER] * N + [9] * 4 + [11]), distractors, labels, seed=0)
    assert (result.users, result.queries, result.entries, result.skipped) == (2, 5, 5, (11,))
    # The second user: protected photos point away from the clean ones, further than from any other
    # person (1a, 2b: 0), and form a cluster (2a: 1); pooled over the 3 + 2 queries.
    assert result.top1["2a"] == 1.0 and result.top1["1b"] == 1.0
    assert result.top1["2b"] == 0.0
    assert result.precision_at_k["2b"] == pytest.approx((3 * 2 / 3 + 2 * 0.0) / 5)
    assert result.top1["1a"] == 0.0 and result.precision_at_k["1a"] == pytest.approx((3 * 2 / 3 + 2 * 0.0) / 5)
    # Pairs pooled: 30 protected pairs at 1.04/1.05 and 12 at 1.09/1.10.
    assert result.cosine["protected_protected"] == pytest.approx((30 * 1.04 / 1.05 + 12 * 1.09 / 1.10) / 42, abs=1e-6)


def test_no_scorable_user_gives_nan_and_bad_shapes_raise():
    one = _vec((1.0, 0))[None]
    result = retrieval_cases(one, one, torch.tensor([USER]), one, torch.tensor([OTHER]))
    assert result.queries == 0 and result.skipped == (USER,)
    assert all(math.isnan(result.top1[c]) and math.isnan(result.precision_at_k[c]) for c in CASES)
    assert all(math.isnan(v) for v in result.cosine.values())
    with pytest.raises(ValueError, match="same"):
        retrieval_cases(torch.zeros(3, DIM), torch.zeros(2, DIM), torch.zeros(3, dtype=torch.long), one,
                        torch.tensor([1]))
    with pytest.raises(ValueError, match="labels"):
        retrieval_cases(torch.zeros(3, DIM), torch.zeros(3, DIM), torch.zeros(2, dtype=torch.long), one,
                        torch.tensor([1]))
    with pytest.raises(ValueError, match="distractors"):
        retrieval_cases(one, one, torch.tensor([0]), torch.zeros(2, 3), torch.tensor([1, 2]))


def test_retrieval_block_uses_the_gallery_as_distractors_and_names_skipped_users():
    clean, protected = _user(cluster=True)
    distractors, labels = _distractors()
    # Gallery: identities 0..4 (labels as in _distractors), the user's photos 0..2 among them.
    names = ["user", "a", "b", "c", "d"]
    paths = [Path(f"g{i}.jpg") for i in range(len(labels))]
    gallery = Gallery("synthetic", names, paths, labels, torch.zeros(len(paths), 5, 2),
                      torch.ones(len(paths), dtype=torch.bool), {"m": distractors})
    lone = _vec((1.0, 8))[None]
    as_long = lambda v: torch.tensor(v, dtype=torch.long)  # noqa: E731
    ids, owners, users = as_long(list(range(100, 100 + N + 1))), as_long([USER] * N + [4]), as_long([0] * N + [1])
    block = retrieval_block(ProbeSet({"m": torch.cat([clean, lone])}, owners, ids, users),
                            ProbeSet({"m": torch.cat([protected, lone])}, owners, ids, users), gallery, seed=0)
    direct = retrieval_cases(clean, protected, torch.full((N,), USER), distractors, labels, seed=0)
    assert block["m"]["top1"] == direct.top1 and block["m"]["skipped"] == ["d"]
    with pytest.raises(ValueError, match="same photos"):
        retrieval_block(ProbeSet({"m": clean}, owners[:N], ids[:N], users[:N]),
                        ProbeSet({"m": protected}, owners[:N], ids[:N].flip(0), users[:N]), gallery, seed=0)
