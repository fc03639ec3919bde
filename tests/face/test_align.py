"""Alignment maths on small seeded tensors; the photo -> crop -> photo round trip on a real face."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from p3mask.face import FaceAligner, align_faces, estimate_similarity, invert_affine, paste_from_crop, warp_to_crop
from p3mask.models.base import ARCFACE_112

TEMPLATE = torch.tensor(ARCFACE_112)


def similarity(angle: float, scale: float, tx: float, ty: float) -> torch.Tensor:
    c, s = scale * math.cos(angle), scale * math.sin(angle)
    return torch.tensor([[c, -s, tx], [s, c, ty]], dtype=torch.float64)


def apply(m: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    return pts @ m[..., :2].transpose(-1, -2) + m[..., None, :, 2]


def smooth_image(h: int, w: int, seed: int = 0, dtype=torch.float32, cell: int = 8) -> torch.Tensor:
    """``(1, 3, h, w)`` smooth random picture in [0, 1] (noise upsampled from ``cell``-pixel cells)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, max(2, h // cell), max(2, w // cell), generator=g, dtype=torch.float64)
    return F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1).to(dtype)


def umeyama_reference(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Umeyama (1991) with SVD, as in the paper: the independent reference."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt))])
    rot = u @ fix @ vt
    c = np.trace(np.diag(sig) @ fix) / (s**2).sum(1).mean()
    return np.hstack([c * rot, (mu_d - c * rot @ mu_s)[:, None]])


# --- estimate_similarity ---------------------------------------------------------------------------

def test_recovers_exact_similarity():
    g = torch.Generator().manual_seed(1)
    src = torch.rand(4, 5, 2, generator=g, dtype=torch.float64) * 200
    truth = torch.stack([similarity(0.3 * i - 0.5, 0.4 + 0.3 * i, 10.0 * i, -5.0) for i in range(4)])
    m = estimate_similarity(src, apply(truth, src))
    assert m.shape == (4, 2, 3) and m.dtype == torch.float64
    assert torch.allclose(m, truth, atol=1e-9)


def test_matches_svd_umeyama_on_noisy_points():
    g = torch.Generator().manual_seed(2)
    src = torch.rand(6, 5, 2, generator=g, dtype=torch.float64) * 100
    m = estimate_similarity(src, TEMPLATE)  # shared (5, 2) target
    for i in range(6):
        ref = umeyama_reference(src[i].numpy(), TEMPLATE.double().numpy())
        assert np.allclose(m[i].numpy(), ref, atol=1e-9)


def test_never_reflects():
    src = TEMPLATE[None].double()
    mirrored = src * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    m = estimate_similarity(src, mirrored)
    assert torch.linalg.det(m[:, :, :2]).item() >= 0


def test_similarity_bad_inputs():
    with pytest.raises(ValueError, match="coincide"):
        estimate_similarity(torch.ones(1, 5, 2), TEMPLATE)
    with pytest.raises(ValueError, match=r"expected \(N,K,2\)"):
        estimate_similarity(torch.zeros(5, 2), TEMPLATE)
    with pytest.raises(ValueError, match="same K"):
        estimate_similarity(torch.rand(1, 4, 2), TEMPLATE)
    with pytest.raises(TypeError, match="float"):
        estimate_similarity(torch.ones(1, 5, 2, dtype=torch.long), TEMPLATE)


def test_similarity_gradcheck():
    g = torch.Generator().manual_seed(3)
    src = (torch.rand(2, 5, 2, generator=g, dtype=torch.float64) * 50).requires_grad_()
    assert torch.autograd.gradcheck(lambda s: estimate_similarity(s, TEMPLATE.double()), (src,))


# --- warp_to_crop vs cv2.warpAffine ----------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_warp_matches_cv2(dtype):
    img = smooth_image(90, 120, seed=4)
    m = similarity(0.4, 0.7, -10.0, 20.0).float()
    crop = warp_to_crop(img, m[None], (64, 80))[0].permute(1, 2, 0).numpy()
    src = img[0].permute(1, 2, 0).numpy()
    if dtype == "uint8":
        ref = cv2.warpAffine((src * 255).round().astype(np.uint8), m.double().numpy(), (80, 64),
                             flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT) / 255.0
        crop8 = warp_to_crop(torch.from_numpy((src * 255).round() / 255).permute(2, 0, 1)[None], m[None], (64, 80))
        assert np.abs(crop8[0].permute(1, 2, 0).numpy() - ref).max() <= 1.5 / 255
    else:
        ref = cv2.warpAffine(src, m.double().numpy(), (80, 64), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT)
        assert np.abs(crop - ref).max() < 1 / 255


def test_warp_identity_and_translation_are_exact():
    img = smooth_image(20, 24, seed=5)
    ident = torch.tensor([[[1.0, 0, 0], [0, 1, 0]]])
    assert torch.allclose(warp_to_crop(img, ident, (20, 24)), img, atol=1e-6)
    shift = torch.tensor([[[1.0, 0, -3], [0, 1, -2]]])  # crop(p) = photo(p + (3, 2))
    assert torch.allclose(warp_to_crop(img, shift, (10, 12))[0], img[0, :, 2:12, 3:15], atol=1e-6)


def test_warp_image_index():
    imgs = torch.cat([smooth_image(30, 30, seed=6), smooth_image(30, 30, seed=7)])
    m = torch.stack([similarity(0.1 * i, 0.8, 2.0, 3.0).float() for i in range(3)])
    idx = torch.tensor([1, 0, 1])
    got = warp_to_crop(imgs, m, (16, 16), image_index=idx)
    assert torch.allclose(got, warp_to_crop(imgs[idx], m, (16, 16)))
    with pytest.raises(ValueError, match="one matrix per image"):
        warp_to_crop(imgs, m, (16, 16))
    with pytest.raises(ValueError, match=r"matrices: expected \(B,2,3\)"):
        warp_to_crop(imgs, m[:, :, :2], (16, 16))


def test_warp_and_paste_gradcheck():
    img = smooth_image(7, 9, seed=8, dtype=torch.float64).requires_grad_()
    m = similarity(0.3, 0.8, 0.5, -0.7)[None]
    assert torch.autograd.gradcheck(lambda x: warp_to_crop(x, m, (5, 6)), (img,))
    crop = smooth_image(5, 6, seed=9, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda c: paste_from_crop(c, m, (7, 9)), (crop,))


# --- paste_from_crop -------------------------------------------------------------------------------

def test_paste_weight_and_inverse():
    m = similarity(0.2, 2.0, -30.0, -20.0)[None].float()  # photo -> crop enlarges 2x
    crop = smooth_image(24, 24, seed=10)
    pasted, weight = paste_from_crop(crop, m, (50, 60))
    assert pasted.shape == (1, 3, 50, 60) and weight.shape == (1, 1, 50, 60)
    assert weight.min() >= 0 and weight.max() <= 1
    inv = invert_affine(m)[0].double()
    ys, xs = torch.meshgrid(torch.arange(50.0).double(), torch.arange(60.0).double(), indexing="ij")
    q = apply(m[0].double(), torch.stack([xs, ys], -1))  # each photo pixel in crop coordinates
    inside = ((q >= 0) & (q <= 23)).all(-1)
    outside = ((q < -1) | (q > 24)).any(-1)
    assert (weight[0, 0][inside] > 1 - 1e-5).all() and (weight[0, 0][outside] == 0).all()
    assert (pasted[0][:, outside] == 0).all()
    assert inside.sum() > 100 and outside.sum() > 2000  # the crop covers ~12 x 12 photo pixels
    centre = apply(inv, torch.tensor([[11.5, 11.5]], dtype=torch.float64))[0].round().long()
    assert weight[0, 0, centre[1], centre[0]] > 1 - 1e-5
    # crop -> photo -> crop reproduces the crop where the photo covers it
    back = warp_to_crop(pasted, m, (24, 24))
    assert (back - crop)[..., 2:-2, 2:-2].abs().max() < 0.05


def test_paste_only_reaches_the_window_and_empty_batch():
    m = similarity(0.0, 1.0, -100.0, -100.0)[None].float()  # crop far from a small photo
    pasted, weight = paste_from_crop(torch.rand(1, 3, 8, 8), m, (40, 40))
    assert weight.abs().sum() == 0 and pasted.abs().sum() == 0
    p, w = paste_from_crop(torch.zeros(0, 3, 8, 8), torch.zeros(0, 2, 3), (40, 40))
    assert p.shape == (0, 3, 40, 40) and w.shape == (0, 1, 40, 40)


def test_round_trip_smooth_image():
    img = smooth_image(120, 100, seed=11)[0]
    lm = apply(similarity(0.15, 1.1, 20.0, 10.0).float(), TEMPLATE * 0.6)[None]
    crops, m = align_faces(img, lm, TEMPLATE, (112, 112))
    pasted, weight = paste_from_crop(crops, m, (120, 100))
    core = weight[0, 0] == 1
    mse = ((pasted[0] - img) ** 2)[:, core].mean()
    assert core.sum() > 1000 and 10 * torch.log10(1 / mse) > 35


# --- align_faces / FaceAligner ---------------------------------------------------------------------

def test_align_faces_puts_landmarks_on_template():
    img = smooth_image(200, 220, seed=12)[0]
    truth = similarity(-0.2, 0.5, -20.0, -30.0).float()  # photo -> crop
    lm = apply(invert_affine(truth[None])[0], TEMPLATE)[None].repeat(2, 1, 1)
    crops, m = align_faces(img, lm, ARCFACE_112, (112, 112), antialias=False)
    assert crops.shape == (2, 3, 112, 112) and m.shape == (2, 2, 3)
    assert torch.allclose(m[0], truth, atol=1e-4)
    assert torch.equal(crops[0], warp_to_crop(img[None], m[:1], (112, 112))[0]) and torch.equal(crops[0], crops[1])
    assert torch.allclose(crops[0], warp_to_crop(img[None], truth[None], (112, 112))[0], atol=1e-3)


def test_antialias_removes_aliasing_and_keeps_smooth_content():
    yy, xx = torch.meshgrid(torch.arange(600), torch.arange(600), indexing="ij")
    checker = ((yy + xx) % 2).float().expand(3, -1, -1)  # pixel-level checkerboard, mean 0.5
    # a face shrunk 4x into the crop; the crop's footprint lies inside the photo
    lm = apply(similarity(0.05, 4.0, 80.0, 60.0).float(), TEMPLATE)[None]
    plain, _ = align_faces(checker, lm, TEMPLATE, (112, 112), antialias=False)
    smooth, _ = align_faces(checker, lm, TEMPLATE, (112, 112), antialias=True)
    assert plain[..., 20:90, 20:90].std() > 0.1  # bilinear at 1/4 scale aliases
    assert smooth[..., 20:90, 20:90].std() < 0.02 and abs(smooth[..., 20:90, 20:90].mean() - 0.5) < 0.01
    soft = smooth_image(600, 600, seed=13, cell=64)[0]  # detail coarse enough to survive 4x shrinking
    a, _ = align_faces(soft, lm, TEMPLATE, (112, 112), antialias=False)
    b, _ = align_faces(soft, lm, TEMPLATE, (112, 112), antialias=True)
    assert (a - b)[..., 4:-4, 4:-4].abs().max() < 0.03


def test_align_gradcheck_with_antialias():
    img = smooth_image(9, 9, seed=14, dtype=torch.float64).squeeze(0).requires_grad_()
    tmpl = TEMPLATE.double() / 112 * 3  # 3x3 crop
    # one face shrunk 2.5x (box-filtered path, k=2) and one at scale 1 (plain bilinear)
    lm = torch.stack([apply(similarity(0.1, 2.5, 1.0, 1.5), tmpl), apply(similarity(0.0, 1.0, 3.0, 3.0), tmpl)])
    assert torch.autograd.gradcheck(lambda x: align_faces(x, lm, tmpl, (3, 3))[0], (img,), fast_mode=True)


def test_face_aligner_module_and_empty():
    aligner = FaceAligner(ARCFACE_112, (112, 112))
    assert aligner.template.shape == (5, 2) and "size=(112, 112)" in repr(aligner)
    img = smooth_image(150, 150, seed=15)[0]
    lm = apply(similarity(0.0, 1.2, 10.0, 10.0).float(), TEMPLATE)[None]
    crops, m = aligner(img, lm)
    ref_crops, ref_m = align_faces(img, lm, ARCFACE_112, (112, 112))
    assert torch.equal(crops, ref_crops) and torch.equal(m, ref_m)
    pasted, weight = aligner.paste(crops, m, (150, 150))
    assert pasted.shape == (1, 3, 150, 150)
    empty_c, empty_m = aligner(img, torch.zeros(0, 5, 2))
    assert empty_c.shape == (0, 3, 112, 112) and empty_m.shape == (0, 2, 3)
    crops64, _ = aligner.double()(img.double(), lm.double())
    assert crops64.dtype == torch.float64
    with pytest.raises(ValueError, match=r"image: expected \(3,H,W\)"):
        aligner(img[None], lm)


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_real_face_round_trip_psnr():
    from p3mask.face.detect import FaceDetector
    from p3mask.face.image_io import load_image
    from p3mask.paths import data_root

    photo = load_image(data_root() / "lfw" / "AJ_Cook" / "AJ_Cook_0001.jpg")
    faces = FaceDetector().detect(photo)
    assert len(faces) == 1
    crops, m = align_faces(photo, faces.landmarks, ARCFACE_112, (112, 112))
    ref = cv2.warpAffine(photo.permute(1, 2, 0).numpy(), m[0].double().numpy(), (112, 112), flags=cv2.INTER_LINEAR)
    assert np.abs(crops[0].permute(1, 2, 0).numpy() - ref).max() < 1 / 255
    pasted, weight = paste_from_crop(crops, m, photo.shape[-2:])
    core = weight[0, 0] == 1
    psnr = 10 * torch.log10(1 / ((pasted[0] - photo) ** 2)[:, core].mean())
    assert core.sum() > 10000 and psnr > 35
    photo = photo.clone().requires_grad_()
    crops, _ = align_faces(photo, faces.landmarks, ARCFACE_112, (112, 112))
    crops.mean().backward()
    assert photo.grad[:, core].abs().sum() > 0 and (photo.grad[:, weight[0, 0] == 0] == 0).all()
