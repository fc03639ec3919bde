"""Strengths held at the quality floor while learning, and the implicit gradient through them."""

import pytest
import torch

from p3mask.protect.strength import WEAKEST, FloorStrengths


def _quality(x: torch.Tensor) -> torch.Tensor:
    """A toy differentiable measure: 100 - 1000 * MSE from black, ``(B,)`` for ``(B, C, H, W)``."""
    return 100.0 - 1000.0 * x.square().flatten(1).mean(1)


def test_strength_settles_where_quality_meets_the_target():
    g = torch.Generator().manual_seed(0)
    change = torch.rand(1, 3, 6, 6, generator=g) * 0.3
    strengths = FloorStrengths(2, target=90.0)
    for _ in range(6):
        _, quality = strengths.scaled(1, torch.zeros(1, 3, 6, 6), change, _quality)
    # 100 - 1000 * s^2 * mean(change^2) = 90
    expected = (10.0 / (1000.0 * float(change.square().mean()))) ** 0.5
    assert float(strengths.values[1]) == pytest.approx(expected, rel=1e-3)
    assert quality == pytest.approx(90.0, abs=0.05)
    assert float(strengths.values[0]) == 1.0  # a photo not visited keeps full strength


def test_weak_change_keeps_full_strength_and_plain_gradient():
    change = torch.full((1, 1, 4, 4), 0.01, requires_grad=True)  # quality 99.9 at full strength
    strengths = FloorStrengths(1, target=90.0)
    protected, quality = strengths.scaled(0, torch.zeros(1, 1, 4, 4), change, _quality)
    assert float(strengths.values[0]) == 1.0 and quality > 99.0
    (grad,) = torch.autograd.grad(protected.sum(), change)
    assert torch.allclose(grad, torch.ones_like(grad))  # d(region + 1 * change)/d(change)


def test_gradient_follows_the_constraint():
    """At the held strength, the gradient is that of the loss with s(change) solving Q = target
    (up to the finite-difference slope), not the plain gradient at a fixed strength."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, 5, 5, generator=g) * 0.3
    weights = 4.0 * base + 0.5 * torch.randn(1, 3, 5, 5, generator=g)  # a loss that grows with the change
    strengths = FloorStrengths(1, target=90.0)
    for _ in range(6):
        strengths.scaled(0, torch.zeros_like(base), base, _quality)
    change = base.clone().requires_grad_(True)
    protected, _ = strengths.scaled(0, torch.zeros_like(base), change, _quality)
    (held,) = torch.autograd.grad((weights * protected).sum(), change)

    exact = base.clone().requires_grad_(True)
    s = (10.0 / (1000.0 * exact.square().mean())).sqrt()  # the strength meeting the target, exactly
    (implicit,) = torch.autograd.grad((weights * s * exact).sum(), exact)
    fixed = float(s.detach()) * weights  # the gradient if the strength did not move

    cos = torch.nn.functional.cosine_similarity(held.flatten(), implicit.flatten(), dim=0)
    assert float(cos) > 0.999
    assert float(held.norm() / implicit.norm()) == pytest.approx(1.0, abs=0.05)
    assert float(torch.nn.functional.cosine_similarity(held.flatten(), fixed.flatten(), dim=0)) < 0.99


def test_strength_never_below_the_weakest():
    change = torch.ones(1, 1, 3, 3)  # quality far below any target at any sensible strength
    strengths = FloorStrengths(1, target=99.99)
    for _ in range(10):
        strengths.scaled(0, torch.zeros(1, 1, 3, 3), change, _quality)
    assert float(strengths.values[0]) == pytest.approx(WEAKEST)
