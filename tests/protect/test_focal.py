"""Focal diversity on hand-made failure matrices with answers worked out by hand."""

import pytest
import torch

from p3mask.protect.focal import (
    failure_matrix,
    focal_diversity,
    generalized_diversity,
    select_team,
    team_focal_diversity,
)


def test_generalized_diversity_extremes():
    # Always failing together: GD = 0. Never two failing on one sample: GD = 1.
    together = torch.tensor([[1, 1, 1], [0, 0, 0], [1, 1, 1]])
    apart = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0]])
    assert generalized_diversity(together) == pytest.approx(0.0)
    assert generalized_diversity(apart) == pytest.approx(1.0)
    assert generalized_diversity(torch.zeros(4, 2)) == 1.0


def test_generalized_diversity_by_hand():
    # S = 3; samples fail counts j = 1, 2, 3, 0 -> p(1) = (1/3 + 2/3 + 1) / 4 = 0.5,
    # p(2) = (0 + 2/6 + 6/6) / 4 = 1/3, GD = 1 - (1/3) / 0.5 = 1/3.
    fails = torch.tensor([[1, 0, 0], [1, 1, 0], [1, 1, 1], [0, 0, 0]])
    assert generalized_diversity(fails) == pytest.approx(1 / 3)


def test_focal_diversity_by_hand():
    fails = torch.tensor([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=torch.bool)
    # Focal 0 fails on samples 0 and 2: counts 1, 2 -> p(1) = 0.75, p(2) = 0.5 -> 1/3. Same for focal 1.
    assert focal_diversity(fails, 0) == pytest.approx(1 / 3)
    assert focal_diversity(fails, 1) == pytest.approx(1 / 3)
    assert team_focal_diversity(fails) == pytest.approx(1 / 3)


def test_focal_member_without_failures_is_left_out():
    fails = torch.tensor([[1, 0, 0], [1, 1, 0], [0, 1, 0]])
    assert focal_diversity(fails, 2) is None
    # focal 0: rows 0,1 (j = 1, 2): p1 = (1/3 + 2/3)/2 = 0.5, p2 = (0 + 2/6)/2 = 1/6 -> 2/3; focal 1 alike.
    assert team_focal_diversity(fails) == pytest.approx(2 / 3)
    assert team_focal_diversity(torch.zeros(3, 3)) == 1.0


def test_select_team_prefers_complementary_members():
    # a and b fail on the same photos (no diversity); c fails elsewhere.
    failures = {
        "a": torch.tensor([1, 1, 0, 0, 1], dtype=torch.bool),
        "b": torch.tensor([1, 1, 0, 0, 1], dtype=torch.bool),
        "c": torch.tensor([0, 0, 1, 1, 0], dtype=torch.bool),
        "dlib": torch.tensor([0, 0, 0, 0, 0], dtype=torch.bool),
    }
    choice = select_team(failures, team_size=2)
    assert choice.team == ("a", "c")  # ("b", "c") ties; ("a", "c") comes first in pool order
    assert choice.scores[("a", "b")] == pytest.approx(0.0)
    assert choice.score == pytest.approx(1.0)
    assert all("dlib" not in team for team in choice.scores)
    assert select_team(failures, team_size=2, current=("b", "c")).team == ("b", "c")  # ties keep the current team


def test_select_team_checks_sizes():
    failures = {"a": torch.ones(3, dtype=torch.bool), "b": torch.ones(3, dtype=torch.bool)}
    with pytest.raises(ValueError):
        select_team(failures, team_size=3)
    with pytest.raises(ValueError):
        select_team({"a": torch.ones(3), "b": torch.ones(2)}, team_size=2)


def test_failure_matrix_uses_each_threshold():
    cos = {"a": torch.tensor([0.5, 0.2]), "b": torch.tensor([0.5, 0.2])}
    out = failure_matrix(cos, {"a": 0.4, "b": 0.6})
    assert out["a"].tolist() == [True, False]
    assert out["b"].tolist() == [False, False]
