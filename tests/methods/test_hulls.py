"""Maths of OPOM's feature-subspace distances on small seeded tensors."""

import itertools

import pytest
import torch

from p3mask.methods.hulls import (
    affine_basis,
    affine_hull_distance,
    center_distance,
    convex_hull_distance,
    hull_distance,
    project_simplex,
)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_affine_distance_to_a_plane():
    pts = torch.tensor([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0], [0.0, 3.0, 0.0], [1.0, 1.0, 0.0]])
    z = torch.tensor([[7.0, -4.0, 2.5], [0.3, 0.2, -1.0]])
    torch.testing.assert_close(affine_hull_distance(z, pts), torch.tensor([2.5, 1.0]))


def test_affine_distance_matches_least_squares():
    pts = torch.randn(5, 16, generator=_gen(1), dtype=torch.float64)
    z = torch.randn(3, 16, generator=_gen(2), dtype=torch.float64)
    # Nearest point of the affine hull: a_0 + B c with B = [a_i - a_0], c by least squares.
    basis = (pts[1:] - pts[0]).T
    coef = torch.linalg.lstsq(basis, (z - pts[0]).T).solution
    expected = ((z - pts[0]).T - basis @ coef).norm(dim=0)
    torch.testing.assert_close(affine_hull_distance(z, pts), expected)


def test_affine_basis_is_orthonormal_and_drops_duplicates():
    pts = torch.randn(3, 8, generator=_gen(3), dtype=torch.float64)
    mean, basis = affine_basis(torch.cat([pts, pts]))
    assert basis.shape == (8, 2)
    torch.testing.assert_close(basis.T @ basis, torch.eye(2, dtype=torch.float64))
    torch.testing.assert_close(mean, pts.mean(0))


def test_points_of_the_hull_are_at_distance_zero():
    pts = torch.randn(4, 10, generator=_gen(4), dtype=torch.float64)
    w = torch.tensor([[0.1, 0.2, 0.3, 0.4], [-0.5, 1.0, 0.2, 0.3]], dtype=torch.float64)  # affine weights sum to 1
    inside = w @ pts
    assert float(affine_hull_distance(inside, pts).max()) < 1e-10
    assert float(convex_hull_distance(inside[:1], pts)[0]) < 1e-6  # convex weights: inside the hull


def test_convex_distance_matches_brute_force():
    pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    z = torch.tensor([[2.0, 2.0], [-1.0, 0.5], [0.2, 0.2], [0.5, -3.0]], dtype=torch.float64)
    grid = torch.linspace(0, 1, 401, dtype=torch.float64)
    ws = torch.tensor([[a, b, 1 - a - b] for a, b in itertools.product(grid, grid) if a + b <= 1], dtype=torch.float64)
    hull = ws @ pts
    brute = torch.cdist(z, hull).min(dim=1).values
    torch.testing.assert_close(convex_hull_distance(z, pts), brute, atol=3e-3, rtol=0)


def test_convex_distance_is_at_least_the_affine_one():
    pts = torch.randn(6, 12, generator=_gen(5), dtype=torch.float64)
    z = torch.randn(4, 12, generator=_gen(6), dtype=torch.float64)
    assert bool((convex_hull_distance(z, pts) >= affine_hull_distance(z, pts) - 1e-9).all())
    assert bool((center_distance(z, pts) >= convex_hull_distance(z, pts) - 1e-6).all())


def test_project_simplex():
    v = torch.tensor([[0.5, 0.5, 0.5], [3.0, 0.0, -1.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    p = project_simplex(v)
    expected = torch.tensor([[1 / 3, 1 / 3, 1 / 3], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    torch.testing.assert_close(p, expected)
    rand = project_simplex(torch.randn(50, 7, generator=_gen(7), dtype=torch.float64))
    assert bool((rand >= 0).all())
    torch.testing.assert_close(rand.sum(1), torch.ones(50, dtype=torch.float64))


@pytest.mark.parametrize("hull", ["affine", "convex", "center"])
def test_gradients_match_finite_differences(hull):
    pts = torch.randn(4, 6, generator=_gen(8), dtype=torch.float64)
    z = (torch.randn(2, 6, generator=_gen(9), dtype=torch.float64) * 3).requires_grad_(True)
    (grad,) = torch.autograd.grad(hull_distance(z, pts, hull).sum(), z)
    eps = 1e-6
    numeric = torch.zeros_like(z)
    with torch.no_grad():
        for i, j in itertools.product(range(2), range(6)):
            dz = torch.zeros_like(z)
            dz[i, j] = eps
            numeric[i,
                    j] = (hull_distance(z + dz, pts, hull).sum() - hull_distance(z - dz, pts, hull).sum()) / (2 * eps)
    torch.testing.assert_close(grad, numeric, atol=1e-5, rtol=1e-4)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown hull"):
        hull_distance(torch.zeros(1, 3), torch.zeros(2, 3), "sphere")
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        affine_hull_distance(torch.zeros(3), torch.zeros(2, 3))
    with pytest.raises(TypeError):
        center_distance(torch.zeros(1, 3, dtype=torch.long), torch.zeros(2, 3))
