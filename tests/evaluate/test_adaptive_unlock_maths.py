"""Adaptive adversaries and key unlocking on synthetic photos with a planted mask (pure maths)."""

import pytest
import torch

from p3mask.evaluate.adaptive import (
    PURIFIERS,
    aligned_stack,
    bit_depth,
    estimate_mask,
    purifier_families,
    subtract_estimate,
)
from p3mask.face.align import estimate_similarity, paste_from_crop
from p3mask.protect.register import mask_correlation, refine_matrices
from p3mask.protect.unlock import remove_mask

FRAME = (64, 64)
TEMPLATE = ((22.0, 26.0), (42.0, 26.0), (32.0, 36.0), (24.0, 47.0), (40.0, 47.0))
EPS = 12 / 255


def _smooth(seed: int, shape=(3, 120, 140)) -> torch.Tensor:
    """A smooth random picture (low frequencies only), in [0.2, 0.8]."""
    g = torch.Generator().manual_seed(seed)
    small = torch.rand(1, shape[0], 6, 7, generator=g)
    big = torch.nn.functional.interpolate(small, size=shape[1:], mode="bicubic", align_corners=False)[0]
    return 0.2 + 0.6 * big.clamp(0, 1)


def _mask(seed: int = 7) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return EPS * torch.sign(torch.randn(3, *FRAME, generator=g))


def _landmarks(dx: float = 0.0, dy: float = 0.0, scale: float = 1.3) -> torch.Tensor:
    t = torch.tensor(TEMPLATE)
    return t * scale + torch.tensor([30.0 + dx, 20.0 + dy])


def _protect(photo: torch.Tensor, landmarks: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    m = estimate_similarity(landmarks[None], torch.tensor(TEMPLATE))
    pasted, weight = paste_from_crop(mask[None], m, photo.shape[-2:])
    return (photo + pasted[0] * weight[0]).clamp(0, 1)


def test_remove_mask_inverts_protection_at_the_same_alignment():
    photo, mask, lm = _smooth(0), _mask(), _landmarks()
    protected = _protect(photo, lm, mask)
    m = estimate_similarity(lm[None], torch.tensor(TEMPLATE))
    restored = remove_mask(protected, m, mask)
    assert (restored - photo).abs().max() < 1e-5
    assert (protected - photo).abs().max() > EPS / 2


def test_registration_recovers_a_misdetected_face():
    photo, mask = _smooth(1), _mask()
    protected = _protect(photo, _landmarks(), mask)
    off = estimate_similarity(_landmarks(dx=1.3, dy=-0.8)[None], torch.tensor(TEMPLATE))
    naive = remove_mask(protected, off, mask)
    refined, corr = refine_matrices(protected, off, mask)
    fixed = remove_mask(protected, refined, mask)
    exact = estimate_similarity(_landmarks()[None], torch.tensor(TEMPLATE))
    best = float(mask_correlation(protected, exact, mask)[0])  # < 1: the paste and re-warp interpolate
    assert float(mask_correlation(protected, off, mask)[0]) < 0.2
    assert float(corr[0]) > 0.97 * best
    assert (fixed - photo).abs().mean() < 0.25 * (naive - photo).abs().mean()


def test_gradient_refinement_alone_recovers_a_sub_pixel_offset():
    photo, mask = _smooth(1), _mask()
    protected = _protect(photo, _landmarks(), mask)
    off = estimate_similarity(_landmarks(dx=0.4, dy=-0.3)[None], torch.tensor(TEMPLATE))
    exact = estimate_similarity(_landmarks()[None], torch.tensor(TEMPLATE))
    before = float(mask_correlation(protected, off, mask)[0])
    best = float(mask_correlation(protected, exact, mask)[0])
    refined, corr = refine_matrices(protected, off, mask, steps=30, search=False)
    assert before < 0.9 * best  # the offset costs correlation...
    assert float(corr[0]) > 0.97 * best  # ...and Adam on the registration parameters wins it back
    assert (refined - exact).abs().max() < (off - exact).abs().max() / 2


def test_unrelated_mask_does_not_correlate():
    photo = _smooth(2)
    protected = _protect(photo, _landmarks(), _mask(7))
    m = estimate_similarity(_landmarks()[None], torch.tensor(TEMPLATE))
    assert float(mask_correlation(protected, m, _mask(8))[0]) < 0.1
    assert float(mask_correlation(protected, m, _mask(7))[0]) > 0.8


def test_mask_estimation_from_many_protected_photos():
    mask = _mask(3)
    photos = [_smooth(10 + i) for i in range(12)]
    population = [_smooth(100 + i) for i in range(12)]
    lms = [_landmarks(dx=float(i % 3), dy=float(i % 2)) for i in range(12)]
    protected = [_protect(p, lm, mask) for p, lm in zip(photos, lms)]
    pop_mean = aligned_stack(population, lms, TEMPLATE, FRAME).mean(0)
    estimate = estimate_mask(aligned_stack(protected, lms, TEMPLATE, FRAME), pop_mean, EPS, detail_only=True)
    assert estimate.shape == mask.shape and float(estimate.abs().max()) <= EPS + 1e-7
    inner = (slice(None), slice(8, -8), slice(8, -8))
    corr = torch.corrcoef(torch.stack([estimate[inner].flatten(), mask[inner].flatten()]))[0, 1]
    assert corr > 0.5
    cleaned = subtract_estimate(protected[0], lms[0], estimate, TEMPLATE)
    assert (cleaned - photos[0]).abs().mean() < (protected[0] - photos[0]).abs().mean()


def test_estimate_mask_checks_shapes():
    with pytest.raises(ValueError):
        estimate_mask(torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 9), EPS)
    with pytest.raises(ValueError):
        estimate_mask(torch.zeros(2, 3, 8, 8), torch.zeros(3, 8, 8), 0.0)


@pytest.mark.parametrize("name", list(PURIFIERS))
def test_purifiers_keep_shape_and_range(name):
    x = _smooth(4, (3, 40, 36))
    y = PURIFIERS[name](x, EPS)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1


def test_bit_depth_absorbs_small_changes_and_families():
    step = 2 * EPS
    x = torch.full((3, 8, 8), 5 * step)  # on a level: a change under half a step rounds back to it
    assert torch.allclose(bit_depth(x + 0.4 * step, step), bit_depth(x, step), atol=1 / 255)
    assert purifier_families() == ["bitdepth", "bilateral", "nlmeans", "blur"]


def test_coarse_search_recovers_rotation_scale_and_shift():
    import math

    photo, mask = _smooth(5, (3, 160, 170)), _mask(9)
    true = _landmarks(dx=10.0, dy=12.0)
    protected = _protect(photo, true, mask)
    angle, scale = math.radians(5.0), 1.07  # what detection on protected LFW photos gets wrong, at worst
    centre = true.mean(0)
    rot = torch.tensor([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]]) * scale
    off = (true - centre) @ rot.T + centre + torch.tensor([3.0, -2.5])
    guess = estimate_similarity(off[None], torch.tensor(TEMPLATE))
    exact = estimate_similarity(true[None], torch.tensor(TEMPLATE))
    best = float(mask_correlation(protected, exact, mask)[0])
    refined, corr = refine_matrices(protected, guess, mask)
    assert float(mask_correlation(protected, guess, mask)[0]) < 0.2
    assert float(corr[0]) > 0.95 * best
    assert (remove_mask(protected, refined, mask) - photo).abs().mean() < 0.2 * (protected - photo).abs().mean()
