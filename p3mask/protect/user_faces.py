"""Choose the user's face in each of the user's photos by majority identity.

A user's photo folder may hold photos with other people in them. The user is the identity present in
the most photos: for every detected face we count the other photos that hold a face matching it
(cosine >= the match threshold), take the best supported face as the seed, average it with its best
match in each photo to get a reference, and finally pick in every photo the face closest to that
reference, if it matches at all.

Example:
    >>> import torch
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> user, other = torch.nn.functional.normalize(torch.randn(2, 8), dim=1)
    >>> faces = [torch.stack([other, user]), user[None], torch.stack([user, other])]
    >>> choose_user_faces(faces, threshold=0.5).indices
    [1, 0, 0]
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserFaces:
    """Result of :func:`choose_user_faces`.

    Attributes:
        indices: per photo, the index of the user's face among its detections, or ``None``.
        cosines: per photo, the cosine of the chosen face to ``reference`` (``nan`` when none).
        reference: ``(D,)`` L2-normalised mean embedding of the chosen faces.
    """

    indices: list[int | None]
    cosines: list[float]
    reference: torch.Tensor


def _check(embeddings: Sequence[torch.Tensor]) -> int:
    dims = {e.shape[1] for e in embeddings if e.ndim == 2 and e.shape[0] > 0}
    if any(e.ndim != 2 for e in embeddings) or len(dims) > 1:
        raise ValueError("expected one (K_i, D) embedding matrix per photo with a common D")
    if not dims:
        raise ValueError("no face in any photo")
    return dims.pop()


def _seed(embs: list[torch.Tensor], threshold: float) -> torch.Tensor:
    """The face with the most photos (other than its own) holding a matching face.

    When a face of another person (one that does not match the chosen face) has as much support, the
    choice is a tie broken by order: that is logged as a warning, since the key may then be learned
    for the wrong person.
    """
    best, best_support, supports = None, -1, []
    for i, faces in enumerate(embs):
        for face in faces:  # detections come largest first: earlier wins ties
            support = sum(
                1 for j, other in enumerate(embs)
                if j != i and other.shape[0] > 0 and float((other @ face).max()) >= threshold
            )
            supports.append((face, support))
            if support > best_support:
                best, best_support = face, support
    rivals = [f for f, n in supports if n == best_support and float(f @ best) < threshold]
    if rivals:
        logger.warning("another person appears in as many photos as the chosen user (%d each): the user was "
                       "chosen by photo order; give photos in which the user is the one person seen most",
                       best_support + 1)
    return best


def _closest(embs: list[torch.Tensor], target: torch.Tensor, threshold: float) -> tuple[list[int | None], list[float]]:
    indices: list[int | None] = []
    cosines: list[float] = []
    for faces in embs:
        if faces.shape[0] == 0:
            indices.append(None)
            cosines.append(float("nan"))
            continue
        cos = faces @ target
        k = int(cos.argmax())
        indices.append(k if float(cos[k]) >= threshold else None)
        cosines.append(float(cos[k]) if float(cos[k]) >= threshold else float("nan"))
    return indices, cosines


def choose_user_faces(embeddings: Sequence[torch.Tensor], threshold: float) -> UserFaces:
    """Pick the user's face in each photo.

    Args:
        embeddings: per photo, ``(K_i, D)`` embeddings of its detected faces (``K_i`` may be 0),
            largest face first; normalised here.
        threshold: match threshold of the embedding model (cosine).

    Returns:
        :class:`UserFaces`; photos without a face matching the user get ``None``.

    Raises:
        ValueError: no face in any photo, or inconsistent shapes.
    """
    _check(embeddings)
    embs = [F.normalize(e.detach().float().cpu(), dim=1) for e in embeddings]
    seed = _seed(embs, threshold)
    indices, _ = _closest(embs, seed, threshold)
    chosen = [embs[i][k] for i, k in enumerate(indices) if k is not None]
    reference = F.normalize(torch.stack(chosen).mean(dim=0), dim=0)
    indices, cosines = _closest(embs, reference, threshold)
    found = sum(k is not None for k in indices)
    if found == 0:  # the averaged reference drifted off every face: fall back to the seed
        indices, cosines = _closest(embs, seed, threshold)
        reference = seed
    elif found < (len(embs) + 1) // 2:
        logger.warning("the user's face was found in only %d of %d photos", found, len(embs))
    return UserFaces(indices=indices, cosines=cosines, reference=reference)
