"""Protection success rates (PSR) from embeddings: identification against a gallery, and verification.

Everything here is a pure function of L2-normalised embedding tensors and integer labels, so the
same maths serves every model, dataset and attack.

Identification ranks *identities*, not gallery entries: an identity's score for a probe is its best
cosine over that identity's gallery entries, and a probe is "hit at k" when its true identity is among
the ``k`` best-scoring identities (for ``k = 1`` this is the plain nearest neighbour). Gallery entries
made from the probe's own photo (same photo id) are left out for that probe, so that a protected probe
is never compared with its own clean original and a clean probe never finds itself.

A protection succeeds when the recogniser fails, so every PSR is ``1 - hit rate``.

Example:
    >>> import torch
    >>> g = torch.eye(3)                      # three identities, one photo each
    >>> labels = torch.tensor([0, 1, 2])
    >>> probes = torch.tensor([[0.9, 0.1, 0.0], [0.0, 0.2, 0.9]])
    >>> identification_hits(probes, torch.tensor([0, 1]), g, labels, k=1).tolist()
    [True, False]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _check_embeddings(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"{name}: expected a float torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2:
        raise ValueError(f"{name}: expected (N, D) embeddings, got {tuple(x.shape)}")


def _check_labels(name: str, labels: torch.Tensor, n: int) -> None:
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name}: expected an integer torch.Tensor, got {getattr(labels, 'dtype', type(labels))}")
    if labels.shape != (n,):
        raise ValueError(f"{name}: expected ({n},), got {tuple(labels.shape)}")
    if n and int(labels.min()) < 0:
        raise ValueError(f"{name}: labels must be >= 0, got {int(labels.min())}")


def cosine_matrix(probes: torch.Tensor, gallery: torch.Tensor) -> torch.Tensor:
    """Cosine similarities of every probe with every gallery entry.

    Args:
        probes: ``(P, D)`` embeddings (normalised here).
        gallery: ``(G, D)`` embeddings (normalised here).

    Returns:
        ``(P, G)`` cosines in [-1, 1].
    """
    _check_embeddings("probes", probes)
    _check_embeddings("gallery", gallery)
    if probes.shape[1] != gallery.shape[1]:
        raise ValueError(f"probes and gallery must share D, got {probes.shape[1]} and {gallery.shape[1]}")
    return F.normalize(probes.float(), dim=1) @ F.normalize(gallery.float(), dim=1).T


def identity_scores(
    scores: torch.Tensor,
    gallery_labels: torch.Tensor,
    num_identities: int | None = None,
    excluded: torch.Tensor | None = None,
) -> torch.Tensor:
    """Best score per identity: max over each identity's gallery entries.

    Args:
        scores: ``(P, G)`` probe-to-entry similarities.
        gallery_labels: ``(G,)`` identity of each entry, in ``[0, num_identities)``.
        num_identities: number of identities K (default ``max(label) + 1``).
        excluded: optional ``(P, G)`` booleans, True where an entry must be ignored for a probe.

    Returns:
        ``(P, K)`` scores; ``-inf`` for identities with no (remaining) entry.
    """
    p, g = scores.shape
    _check_labels("gallery_labels", gallery_labels, g)
    k = int(num_identities if num_identities is not None else (int(gallery_labels.max()) + 1 if g else 0))
    if g and int(gallery_labels.max()) >= k:
        raise ValueError(f"gallery_labels must be < num_identities={k}, got {int(gallery_labels.max())}")
    if excluded is not None:
        if excluded.shape != scores.shape:
            raise ValueError(f"excluded: expected {tuple(scores.shape)}, got {tuple(excluded.shape)}")
        scores = scores.masked_fill(excluded, float("-inf"))
    out = scores.new_full((p, k), float("-inf"))
    index = gallery_labels.to(scores.device, torch.long).expand(p, g)
    return out.scatter_reduce(1, index, scores, reduce="amax", include_self=True)


def _exclusion(probe_ids: torch.Tensor | None, gallery_ids: torch.Tensor | None, p: int, g: int) -> torch.Tensor | None:
    """``(P, G)`` mask of entries that share a photo id with the probe (``-1`` never matches)."""
    if probe_ids is None and gallery_ids is None:
        return None
    if probe_ids is None or gallery_ids is None:
        raise ValueError("give both probe_ids and gallery_ids, or neither")
    _check_labels_any("probe_ids", probe_ids, p)
    _check_labels_any("gallery_ids", gallery_ids, g)
    same = probe_ids[:, None] == gallery_ids[None, :]
    return same & (probe_ids[:, None] >= 0)


def _check_labels_any(name: str, ids: torch.Tensor, n: int) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dtype not in (torch.int32, torch.int64):
        raise TypeError(f"{name}: expected an integer torch.Tensor, got {getattr(ids, 'dtype', type(ids))}")
    if ids.shape != (n,):
        raise ValueError(f"{name}: expected ({n},), got {tuple(ids.shape)}")


def identification_hits(
    probes: torch.Tensor,
    probe_labels: torch.Tensor,
    gallery: torch.Tensor,
    gallery_labels: torch.Tensor,
    k: int = 1,
    probe_ids: torch.Tensor | None = None,
    gallery_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Whether each probe's true identity is among its ``k`` best-scoring gallery identities.

    Args:
        probes: ``(P, D)`` probe embeddings.
        probe_labels: ``(P,)`` true identity of each probe.
        gallery: ``(G, D)`` gallery embeddings.
        gallery_labels: ``(G,)`` identity of each entry.
        k: rank cut-off (default 1).
        probe_ids: optional ``(P,)`` photo id of each probe (``-1``: none).
        gallery_ids: optional ``(G,)`` photo id of each entry; an entry with its probe's photo id is
            left out for that probe.

    Returns:
        ``(P,)`` booleans. Exact ties are broken in :func:`torch.topk`'s order; an identity whose
        entries were all excluded can never be hit.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}")
    scores = cosine_matrix(probes, gallery)
    p, g = scores.shape
    _check_labels("probe_labels", probe_labels, p)
    num = max(int(gallery_labels.max()) + 1 if g else 0, int(probe_labels.max()) + 1 if p else 0)
    per_identity = identity_scores(scores, gallery_labels, num, _exclusion(probe_ids, gallery_ids, p, g))
    if p == 0:
        return torch.zeros(0, dtype=torch.bool)
    top = per_identity.topk(min(k, num), dim=1).indices  # (P, k)
    true = probe_labels.to(top.device, torch.long)[:, None]
    finite = per_identity.gather(1, true).isfinite().squeeze(1)
    return (top == true).any(dim=1) & finite


def verification_below(
    protected: torch.Tensor,
    clean: torch.Tensor,
    threshold: float,
    protected_ids: torch.Tensor | None = None,
    clean_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """For every (protected, clean) pair of one user, whether its cosine falls below ``threshold``.

    Args:
        protected: ``(P, D)`` embeddings of the user's protected photos.
        clean: ``(C, D)`` embeddings of the user's clean photos.
        threshold: the model's match threshold (cosine at FAR = 1e-3).
        protected_ids: optional ``(P,)`` photo ids; pairs of a photo with its own original are dropped.
        clean_ids: optional ``(C,)`` photo ids.

    Returns:
        ``(n_pairs,)`` booleans, True where the pair is rejected (protection succeeded).
    """
    scores = cosine_matrix(protected, clean)
    excluded = _exclusion(protected_ids, clean_ids, *scores.shape)
    kept = scores if excluded is None else scores[~excluded]
    return kept.flatten() < float(threshold)


def success_rate(failures_of_recogniser: torch.Tensor) -> float:
    """Mean of a boolean vector of protection successes; ``nan`` when it is empty."""
    if failures_of_recogniser.numel() == 0:
        return float("nan")
    return float(failures_of_recogniser.float().mean())


def psr_from_hits(hits: torch.Tensor) -> float:
    """Protection success rate ``1 - mean(hits)``; ``nan`` when there are no probes."""
    return success_rate(~hits.bool())


def rate_matching_threshold(scores: torch.Tensor, accept_rate: float) -> float:
    """Threshold ``t`` under which ``scores >= t`` accepts (about) ``accept_rate`` of them.

    This is how an adversary re-thresholds a recogniser on protected photos: given genuine
    (protected, clean) scores of users it can label, it picks the threshold at which they are
    accepted as often as clean genuine pairs are at the original threshold.

    Args:
        scores: ``(N,)`` genuine-pair cosines, ``N >= 1``.
        accept_rate: target acceptance in [0, 1].

    Returns:
        The ``ceil(accept_rate * N)``-th largest score (``+inf`` for a rate of 0).
    """
    if scores.ndim != 1 or scores.numel() == 0:
        raise ValueError(f"scores: expected a non-empty (N,) tensor, got {tuple(scores.shape)}")
    if not 0.0 <= accept_rate <= 1.0:
        raise ValueError(f"accept_rate must be in [0, 1], got {accept_rate}")
    n_accept = int(torch.ceil(torch.tensor(accept_rate * scores.numel() - 1e-9)))
    if n_accept == 0:
        return float("inf")
    return float(scores.sort(descending=True).values[n_accept - 1])
