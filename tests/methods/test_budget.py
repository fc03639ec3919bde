"""Budget calibration, photo-face compositing and the shared protector plumbing, on seeded tensors."""

import pytest
import torch
from torch import nn

from p3mask.face.align import estimate_similarity
from p3mask.methods import available_methods, get_method
from p3mask.methods.base import check_photo, check_pool, frozen
from p3mask.methods.photo_face import FRAME_SIZE, FRAME_TEMPLATE, PhotoFace, largest_passing_scale
from p3mask.protect.optimizer import composite, feather_window
from p3mask.protect.ssim import face_ssim


def test_largest_passing_scale_finds_the_boundary():
    ssim_at = lambda s: 1.0 - 0.05 * s * s  # noqa: E731  (monotone, 0.96 at s = 0.894)
    scale, value = largest_passing_scale(ssim_at, 0.96, max_scale=2.0)
    assert value >= 0.96
    assert abs(scale - (0.04 / 0.05) ** 0.5) < 2.0 / 2**13
    assert largest_passing_scale(lambda s: 0.999, 0.96, max_scale=2.0) == (2.0, 0.999)  # never binding
    assert largest_passing_scale(lambda s: 1.0 if s == 0 else 0.5, 0.96)[0] == 0.0  # any change too much


def test_largest_passing_scale_rejects_bad_arguments():
    with pytest.raises(ValueError):
        largest_passing_scale(lambda s: 1.0, 1.5)
    with pytest.raises(ValueError):
        largest_passing_scale(lambda s: 1.0, 0.9, max_scale=0)


def _face(seed: int = 0, size=(3, 150, 170)):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, size[1] // 10, size[2] // 10, generator=g)  # smooth, like a photo
    image = torch.nn.functional.interpolate(coarse, size=size[1:], mode="bilinear", align_corners=False)[0]
    tmpl = torch.tensor(FRAME_TEMPLATE)
    landmarks = tmpl * 0.9 + torch.tensor([25.0, 12.0])  # a face a bit smaller than the frame
    return image, landmarks, g


def test_photo_face_finish_equals_compositing_the_whole_photo():
    image, landmarks, g = _face()
    delta = (torch.rand(3, *FRAME_SIZE, generator=g) * 2 - 1) * 0.05
    face = PhotoFace.build(image, landmarks, {})
    photo, ssim, scale = face.finish(delta, None)
    to_frame = estimate_similarity(landmarks[None], torch.tensor(FRAME_TEMPLATE))
    window = feather_window(FRAME_SIZE, 6.0)
    whole, weight = composite(image[None], torch.ones(1, 1, *image.shape[1:]), (delta * window[0]), to_frame)
    torch.testing.assert_close(photo, whole[0], atol=1e-5, rtol=0)
    assert scale == 1.0
    assert abs(ssim - float(face_ssim(whole, image[None], weight))) < 1e-4


def test_photo_face_finish_meets_the_ssim_target():
    image, landmarks, g = _face(1)
    delta = (torch.rand(3, *FRAME_SIZE, generator=g) * 2 - 1) * 0.1
    face = PhotoFace.build(image, landmarks, {})
    photo, ssim, scale = face.finish(delta, 0.97)
    assert 0.97 <= ssim < 0.971
    assert 0 < scale < 2
    assert photo.shape == image.shape and float(photo.min()) >= 0 and float(photo.max()) <= 1
    unchanged = (photo == image).all(dim=0)
    assert bool(unchanged[:, :5].all())  # pixels outside the frame are untouched


def test_photo_face_zero_delta_is_identity():
    image, landmarks, _ = _face(2)
    photo, ssim, _ = PhotoFace.build(image, landmarks, {}).finish(torch.zeros(3, *FRAME_SIZE), None)
    torch.testing.assert_close(photo, image)
    assert ssim == pytest.approx(1.0)


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


@pytest.mark.parametrize("bad", [torch.zeros(1, 3, 8, 8), torch.zeros(3, 8, 8, dtype=torch.uint8), torch.full((3, 8, 8), 2.0)])
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
        get_method("fawkes", ssim_target=1.2)
    with pytest.raises(ValueError):
        get_method("lowkey", kernel=4)
    with pytest.raises(ValueError, match="unknown hull"):
        get_method("opom", hull="sphere")
