"""Torch SSIMULACRA2 against the PyPI reference implementation (ssimulacra2==0.3.0) on real LFW photos."""

import pytest
import torch

from p3mask.evaluate.transforms import from_uint8, to_uint8
from p3mask.face.image_io import load_image
from p3mask.paths import data_root
from p3mask.quality import SSIMULACRA2, SSIMULACRA2Reference, num_scales, ssimulacra2
from p3mask.quality.degrade import DEGRADATIONS

reference_impl = pytest.importorskip("ssimulacra2", reason="the reference ssimulacra2==0.3.0 is in the test extra")
from PIL import Image  # noqa: E402

PHOTOS = ["AJ_Cook/AJ_Cook_0001.jpg", "Sandy_Smith/Sandy_Smith_0001.jpg", "Aaron_Eckhart/Aaron_Eckhart_0001.jpg"]
TOLERANCE = 1e-3  # score points


def _photo(rel: str) -> torch.Tensor:
    path = data_root() / "lfw" / rel
    if not path.exists():
        pytest.skip(f"LFW photo {path} not found")
    return load_image(path)


def _reference_score(tmp_path, a: torch.Tensor, b: torch.Tensor) -> float:
    Image.fromarray(to_uint8(a)).save(tmp_path / "a.png")
    Image.fromarray(to_uint8(b)).save(tmp_path / "b.png")
    return float(reference_impl.compute_ssimulacra2(str(tmp_path / "a.png"), str(tmp_path / "b.png")))


@pytest.mark.parametrize("rel", PHOTOS)
@pytest.mark.parametrize("degradation", sorted(DEGRADATIONS))
@pytest.mark.data
def test_matches_reference_on_lfw(tmp_path, rel, degradation):
    photo = _photo(rel)
    distorted = DEGRADATIONS[degradation](photo)
    expected = _reference_score(tmp_path, photo, distorted)
    for dtype in (torch.float64, torch.float32):
        got = float(ssimulacra2(photo[None].to(dtype), distorted[None].to(dtype)))
        assert got == pytest.approx(expected, abs=TOLERANCE), (dtype, got, expected)
    assert expected < 100.0  # the degradation is measured, not a no-op


@pytest.mark.parametrize("box", [(10, 150, 20, 223), (0, 37, 0, 61), (100, 250, 0, 128), (3, 12, 5, 250)])
@pytest.mark.data
def test_matches_reference_on_crops_with_fewer_scales(tmp_path, box):
    """Non-square crops (which border is zero-padded matters), odd sides and crops where the pyramid
    stops early (num_scales < 6, so the later channels take earlier weights)."""
    y0, y1, x0, x1 = box
    photo = _photo(PHOTOS[1])[:, y0:y1, x0:x1].contiguous()
    distorted = DEGRADATIONS["jpeg50"](photo)
    expected = _reference_score(tmp_path, photo, distorted)
    got = float(ssimulacra2(photo[None].double(), distorted[None].double()))
    assert got == pytest.approx(expected, abs=TOLERANCE)


def test_num_scales():
    assert num_scales(250, 250) == 6
    assert num_scales(128, 128) == 5  # 128, 64, 32, 16, 8
    assert num_scales(200, 300) == 5  # the shorter side: 200 .. 13, then 7 < 8
    assert num_scales(8, 100) == 1
    assert num_scales(7, 100) == 0


def test_identical_images_score_100():
    x = torch.rand(3, 3, 40, 56, generator=torch.Generator().manual_seed(0))
    assert ssimulacra2(x, x).tolist() == [100.0, 100.0, 100.0]


@pytest.mark.data
def test_worse_distortion_lower_score():
    photo = _photo(PHOTOS[0])[None]
    scores = [float(ssimulacra2(photo, DEGRADATIONS[name](photo[0])[None])) for name in ("noise4", "noise8")]
    assert 100.0 > scores[0] > scores[1]


def test_batch_equals_loop_and_module():
    g = torch.Generator().manual_seed(1)
    ref = torch.rand(4, 3, 33, 47, generator=g)
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=g)).clamp(0, 1)
    batch = ssimulacra2(ref, dist)
    loop = torch.cat([ssimulacra2(ref[i : i + 1], dist[i : i + 1]) for i in range(4)])
    assert batch.shape == (4,)
    torch.testing.assert_close(batch, loop, rtol=0, atol=1e-4)
    torch.testing.assert_close(SSIMULACRA2()(ref, dist), batch)


def test_fixed_reference_equals_plain_function():
    g = torch.Generator().manual_seed(2)
    ref = torch.rand(1, 3, 64, 52, generator=g)
    candidates = (ref + 0.03 * torch.randn(5, 3, 64, 52, generator=g)).clamp(0, 1)
    measure = SSIMULACRA2Reference(ref)
    plain = torch.cat([ssimulacra2(ref, c[None]) for c in candidates])
    torch.testing.assert_close(measure.score(candidates), plain, rtol=0, atol=1e-4)
    torch.testing.assert_close(measure(candidates[:1]), plain[:1], rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="like the reference"):
        measure.score(candidates[:, :, :60])


@pytest.mark.parametrize(
    "box",
    [
        (20, 44, 15, 40),  # inside, far from every border
        (0, 9, 0, 70),  # the top rows (their mirror along H is in the padding) and both side borders
        (55, 61, 3, 9),  # a few pixels at the bottom rows, odd end
        (30, 31, 33, 34),  # one pixel
        (0, 61, 0, 70),  # everything
    ],
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_changed_box_gives_the_whole_image_score(box, dtype):
    g = torch.Generator().manual_seed(5)
    ref = torch.rand(1, 3, 61, 70, generator=g, dtype=dtype)
    y0, y1, x0, x1 = box
    dist = ref.expand(3, -1, -1, -1).clone()
    dist[..., y0:y1, x0:x1] = (dist[..., y0:y1, x0:x1] + 0.1 * torch.randn(3, 3, y1 - y0, x1 - x0, generator=g,
                                                                             dtype=dtype)).clamp(0, 1)
    whole = SSIMULACRA2Reference(ref).score(dist)
    restricted = SSIMULACRA2Reference(ref, changed=box)
    tolerance = 1e-9 if dtype == torch.float64 else 1e-3
    torch.testing.assert_close(restricted.score(dist), whole, rtol=0, atol=tolerance)
    assert (whole < 100.0).all()  # the change is measured
    # pixels outside the box are not read: they stand for the reference's
    outside = torch.rand(dist.shape, generator=g, dtype=dtype)
    outside[..., y0:y1, x0:x1] = dist[..., y0:y1, x0:x1]
    torch.testing.assert_close(restricted.score(outside), whole, rtol=0, atol=tolerance)


def test_changed_box_gradient_equals_the_whole_image_gradient():
    g = torch.Generator().manual_seed(6)
    ref = torch.rand(1, 3, 30, 34, generator=g, dtype=torch.float64)
    box = (4, 20, 10, 30)
    dist = ref.clone()
    dist[..., 4:20, 10:30] += 0.05 * torch.randn(1, 3, 16, 20, generator=g, dtype=torch.float64)
    dist = dist.clamp(0, 1).requires_grad_(True)
    SSIMULACRA2Reference(ref).score(dist).sum().backward()
    whole, dist.grad = dist.grad.clone(), None
    SSIMULACRA2Reference(ref, changed=box).score(dist).sum().backward()
    torch.testing.assert_close(dist.grad[..., 4:20, 10:30], whole[..., 4:20, 10:30], rtol=0, atol=1e-12)
    assert dist.grad[..., :4, :].abs().max() == 0  # nothing outside the box is used


@pytest.mark.parametrize("box", [(5, 5, 0, 10), (0, 17, 0, 10), (-1, 4, 0, 4), (0, 4, 8, 3)])
def test_bad_changed_box(box):
    with pytest.raises(ValueError, match="changed"):
        SSIMULACRA2Reference(torch.rand(1, 3, 16, 16), changed=box)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(3)
    ref = torch.rand(1, 3, 16, 18, generator=g, dtype=torch.float64) * 0.8 + 0.1
    dist = (ref + 0.05 * torch.randn(ref.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    dist.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda d: ssimulacra2(ref, d), (dist,), eps=1e-6, atol=1e-5)
    measure = SSIMULACRA2Reference(ref)
    assert torch.autograd.gradcheck(lambda d: measure.score(d), (dist,), eps=1e-6, atol=1e-5)


def test_gradient_finite_at_identity():
    x = torch.rand(1, 3, 24, 24, generator=torch.Generator().manual_seed(4), requires_grad=True)
    ssimulacra2(x.detach(), x).sum().backward()
    assert torch.isfinite(x.grad).all()


@pytest.mark.parametrize(
    "ref, dist, match",
    [
        (torch.rand(3, 16, 16), torch.rand(3, 16, 16), r"\(B,3,H,W\)"),
        (torch.rand(1, 3, 7, 16), torch.rand(1, 3, 7, 16), "at least 8x8"),
        (torch.rand(2, 3, 16, 16), torch.rand(3, 3, 16, 16), "same shape"),
        (torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 17), "same shape"),
    ],
)
def test_bad_input(ref, dist, match):
    with pytest.raises(ValueError, match=match):
        ssimulacra2(ref, dist)


def test_integer_input_rejected():
    with pytest.raises(TypeError, match="float"):
        ssimulacra2(torch.zeros(1, 3, 16, 16, dtype=torch.uint8), torch.zeros(1, 3, 16, 16, dtype=torch.uint8))


@pytest.mark.data
def test_quantised_inputs_round_trip():
    """The reference reads 8-bit PNGs; the degradations hand back 8-bit levels, so both see one image."""
    photo = _photo(PHOTOS[0])
    assert torch.equal(from_uint8(to_uint8(photo)), photo)
