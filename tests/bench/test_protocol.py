import numpy as np
import pytest

from p3mask.bench.protocol import best_threshold, ten_fold_accuracy, threshold_at_far


def test_best_threshold_separates_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    same = np.array([False, False, False, True, True, True])
    t = best_threshold(scores, same)
    assert 0.3 < t < 0.7


def test_ten_fold_perfect_and_chance():
    rng = np.random.default_rng(0)
    folds = np.repeat(np.arange(10), 20)
    same = np.tile(np.array([True] * 10 + [False] * 10), 10)
    perfect = np.where(same, 0.8, 0.2) + rng.normal(0, 0.01, same.size)
    mean, std, thresholds = ten_fold_accuracy(perfect, same, folds)
    assert mean == 1.0 and std == 0.0 and len(thresholds) == 10
    noise = rng.normal(0, 1, same.size)
    mean, _, _ = ten_fold_accuracy(noise, same, folds)
    assert 0.3 < mean < 0.7


def test_ten_fold_threshold_excludes_test_fold():
    # fold 0 has inverted labels: its own threshold would differ, but it is chosen on folds 1..9
    folds = np.repeat(np.arange(10), 2)
    same = np.tile([True, False], 10)
    scores = np.where(same, 0.9, 0.1)
    scores[:2] = [0.1, 0.9]
    mean, _, _ = ten_fold_accuracy(scores, same, folds)
    assert mean == pytest.approx(0.9)


def test_threshold_at_far_counts_impostors_above():
    scores = np.concatenate([np.linspace(0, 1, 1000), [0.95] * 5])
    same = np.array([False] * 1000 + [True] * 5)
    t = threshold_at_far(scores, same, far=1e-2)
    assert (scores[~same] > t).sum() <= 10
    assert (scores[~same] >= t).sum() == 11


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        ten_fold_accuracy(np.zeros(3), np.zeros(2, bool), np.zeros(3, int))
    with pytest.raises(ValueError):
        threshold_at_far(np.ones(3), np.ones(3, bool))
