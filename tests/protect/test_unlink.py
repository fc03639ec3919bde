"""The unlinkability loss on small seeded tensors, and the optimiser with it switched on (toy recognisers)."""

import math

import pytest
import torch
import torch.nn.functional as F
from learning_toys import TOY_FRAME_TEMPLATE, toy_models, toy_training_set

from p3mask.protect.config import get_config
from p3mask.protect.optimizer import MaskOptimizer
from p3mask.protect.unlink import RIDGE, UnlinkabilityLoss, unlinkability_loss


def _pair(cos: float) -> torch.Tensor:
    """Two 3-D vectors of different lengths whose cosine is ``cos``."""
    return torch.tensor([[2.0, 0.0, 0.0], [0.5 * cos, 0.5 * math.sqrt(1 - cos**2), 0.0]], dtype=torch.float64)


def test_closed_form_for_two_embeddings():
    for cos in (0.0, 0.5, -0.5, 0.9):
        expected = -math.log((1 + RIDGE) ** 2 - cos**2) / 2  # det [[1+r, c], [c, 1+r]]
        assert float(unlinkability_loss(_pair(cos))) == pytest.approx(expected, rel=1e-9), cos
    # Split between the batch and the held embeddings: the same value.
    pair = _pair(0.5)
    assert float(unlinkability_loss(pair[:1], pair[1:])) == pytest.approx(float(unlinkability_loss(pair)), rel=1e-12)


def test_orthonormal_is_the_minimum_and_a_cluster_is_large():
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(8, 5, generator=g, dtype=torch.float64))[0].T  # 5 orthonormal rows
    assert float(unlinkability_loss(3.0 * basis)) == pytest.approx(-math.log(1 + RIDGE), rel=1e-9)
    centre = torch.randn(1, 8, generator=g, dtype=torch.float64)
    cluster = centre + 0.01 * torch.randn(5, 8, generator=g, dtype=torch.float64)
    spread = centre + 1.0 * torch.randn(5, 8, generator=g, dtype=torch.float64)
    assert float(unlinkability_loss(cluster)) > float(unlinkability_loss(spread)) + 1.0
    assert float(unlinkability_loss(spread)) > float(unlinkability_loss(basis))


def test_gradient_spreads_the_batch_and_leaves_held_embeddings_alone():
    g = torch.Generator().manual_seed(1)
    centre = torch.randn(1, 16, generator=g, dtype=torch.float64)
    batch = (centre + 0.2 * torch.randn(2, 16, generator=g, dtype=torch.float64)).requires_grad_(True)
    held = (centre + 0.2 * torch.randn(4, 16, generator=g, dtype=torch.float64)).requires_grad_(True)

    def mean_cos(x, y):
        return float((F.normalize(x, dim=1) @ F.normalize(y, dim=1).T).mean())

    before = mean_cos(batch.detach(), held.detach())
    loss = unlinkability_loss(batch, held)
    loss.backward()
    assert held.grad is None  # held embeddings are constants
    moved = batch.detach() - 0.5 * batch.grad
    assert mean_cos(moved, held.detach()) < before - 0.01
    assert float(unlinkability_loss(moved, held.detach())) < float(loss.detach())


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(2)
    batch = torch.randn(2, 6, generator=g, dtype=torch.float64, requires_grad=True)
    held = torch.randn(3, 6, generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda b: unlinkability_loss(b, held), (batch,))


def test_module_and_bad_input():
    x = _pair(0.3)
    assert float(UnlinkabilityLoss(ridge=0.1)(x)) == pytest.approx(-math.log(1.1**2 - 0.09) / 2, rel=1e-9)
    with pytest.raises(ValueError, match="B >= 1"):
        unlinkability_loss(torch.zeros(0, 3))
    with pytest.raises(ValueError, match=r"\(M, 3\)"):
        unlinkability_loss(torch.ones(2, 3), torch.ones(2, 4))
    with pytest.raises(ValueError, match="ridge"):
        unlinkability_loss(torch.ones(2, 3), ridge=0.0)
    with pytest.raises(ValueError, match="unlink_weight"):
        get_config("mid", unlink_weight=-1.0)
    assert get_config("mid").unlink_weight == 0.0  # off by default


def _fit(unlink_weight: float, seed: int = 0):
    config = get_config("mid", team=("a", "b"), frame_size=(40, 40), frame_template=TOY_FRAME_TEMPLATE, epochs=4,
                        batch_size=2, feather=3.0, match_model="a", quality_floor=1.0, unlink_weight=unlink_weight)
    return MaskOptimizer(toy_models(), {}, config, seed=seed, progress=False).fit(toy_training_set())


def test_optimiser_with_the_term_keeps_its_bounds_and_is_seeded():
    a, b, off = _fit(2.0), _fit(2.0), _fit(0.0)
    assert torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, off.mask)  # the term changes the mask
    assert float(a.mask.abs().max()) <= get_config("mid").rgb_bound + 1e-7
    assert len(a.history) == 4 and all(math.isfinite(h.loss) for h in a.history)
