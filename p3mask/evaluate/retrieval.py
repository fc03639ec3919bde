"""The four retrieval cases of a face search engine, and how close a user's photos lie to each other.

A search engine indexes photos and is queried with photos. A user's photos are each seen clean (a
camera, a friend's post) or protected (the user's own posts), on either side. Following Protego (Wang
et al., CVPR 2026), each user's held-out test photos are split (seeded) into queries and database
entries, and the database also holds every clean photo of the other identities (the distractors):

* ``1a`` clean query -> database of the user's protected photos (gallery protection);
* ``1b`` clean query -> database of the user's clean photos (sanity: the recogniser works);
* ``2a`` protected query -> database of the user's *other* protected photos (protected photos linking
  to each other: a mask that moves every photo to the same place fails here);
* ``2b`` protected query -> database of the user's clean photos (query protection).

For every query: ``top1`` is whether its nearest database entry is one of the user's, and
``precision@k``, with ``k`` the number of the user's database entries, is the fraction of its ``k``
nearest entries that are the user's (Protego's measure). Both are averaged over the queries of all
users (pooled). Lower is better protection in 1a, 2a and 2b; 1b should stay at the clean figure.

Beside them, four mean cosines pooled over pairs: two protected photos of the same user, two clean
photos of the same user, a protected photo and a clean *other* photo of the same user, and a clean
photo of the user with a clean photo of another person (the distractors).

A user needs at least :data:`MIN_TEST_PHOTOS` test photos (one query and one database entry); users
with fewer are left out of every figure here and listed in :attr:`RetrievalResult.skipped`.

Example:
    >>> import torch
    >>> clean = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0]])
    >>> protected = torch.tensor([[0.1, 0.0, 1.0], [0.0, 0.1, 1.0]])
    >>> result = retrieval_cases(clean, protected, torch.tensor([0, 0]), torch.tensor([[0.0, 1.0, 0.0]]),
    ...                          torch.tensor([1]))
    >>> result.top1["2a"], result.top1["1b"], result.queries
    (1.0, 1.0, 1)
"""

from __future__ import annotations

import math
import random
from dataclasses import asdict, dataclass

import torch

from p3mask.evaluate.gallery import Gallery
from p3mask.evaluate.metrics import cosine_matrix
from p3mask.evaluate.scoring import ProbeSet

# case -> (what the query is, what the user's database entries are)
CASES = {"1a": ("clean", "protected"), "1b": ("clean", "clean"), "2a": ("protected", "protected"),
         "2b": ("protected", "clean")}
COSINES = ("protected_protected", "clean_clean", "protected_clean", "clean_other_people")
MIN_TEST_PHOTOS = 2  # one query and one database entry


@dataclass(frozen=True)
class RetrievalResult:
    """The four cases for one recogniser, pooled over users.

    Attributes:
        top1: case (``"1a"``, ``"1b"``, ``"2a"``, ``"2b"``) -> fraction of queries whose nearest database
            entry is the user's, in [0, 1] (``nan`` with no query).
        precision_at_k: case -> mean over queries of the fraction of the ``k`` nearest entries that are
            the user's, ``k`` = the user's database entries.
        cosine: pair kind (:data:`COSINES`) -> mean cosine over all such pairs, in [-1, 1].
        queries: number of queries (per case; every case has the same queries).
        entries: number of the users' database entries, summed over users.
        users: users scored.
        skipped: labels of the users left out (fewer than :data:`MIN_TEST_PHOTOS` test photos).
    """

    top1: dict[str, float]
    precision_at_k: dict[str, float]
    cosine: dict[str, float]
    queries: int
    entries: int
    users: int
    skipped: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        """Plain dict for a JSON report."""
        return {**asdict(self), "skipped": list(self.skipped)}


def split_queries(n: int, seed: int, key: object = "") -> tuple[list[int], list[int]]:
    """Seeded split of ``n`` photos into (query indices, database indices), both sorted.

    ``n // 2`` photos are queries and the rest database entries, so both halves are non-empty; ``key``
    (e.g. the user's label) gives every user their own draw under the same seed.

    Raises:
        ValueError: ``n < 2``.
    """
    if n < MIN_TEST_PHOTOS:
        raise ValueError(f"a query/database split needs at least {MIN_TEST_PHOTOS} photos, got {n}")
    order = list(range(n))
    random.Random(f"retrieval:{seed}:{key}").shuffle(order)
    return sorted(order[: n // 2]), sorted(order[n // 2:])


def retrieve(
    queries: torch.Tensor, entries: torch.Tensor, distractors: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Search each query in a database of the user's ``entries`` and the ``distractors``.

    Args:
        queries: ``(Q, D)`` embeddings of the user's query photos.
        entries: ``(E, D)`` embeddings of the user's database photos, ``E >= 1``.
        distractors: ``(G, D)`` embeddings of other people's photos (``G`` may be 0).

    Returns:
        ``(top1, precision)``: ``(Q,)`` bool, the nearest entry is the user's; ``(Q,)`` float, the
        fraction of the ``E`` nearest entries that are the user's. Exact ties are broken in
        :func:`torch.topk`'s order.
    """
    if entries.ndim != 2 or entries.shape[0] == 0:
        raise ValueError(f"entries: expected (E, D) with E >= 1, got {tuple(entries.shape)}")
    scores = cosine_matrix(queries, torch.cat([entries, distractors.to(entries.dtype)]))
    own = scores.topk(entries.shape[0], dim=1).indices < entries.shape[0]  # (Q, E)
    return own[:, 0], own.float().mean(dim=1)


def _pair_sums(a: torch.Tensor, b: torch.Tensor, same_photos: bool) -> tuple[float, int]:
    """Sum and count of cosines of all (a_i, b_j) pairs; with ``same_photos`` (row i of ``a`` and of
    ``b`` are the same photo) the pairs i == j are left out."""
    scores = cosine_matrix(a, b)
    if same_photos:
        scores = scores[~torch.eye(scores.shape[0], dtype=torch.bool)]
    return float(scores.sum()), int(scores.numel())


def _check(clean: torch.Tensor, protected: torch.Tensor, labels: torch.Tensor, distractors: torch.Tensor,
           distractor_labels: torch.Tensor) -> None:
    if clean.ndim != 2 or clean.shape != protected.shape:
        raise ValueError(f"clean and protected: expected the same (P, D), got {tuple(clean.shape)} and "
                         f"{tuple(protected.shape)}")
    if labels.shape != (clean.shape[0],):
        raise ValueError(f"labels: expected ({clean.shape[0]},), got {tuple(labels.shape)}")
    if distractors.ndim != 2 or distractors.shape[1] != clean.shape[1]:
        raise ValueError(f"distractors: expected (G, {clean.shape[1]}), got {tuple(distractors.shape)}")
    if distractor_labels.shape != (distractors.shape[0],):
        raise ValueError(f"distractor_labels: expected ({distractors.shape[0]},), got {tuple(distractor_labels.shape)}")


def retrieval_cases(
    clean: torch.Tensor,
    protected: torch.Tensor,
    labels: torch.Tensor,
    distractors: torch.Tensor,
    distractor_labels: torch.Tensor,
    seed: int = 0,
) -> RetrievalResult:
    """The four retrieval cases and the four mean cosines for one recogniser.

    Args:
        clean: ``(P, D)`` embeddings of the users' clean test photos.
        protected: ``(P, D)`` embeddings of the same photos protected (row ``i`` is photo ``i``).
        labels: ``(P,)`` identity label of each photo's user.
        distractors: ``(G, D)`` clean embeddings of the database's other photos; for each user, the
            rows carrying that user's label are dropped, so a whole gallery can be passed.
        distractor_labels: ``(G,)`` identity label of each distractor row.
        seed: draws each user's query/database split (:func:`split_queries`).

    Returns:
        :class:`RetrievalResult`.
    """
    _check(clean, protected, labels, distractors, distractor_labels)
    hits = {case: [] for case in CASES}
    precision = {case: [] for case in CASES}
    sums = {kind: [0.0, 0] for kind in COSINES}
    entries, users, skipped = 0, 0, []
    for label in dict.fromkeys(labels.tolist()):  # users in order of first appearance
        rows = (labels == label).nonzero().flatten()
        if rows.numel() < MIN_TEST_PHOTOS:
            skipped.append(int(label))
            continue
        photos = {"clean": clean[rows], "protected": protected[rows]}
        others = distractors[distractor_labels != label]
        query, entry = (torch.tensor(ix, dtype=torch.long) for ix in split_queries(rows.numel(), seed, label))
        for case, (q_side, e_side) in CASES.items():
            top1, prec = retrieve(photos[q_side][query], photos[e_side][entry], others)
            hits[case].append(top1)
            precision[case].append(prec)
        pairs = {"protected_protected": (photos["protected"], photos["protected"], True),
                 "clean_clean": (photos["clean"], photos["clean"], True),
                 "protected_clean": (photos["protected"], photos["clean"], True),
                 "clean_other_people": (photos["clean"], others, False)}
        for kind, (a, b, same) in pairs.items():
            total, count = _pair_sums(a, b, same)
            sums[kind][0] += total
            sums[kind][1] += count
        entries += entry.numel()
        users += 1
    mean = lambda parts: float(torch.cat(parts).float().mean()) if parts else math.nan  # noqa: E731
    return RetrievalResult(
        top1={case: mean(hits[case]) for case in CASES},
        precision_at_k={case: mean(precision[case]) for case in CASES},
        cosine={kind: total / count if count else math.nan for kind, (total, count) in sums.items()},
        queries=sum(h.numel() for h in hits["1a"]), entries=entries, users=users, skipped=tuple(skipped),
    )


def retrieval_block(clean: ProbeSet, protected: ProbeSet, gallery: Gallery, seed: int) -> dict[str, dict]:
    """The report's ``retrieval`` block: per model, :meth:`RetrievalResult.as_dict` with the skipped
    users named, the distractors being every gallery photo of every other identity.

    Args:
        clean: the users' clean test photos.
        protected: the same photos protected, in the same order.
        gallery: the clean gallery (its photos of the user are never in the user's database).
        seed: draws the query/database splits.
    """
    if not torch.equal(clean.ids, protected.ids):
        raise ValueError("clean and protected probe sets must hold the same photos in the same order")
    out = {}
    for name, emb in protected.embeddings.items():
        result = retrieval_cases(clean.embeddings[name], emb, protected.labels, gallery.embeddings[name],
                                 gallery.labels, seed).as_dict()
        result["skipped"] = [gallery.identities[label] for label in result["skipped"]]
        out[name] = result
    return out
