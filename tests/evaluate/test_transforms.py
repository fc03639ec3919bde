import pytest
import torch

from p3mask.evaluate.transforms import (
    IDENTITY_LEVEL,
    TRANSFORMS,
    downscale,
    gaussian_blur,
    get_transform,
    jpeg,
    median_filter,
    quantize,
)


def _photo(h: int = 60, w: int = 44, seed: int = 0) -> torch.Tensor:
    """A smooth gradient with a little seeded noise: something JPEG and filters change but keep close."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = torch.stack([yy, xx, (yy + xx) / 2])
    return (0.8 * base + 0.1 + 0.05 * torch.randn(3, h, w, generator=g)).clamp(0, 1)


@pytest.mark.parametrize("name", list(TRANSFORMS))
def test_every_transform_keeps_shape_range_and_is_8bit(name):
    x = _photo()
    y = TRANSFORMS[name](x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0
    assert torch.allclose(y * 255, (y * 255).round(), atol=1e-4)
    assert (y - x).abs().mean() < 0.08  # a transform, not a different picture
    assert TRANSFORMS[name].family in IDENTITY_LEVEL


def test_stronger_means_further():
    x = _photo(seed=1)
    err = lambda y: float((y - x).abs().mean())  # noqa: E731
    assert err(jpeg(x, 50)) > err(jpeg(x, 90))
    assert err(downscale(x, 0.25)) > err(downscale(x, 0.5))
    assert err(gaussian_blur(x, 2.0)) > err(gaussian_blur(x, 1.0))
    assert err(median_filter(x, 5)) > err(median_filter(x, 3))


def test_quantize_is_idempotent():
    x = _photo()
    q = quantize(x)
    assert torch.equal(quantize(q), q)
    assert (q - x).abs().max() <= 0.5 / 255 + 1e-6


def test_bad_input_and_parameters():
    with pytest.raises(ValueError, match=r"\(3,H,W\)"):
        TRANSFORMS["jpeg90"](torch.zeros(1, 3, 8, 8))
    with pytest.raises(TypeError):
        TRANSFORMS["jpeg90"](torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError):
        jpeg(_photo(), 0)
    with pytest.raises(ValueError):
        downscale(_photo(), 1.5)
    with pytest.raises(ValueError):
        median_filter(_photo(), 4)
    with pytest.raises(ValueError, match="valid transforms"):
        get_transform("sharpen")
