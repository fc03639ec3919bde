"""Which faces of a photo to protect, and why: the user's sure matches, fail-safe doubt, or a flag.

A user who hands a photo to ``p3mask protect`` means to protect themselves in it. Leaving the user's
face bare because the match model was unsure costs far more than masking a stranger's face with the
user's mask (a barely visible change), so by default the choice **fails safe**:

1. faces whose cosine to the key's reference reaches the match threshold (FAR = 1e-3) are the
   user's (reason ``"match"``), and only they are protected;
2. when none does and the photo holds **one** face, that face is protected (``"doubt"``);
3. when none does and the photo holds **several**, only faces *plausibly* the user count: those at or
   above the looser doubt threshold (FAR = 1e-2). If the closest of them is clearly closer than every
   other face (by at least ``margin``), it alone is protected; otherwise each plausible face is
   (``"doubt"``). A photo with no plausible face is left (every face a ``"stranger"``): a gap between
   two strangers' cosines says nothing about the user being there.

``strict`` keeps step 1 only. ``all``, ``largest`` and ``index`` protect the faces the user named
(reason ``"flag"``, or ``"match"`` for a named face that is a sure match); the others are left.

The margin: when two or more faces are plausible, both cosines lie in the doubt band
``[doubt, match)``. The default margin is half that band's width: for the closest face to be taken
alone, the runner-up must sit at least half a band below it, so a stranger can only win over the
user's face by scoring above the band's middle, a score strangers reach about three times less often
than the doubt threshold itself (measured: docs/notes/failsafe.md). A smaller gap is treated as a tie
and every plausible face is protected, because leaving the user bare is the worse mistake.

Example:
    >>> import torch
    >>> choice = choose_faces(torch.tensor([0.31]), match_threshold=0.46, doubt_threshold=0.36)
    >>> choice.protect, choice.reasons
    ((True,), ('doubt',))
    >>> choose_faces(torch.tensor([0.1, 0.2]), 0.46, 0.36).reasons
    ('stranger', 'stranger')
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

MODES = ("failsafe", "strict", "all", "largest", "index")
REASONS = ("match", "doubt", "flag", "stranger")


@dataclass(frozen=True)
class FacePolicy:
    """How to choose the faces to protect (the CLI's ``--strict-match``, ``--faces``, ``--face``).

    Attributes:
        mode: ``"failsafe"`` (default: sure matches, else the most likely face(s)), ``"strict"``
            (sure matches only), ``"all"`` (every face), ``"largest"`` (the largest face only) or
            ``"index"`` (the faces in ``indices``).
        indices: with ``mode="index"``, the faces to protect, numbered from 0 in the order of
            detection (largest box first) that ``p3mask faces`` prints.
        margin: how much closer to the reference (cosine) the closest plausible face must be than any
            other face to be protected alone; ``None``: half the band between the doubt and the match
            thresholds (see the module docstring).
    """

    mode: str = "failsafe"
    indices: tuple[int, ...] = ()
    margin: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"face choice mode must be one of {', '.join(MODES)}; got {self.mode!r}")
        if (self.mode == "index") != bool(self.indices):
            raise ValueError("face indices are given with mode 'index' and only then")
        if any(not isinstance(i, int) or i < 0 for i in self.indices):
            raise ValueError(f"face indices must be integers >= 0, got {list(self.indices)}")
        if self.margin is not None and not self.margin >= 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")


@dataclass(frozen=True)
class FaceChoice:
    """The faces of one photo to protect and why.

    Attributes:
        protect: per face (in detection order), True when it is to be masked.
        reasons: per face, ``"match"`` (a sure match), ``"doubt"`` (protected by the fail-safe rule),
            ``"flag"`` (named by the user's flag) or ``"stranger"`` (left untouched).
    """

    protect: tuple[bool, ...]
    reasons: tuple[str, ...]

    @property
    def indices(self) -> list[int]:
        """Indices of the faces to protect."""
        return [i for i, p in enumerate(self.protect) if p]


class FaceIndexError(ValueError):
    """A face index named by the user is not in the photo."""


def _closest_or_plausible(cos: torch.Tensor, doubt: float, margin: float) -> list[int]:
    """Fail-safe step 3: the closest plausible face if clearly closer than the rest, else every plausible face."""
    plausible = [i for i in range(len(cos)) if float(cos[i]) >= doubt]
    if not plausible:
        return []
    order = torch.argsort(cos, descending=True, stable=True).tolist()
    best, runner_up = order[0], order[1]
    if float(cos[best]) - float(cos[runner_up]) >= margin:
        return [best]
    return plausible


def choose_faces(
    cosines: torch.Tensor | Sequence[float],
    match_threshold: float,
    doubt_threshold: float,
    policy: FacePolicy | None = None,
) -> FaceChoice:
    """Choose the faces of one photo to protect.

    Args:
        cosines: ``(N,)`` cosine of each detected face (detection order) to the key's reference,
            in [-1, 1]; ``N`` may be 0.
        match_threshold: cosine at or above which a face is the user's (the key's, FAR = 1e-3).
        doubt_threshold: looser cosine at or above which a face is plausibly the user (FAR = 1e-2);
            at most ``match_threshold``.
        policy: the rule (default: :class:`FacePolicy` ``()``, fail-safe).

    Returns:
        A :class:`FaceChoice` with one entry per face.

    Raises:
        ValueError: ``doubt_threshold > match_threshold`` or cosines not 1-D.
        FaceIndexError: ``policy.indices`` names a face the photo does not have.
    """
    policy = policy or FacePolicy()
    cos = torch.as_tensor(cosines, dtype=torch.float64).detach().cpu()
    if cos.ndim != 1:
        raise ValueError(f"expected (N,) cosines, got {tuple(cos.shape)}")
    if doubt_threshold > match_threshold:
        raise ValueError(f"doubt threshold {doubt_threshold:.4f} is above the match threshold {match_threshold:.4f}")
    n = len(cos)
    sure = [float(c) >= match_threshold for c in cos]
    flagged: list[int] = []
    if policy.mode == "all":
        flagged = list(range(n))
    elif policy.mode == "largest":
        flagged = [0] if n else []
    elif policy.mode == "index":
        missing = [i for i in policy.indices if i >= n]
        if missing:
            raise FaceIndexError(f"face {missing[0]} asked for, but the photo has {n} face(s) (numbered 0 to {n - 1})"
                                 if n else f"face {missing[0]} asked for, but the photo has no face")
        flagged = sorted(set(policy.indices))
    if policy.mode in ("all", "largest", "index"):
        chosen = set(flagged)
        reasons = tuple(("match" if sure[i] else "flag") if i in chosen else "stranger" for i in range(n))
        return FaceChoice(tuple(i in chosen for i in range(n)), reasons)
    if any(sure) or policy.mode == "strict" or n == 0:
        return FaceChoice(tuple(sure), tuple("match" if s else "stranger" for s in sure))
    if n == 1:
        doubtful = [0]
    else:
        margin = policy.margin if policy.margin is not None else (match_threshold - doubt_threshold) / 2
        doubtful = _closest_or_plausible(cos, doubt_threshold, margin)
    protect = tuple(i in doubtful for i in range(n))
    return FaceChoice(protect, tuple("doubt" if p else "stranger" for p in protect))
