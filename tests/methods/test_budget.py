"""Budget calibration, photo-face compositing and the shared protector plumbing, on seeded tensors."""

import pytest
import torch
from torch import nn

from p3mask.checks import check_photo
from p3mask.face.align import estimate_similarity
from p3mask.methods import available_methods, get_method
from p3mask.methods.base import check_pool, frozen
from p3mask.methods.photo_face import PhotoFace, largest_passing_scale
from p3mask.protect.config import CANONICAL_FEATHER, CANONICAL_SIZE, CANONICAL_TEMPLATE
from p3mask.protect.floor import TOLERANCE
from p3mask.protect.optimizer import composite, feather_window
from p3mask.quality import face_in_context, ssimulacra2


def test_largest_passing_scale_finds_the_boundary():
    quality_at = lambda s: 100.0 - 20.0 * s * s  # noqa: E731  (monotone, 70 at s = 1.225)
    scale, value = largest_passing_scale(quality_at, 70.0, max_scale=2.0)
    assert 70.0 <= value <= 70.0 + TOLERANCE  # within the floor search's accepted band
    assert abs(scale - 1.5 ** 0.5) < 0.01
    assert largest_passing_scale(lambda s: 99.0, 70.0, max_scale=2.0) == (2.0, 99.0)  # never binding
    assert largest_passing_scale(lambda s: 100.0 if s == 0 else 50.0, 70.0)[0] == 0.0  # any change too much


def test_largest_passing_scale_rejects_bad_arguments():
    with pytest.raises(ValueError):
        largest_passing_scale(lambda s: 100.0, 100.5)
    with pytest.raises(ValueError):
        largest_passing_scale(lambda s: 100.0, 70.0, max_scale=0)


def _face(seed: int = 0, size=(3, 150, 170)):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size[1] // 10, size[2] // 10, generator=g)  # smooth, like a photo
    image = torch.nn.functional.interpolate(coarse, size=size[1:], mode="bilinear", align_corners=False)[0]
    tmpl = torch.tensor(CANONICAL_TEMPLATE)
    landmarks = tmpl * 0.9 + torch.tensor([25.0, 12.0])  # a face a bit smaller than the frame
    return image, landmarks, g


def test_photo_face_finish_equals_compositing_the_whole_photo():
    image, landmarks, g = _face()
    delta = (torch.rand(3, *CANONICAL_SIZE, generator=g) * 2 - 1) * 0.05
    box = (30.0, 20.0, 110.0, 120.0)
    face = PhotoFace.build(image, landmarks, {}, box=box)
    photo, quality, scale = face.finish(delta, None)
    to_frame = estimate_similarity(landmarks[None], torch.tensor(CANONICAL_TEMPLATE))
    window = feather_window(CANONICAL_SIZE, CANONICAL_FEATHER)
    whole, _ = composite(image[None], torch.ones(1, 1, *image.shape[1:]), (delta * window[0]), to_frame)
    whole = (image[None] + torch.round((whole - image[None]) * 255) / 255).clamp(0, 1)  # 8-bit levels, as saved
    torch.testing.assert_close(photo, whole[0], atol=1e-5, rtol=0)
    assert scale == 1.0
    y0, y1, x0, x1 = face_in_context(box, *image.shape[1:])
    expected = float(ssimulacra2(image[None, :, y0:y1, x0:x1].double(), whole[:, :, y0:y1, x0:x1].double()))
    assert abs(quality - expected) < 0.01


def test_photo_face_finish_meets_the_quality_target():
    image, landmarks, g = _face(1)
    delta = (torch.rand(3, *CANONICAL_SIZE, generator=g) * 2 - 1) * 0.1
    face = PhotoFace.build(image, landmarks, {}, box=(30.0, 20.0, 110.0, 120.0))
    photo, quality, scale = face.finish(delta, 75.0)
    assert 75.0 <= quality <= 75.0 + TOLERANCE
    assert 0 < scale < 2
    assert photo.shape == image.shape and float(photo.min()) >= 0 and float(photo.max()) <= 1
    unchanged = (photo == image).all(dim=0)
    assert bool(unchanged[:, :5].all())  # pixels outside the frame are untouched


def test_photo_face_zero_delta_is_identity():
    image, landmarks, _ = _face(2)
    photo, quality, _ = PhotoFace.build(image, landmarks, {}, box=(30.0, 20.0, 110.0, 120.0)).finish(
        torch.zeros(3, *CANONICAL_SIZE), None)
    torch.testing.assert_close(photo, image)
    assert quality == pytest.approx(100.0)
    with pytest.raises(ValueError, match="face box"):
        PhotoFace.build(image, landmarks, {}).finish(torch.zeros(3, *CANONICAL_SIZE), 70.0)


def test_frozen_restores_modes_and_gradients():
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train()
    net[0].bias.requires_grad_(False)
    with frozen({"net": net}):
        assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert net.training and net[0].weight.requires_grad and not net[0].bias.requires_grad
    with pytest.raises(RuntimeError), frozen({"net": net}):
        raise RuntimeError("boom")
    assert net.training


def test_pool_never_holds_dlib_and_registry_lists_methods():
    with pytest.raises(ValueError, match="held-out"):
        check_pool(("sface", "dlib"))
    with pytest.raises(ValueError, match="held-out"):
        get_method("fawkes", pool=("facenet", "dlib"))
    with pytest.raises(ValueError, match="valid methods: chameleon, fawkes, lowkey, opom"):
        get_method("glaze")
    assert available_methods() == ["chameleon", "fawkes", "lowkey", "opom"]
    assert {get_method(n).per_photo for n in ("fawkes", "lowkey")} == {True}
    assert {get_method(n).per_photo for n in ("chameleon", "opom")} == {False}


@pytest.mark.parametrize("bad",
                         [torch.zeros(1, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8), torch.full((3, 8, 8), 2.0)])
def test_check_photo_rejects(bad):
    with pytest.raises((TypeError, ValueError)):
        check_photo(bad)


def test_protect_before_setup_fails():
    image, _, _ = _face()
    for name in available_methods():
        with pytest.raises(RuntimeError, match="setup"):
            get_method(name).protect(image)


def test_hyperparameters_are_checked():
    with pytest.raises(ValueError):
        get_method("fawkes", quality_target=120.0)
    with pytest.raises(ValueError):
        get_method("lowkey", kernel=4)
    with pytest.raises(ValueError, match="unknown hull"):
        get_method("opom", hull="sphere")
