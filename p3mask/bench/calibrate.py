"""Match thresholds at FAR = 1e-3 (and the looser doubt thresholds at FAR = 1e-2) from LFW impostor
pairs among many identities.

One photo each of ``n`` distinct LFW identities yields ``n (n - 1) / 2`` impostor pairs (79,800 for
n = 400), a far finer estimate of the 1e-3 tail than the 3,000 impostor pairs of View 2, at a fraction
of the cost of embedding all 7,554 View 2 photos.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from p3mask.bench.protocol import threshold_at_far
from p3mask.bench.verify import embed_photos
from p3mask.datasets.lfw import load_lfw
from p3mask.models import load_models
from p3mask.models.thresholds import DOUBT_FAR, MATCH_FAR, far_key


def pair_cosines(embeddings: torch.Tensor) -> np.ndarray:
    """Cosine of every unordered pair of rows of ``embeddings`` (N, D), as an (N (N-1) / 2,) array (with one
    photo per identity, as the calibration draws them, every pair is an impostor pair)."""
    sims = embeddings @ embeddings.T
    i, j = torch.triu_indices(len(embeddings), len(embeddings), offset=1)
    return sims[i, j].numpy()


def run_calibrate(
    root=None, identities: int = 400, model_names: list[str] | None = None,
    fars: tuple[float, ...] = (MATCH_FAR, DOUBT_FAR), seed: int = 0, progress: bool = True,
    device: str | torch.device = "cpu",
) -> dict[str, dict[str, float]]:
    """Thresholds at each of ``fars`` per model, from one photo each of ``identities`` LFW people (seeded draw).

    Every FAR is read off the same impostor pairs, so the thresholds of one model are ordered.

    Returns:
        model name -> {``far_key(far)`` for each far (e.g. "threshold_far1e-3"), "impostor_pairs", "identities"}.
    """
    lfw = load_lfw(root)
    rng = random.Random(seed)
    names = rng.sample(sorted(lfw.identities), identities)
    paths = [rng.choice(lfw.identities[name]) for name in names]
    embeddings, _, _ = embed_photos(paths, load_models(model_names, device), progress=progress, device=device)
    results = {}
    for name, emb in embeddings.items():
        scores = pair_cosines(emb)
        impostor = np.zeros(scores.size, bool)
        results[name] = {
            **{far_key(far): threshold_at_far(scores, impostor, far) for far in fars},
            "impostor_pairs": int(scores.size),
            "identities": identities,
        }
    return results
