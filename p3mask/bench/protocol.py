"""Verification-protocol maths: 10-fold accuracy (LFW View 2) and the threshold at a target FAR."""

from __future__ import annotations

import numpy as np


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """Threshold on similarity scores that maximises accuracy of ``score >= t`` predicting ``same``.

    Candidates are the midpoints between consecutive distinct scores (plus both ends), so the choice does
    not depend on a grid.

    Args:
        scores: (N,) similarity scores (higher = more alike).
        same: (N,) booleans, True for matched pairs.
    """
    values = np.unique(scores)
    candidates = np.concatenate([[values[0] - 1e-6], (values[:-1] + values[1:]) / 2, [values[-1] + 1e-6]])
    predictions = scores[None, :] >= candidates[:, None]
    accuracy = (predictions == same[None, :]).mean(axis=1)
    return float(candidates[int(np.argmax(accuracy))])


def ten_fold_accuracy(scores: np.ndarray, same: np.ndarray, folds: np.ndarray) -> tuple[float, float, list[float]]:
    """Standard LFW View 2 protocol: for each fold the threshold is chosen on the other folds.

    Args:
        scores: (N,) similarity scores.
        same: (N,) booleans.
        folds: (N,) fold index of each pair.

    Returns:
        (mean accuracy, standard deviation over folds, per-fold thresholds). Folds with no pairs are skipped.
    """
    scores, same, folds = np.asarray(scores, float), np.asarray(same, bool), np.asarray(folds, int)
    if not (scores.shape == same.shape == folds.shape) or scores.ndim != 1:
        raise ValueError(f"scores, same and folds must be 1-D of equal length, got {scores.shape}, {same.shape}, "
                         f"{folds.shape}")
    accuracies, thresholds = [], []
    for fold in np.unique(folds):
        test = folds == fold
        if test.all():  # a single fold: nothing to choose the threshold on
            raise ValueError("need pairs from at least two folds")
        threshold = best_threshold(scores[~test], same[~test])
        accuracies.append(float(((scores[test] >= threshold) == same[test]).mean()))
        thresholds.append(threshold)
    return float(np.mean(accuracies)), float(np.std(accuracies)), thresholds


def threshold_at_far(scores: np.ndarray, same: np.ndarray, far: float = 1e-3) -> float:
    """Smallest threshold ``t`` such that the fraction of impostor pairs with ``score > t`` is at most ``far``.

    With ``k = floor(far * n_impostors)`` impostor scores allowed above it, ``t`` is the (k+1)-th largest
    impostor score: at most ``k`` impostors score strictly higher.
    """
    impostors = np.sort(np.asarray(scores, float)[~np.asarray(same, bool)])[::-1]
    if impostors.size == 0:
        raise ValueError("no impostor pairs: the FAR threshold is undefined")
    if not 0.0 <= far < 1.0:
        raise ValueError(f"far must be in [0, 1), got {far}")
    allowed = int(np.floor(far * impostors.size))
    return float(impostors[min(allowed, impostors.size - 1)])
