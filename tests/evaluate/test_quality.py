import math

import pytest
import torch

from p3mask.evaluate.quality import face_region, mean_quality, photo_quality, psnr, ssim
from p3mask.models.base import ARCFACE_112


def _pair(seed: int = 0, noise: float = 0.03):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, 48, 48, generator=g) * 0.8 + 0.1
    y = (x + noise * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return x, y


def test_psnr_matches_definition():
    x, y = _pair()
    mse = float(((x - y) ** 2).mean())
    assert float(psnr(x, y)) == pytest.approx(10 * math.log10(1 / mse), rel=1e-5)
    assert math.isinf(float(psnr(x, x)))


def test_region_weights_only_count_inside():
    x, _ = _pair()
    y = x.clone()
    y[..., :, 24:] = (y[..., :, 24:] + 0.2).clamp(0, 1)  # change only the right half
    left = torch.zeros(1, 1, 48, 48)
    left[..., :, :12] = 1
    assert math.isinf(float(psnr(x, y, left)))
    assert float(ssim(x, y, left)) > 0.999
    assert float(ssim(x, y)) < float(ssim(x, y, left))


def test_more_noise_lower_scores():
    x, y1 = _pair(noise=0.01)
    _, y2 = _pair(noise=0.05)
    assert float(psnr(x, y1)) > float(psnr(x, y2))
    assert float(ssim(x, y1)) > float(ssim(x, y2))


def test_face_region_covers_the_face_frame():
    # landmarks equal to the template itself: the frame lands on the top-left 112x112 of a 200x200 photo
    lm = torch.tensor(ARCFACE_112)
    region = face_region(lm, (200, 200), ARCFACE_112, (112, 112))
    assert region.shape == (1, 1, 200, 200)
    assert float(region[0, 0, 50, 50]) == pytest.approx(1.0)
    assert float(region[0, 0, 150, 150]) == 0.0
    assert float(region.sum()) == pytest.approx(112 * 112, rel=0.03)


def test_photo_quality_and_mean():
    x, y = _pair()
    region = torch.zeros(1, 1, 48, 48)
    region[..., 10:30, 10:30] = 1
    q = photo_quality(x[0], y[0], region)
    assert 0 < q.ssim_face < 1 and 0 < q.ssim_full < 1 and q.psnr_full > 20
    q0 = photo_quality(x[0], y[0])
    assert math.isnan(q0.ssim_face)
    summary = mean_quality([q, q0])
    assert summary["ssim_face"] == pytest.approx(q.ssim_face)
    assert summary["ssim_full"] == pytest.approx(q.ssim_full)
    assert summary["photos"] == 2


def test_bad_shapes():
    with pytest.raises(ValueError):
        psnr(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))
    with pytest.raises(ValueError):
        photo_quality(torch.zeros(3, 8, 8), torch.zeros(3, 8, 9))
