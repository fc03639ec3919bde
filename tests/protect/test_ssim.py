"""Face-region SSIM/DSSIM on small seeded tensors."""

import pytest
import torch

from p3mask.protect.ssim import FixedReferenceSSIM, face_dssim, face_ssim


def _images(seed: int = 0, shape=(2, 3, 24, 24)) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


def test_identical_images_score_one():
    x = _images()
    assert torch.allclose(face_ssim(x, x), torch.ones(2), atol=1e-5)
    assert torch.allclose(face_dssim(x, x), torch.zeros(2), atol=1e-5)


def test_symmetric_and_bounded():
    x, y = _images(0), _images(1)
    s_xy, s_yx = face_ssim(x, y), face_ssim(y, x)
    assert torch.allclose(s_xy, s_yx, atol=1e-6)
    assert bool((s_xy <= 1).all()) and bool((s_xy >= -1).all())
    d = face_dssim(x, y)
    assert torch.allclose(d, (1 - s_xy) / 2)
    assert bool((d > 0.2).all())  # two independent noise images are far apart


def test_more_noise_lowers_ssim():
    x = _images(2) * 0.5 + 0.25
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    scores = [float(face_ssim(x, (x + s * noise).clamp(0, 1)).mean()) for s in (0.01, 0.05, 0.2)]
    assert scores[0] > scores[1] > scores[2]


def test_weight_map_ignores_outside_region():
    x = _images(4, (1, 3, 32, 32))
    y = x.clone()
    y[..., :, 20:] = torch.rand(1, 3, 32, 12, generator=torch.Generator().manual_seed(5))
    weight = torch.zeros(1, 1, 32, 32)
    weight[..., :, :10] = 1.0  # far from the changed columns (window radius 5)
    assert float(face_ssim(x, y, weight)) == pytest.approx(1.0, abs=1e-5)
    assert float(face_ssim(x, y)) < 0.9
    # The weighted mean equals the plain mean of the region's SSIM map: a uniform weight gives the plain mean.
    assert torch.allclose(face_ssim(x, y, torch.ones(1, 1, 32, 32) * 3.0), face_ssim(x, y), atol=1e-6)


def test_gradient_flows():
    x = _images(6)
    y = (x + 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(7))).clamp(0, 1)
    y.requires_grad_(True)
    weight = torch.rand(2, 1, 24, 24, generator=torch.Generator().manual_seed(8))
    d = face_dssim(x, y, weight)
    d.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0


def test_gradcheck_float64():
    x = _images(9, (1, 3, 8, 8)).double()
    y = (x + 0.1 * torch.rand(x.shape, generator=torch.Generator().manual_seed(10)).double()).requires_grad_(True)
    weight = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(11)).double()
    assert torch.autograd.gradcheck(lambda t: face_ssim(x, t, weight, window_size=5), (y,), fast_mode=True)


@pytest.mark.parametrize(
    "a, b, weight, error",
    [
        (torch.rand(3, 8, 8), torch.rand(3, 8, 8), None, ValueError),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 15), None, ValueError),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.ones(1, 16, 16), ValueError),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16), torch.zeros(1, 1, 16, 16), ValueError),
        (torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4), None, ValueError),
        (torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.zeros(1, 3, 16, 16, dtype=torch.uint8), None, TypeError),
    ],
)
def test_rejects_bad_inputs(a, b, weight, error):
    with pytest.raises(error):
        face_ssim(a, b, weight)


def test_region_shortcut_matches_full_map():
    from kornia.metrics import ssim as ssim_map

    x, y = _images(12, (2, 3, 40, 40)), _images(13, (2, 3, 40, 40))
    weight = torch.zeros(2, 1, 40, 40)
    weight[0, :, 10:20, 12:30] = torch.rand(1, 10, 18, generator=torch.Generator().manual_seed(14))
    weight[1, :, 22:35, 5:15] = 1.0
    full = ssim_map(x, y, 11, max_val=1.0).mean(dim=1, keepdim=True)
    expected = (full * weight).flatten(1).sum(1) / weight.flatten(1).sum(1)
    assert torch.allclose(face_ssim(x, y, weight), expected, atol=1e-6)


@pytest.mark.parametrize("region",
                         [(slice(0, 40), slice(0, 36)), (slice(6, 30), slice(9, 27)), (slice(0, 12), slice(20, 36))])
def test_fixed_reference_ssim_equals_face_ssim(region):
    reference = _images(3, (1, 3, 40, 36))
    weight = torch.zeros(1, 1, 40, 36)
    weight[..., region[0], region[1]] = _images(4, (1, 1, 40, 36))[..., region[0], region[1]] + 0.1
    measure = FixedReferenceSSIM(reference, weight)
    for k, noise in enumerate((0.0, 0.02, 0.1, 0.4)):
        candidate = (reference + noise * (_images(5 + k, (1, 3, 40, 36)) - 0.5)).clamp(0, 1)
        assert measure(candidate) == pytest.approx(float(face_ssim(candidate, reference, weight)), abs=1e-6)


def test_fixed_reference_ssim_rejects_bad_inputs():
    reference = _images(0, (1, 3, 24, 24))
    with pytest.raises(ValueError, match="positive total weight"):
        FixedReferenceSSIM(reference, torch.zeros(1, 1, 24, 24))
    with pytest.raises(ValueError, match="one reference"):
        FixedReferenceSSIM(_images(0, (2, 3, 24, 24)), torch.ones(1, 1, 24, 24))
    with pytest.raises(ValueError, match="weight"):
        FixedReferenceSSIM(reference, torch.ones(1, 1, 20, 24))
