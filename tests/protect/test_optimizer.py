"""The P3-Mask optimisation loop on toy recognisers: bounds, perceptual floor, determinism, progress."""

import stat
from types import SimpleNamespace

import pytest
import torch
from learning_toys import TOY_FRAME_TEMPLATE, toy_models, toy_training_set

from p3mask.protect.config import DEFAULT_POOL, get_config
from p3mask.protect.optimizer import MaskOptimizer, composite, feather_window, jitter_matrices, ycbcr_to_rgb
from p3mask.protect.visuals import LearnArtefacts
from p3mask.timing import Timings

THRESHOLDS = {"a": 0.5, "b": 0.5, "c": 0.5}



def _config(**kw):
    base = dict(pool=("a", "b", "c"), team_size=2, frame_size=(40, 40), frame_template=TOY_FRAME_TEMPLATE,
                epochs=3, batch_size=2, feather=3.0, reselect_every=1, match_model="a")
    base.update(kw)
    return get_config("mid", **base)


def _fit(seed=0, **kw):
    return MaskOptimizer(toy_models(), THRESHOLDS, _config(**kw), seed=seed, progress=False).fit(toy_training_set())


def test_mask_within_epsilon_and_floor_held():
    cfg = _config()
    result = _fit()
    assert result.mask.shape == (3, 40, 40)
    assert float(result.mask.abs().max()) <= cfg.rgb_bound + 1e-7
    assert float(result.quality.min()) >= cfg.quality_floor
    assert result.strength.shape == (6,) and float(result.strength.min()) > 0 and float(result.strength.max()) <= 1
    assert len(result.history) == cfg.epochs
    assert len(result.team) == 2 and set(result.team) <= {"a", "b", "c"}


def test_protection_moves_team_embeddings_away():
    result = _fit(epochs=4, epsilon=32 / 255, quality_floor=1.0)
    for name in result.team:
        assert float(result.protected_cosine[name].mean()) < float(result.clean_cosine[name].mean()) - 0.05
    assert result.history[-1].feature_distance > result.history[0].feature_distance


def test_deterministic_under_seed():
    a, b, c = _fit(seed=3), _fit(seed=3), _fit(seed=4)
    assert torch.equal(a.mask, b.mask)
    assert not torch.equal(a.mask, c.mask)


def test_strong_mask_is_weakened_per_photo_to_hold_the_floor():
    result = _fit(epsilon=64 / 255, quality_floor=90.0)
    assert float(result.quality.min()) >= 90.0
    assert float(result.strength.min()) < 1


def test_learning_holds_the_margin_above_the_floor_and_saves_at_the_floor():
    result = _fit(epsilon=64 / 255, quality_floor=80.0, quality_margin=5.0, epochs=4)
    last = result.history[-1]
    assert 84.0 <= last.quality_min and last.quality <= 86.5  # learning: floor + margin (+ half the band)
    assert 80.0 <= float(result.quality.min()) and float(result.quality.max()) <= 80.5  # saved: the floor
    assert float(result.strength.mean()) > last.strength  # so the saved photos take a stronger mask


def test_chroma_is_bounded_apart_from_luma():
    grey = _fit(chroma_ratio=0.0).mask  # no chroma: every pixel changes R, G and B alike
    assert torch.allclose(grey[0], grey[1], atol=1e-7) and torch.allclose(grey[1], grey[2], atol=1e-7)
    cfg = _config(chroma_ratio=0.25)
    mask = _fit(chroma_ratio=0.25).mask
    # back to YCbCr: Cb = (B - Y) / 1.772, Cr = (R - Y) / 1.402 with Y = 0.299 R + 0.587 G + 0.114 B
    y = 0.299 * mask[0] + 0.587 * mask[1] + 0.114 * mask[2]
    cb, cr = (mask[2] - y) / 1.772, (mask[0] - y) / 1.402
    assert float(y.abs().max()) <= cfg.epsilon + 1e-6
    assert float(cb.abs().max()) <= 0.25 * cfg.epsilon + 1e-6 and float(cr.abs().max()) <= 0.25 * cfg.epsilon + 1e-6
    assert float(cb.abs().max()) > 0.1 * cfg.epsilon  # chroma is used, within its tighter bound


def test_ycbcr_to_rgb_matches_bt601():
    ycbcr = torch.tensor([0.1, 0.02, -0.03]).view(1, 3, 1, 1)
    rgb = ycbcr_to_rgb(ycbcr).flatten()
    expected = torch.tensor([0.1 + 1.402 * -0.03, 0.1 - 0.344136 * 0.02 - 0.714136 * -0.03, 0.1 + 1.772 * 0.02])
    assert torch.allclose(rgb, expected, atol=1e-7)


def test_fixed_team_and_downsampled_mask():
    result = _fit(team=("b", "c"), mask_downsample=2)
    assert result.team == ("b", "c")
    assert all(h.team == ("b", "c") for h in result.history)
    assert float(result.mask.abs().max()) <= _config().rgb_bound + 1e-7


def test_epoch_files_written(tmp_path):
    plain = tmp_path / "plain"
    MaskOptimizer(toy_models(), THRESHOLDS, _config(epochs=2), progress=False, out_dir=plain).fit(toy_training_set())
    assert sorted(p.name for p in (plain / "jpg").iterdir()) == ["epoch_0001.jpg", "epoch_0002.jpg"]
    assert (plain / "before_after.png").is_file() and not (plain / "npy").exists()  # npy only when asked for
    asked = LearnArtefacts(tmp_path / "asked", save_npy=True)
    MaskOptimizer(toy_models(), THRESHOLDS, _config(epochs=2), progress=False, out_dir=asked).fit(toy_training_set())
    npys = sorted((asked.folder / "npy").iterdir())
    assert [p.name for p in npys] == ["epoch_0001.npy", "epoch_0002.npy"]
    assert stat.S_IMODE((asked.folder / "npy").stat().st_mode) == 0o700
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in npys)
    with pytest.raises(FileExistsError, match="already exists"):  # a second run never replaces them silently
        fit = MaskOptimizer(toy_models(), THRESHOLDS, _config(epochs=1), progress=False, out_dir=asked)
        fit.fit(toy_training_set())


def test_feather_window_and_composite_bounds():
    w = feather_window((20, 30), 4.0)
    assert w.shape == (1, 1, 20, 30)
    assert float(w.min()) >= 0 and float(w.max()) <= 1
    assert float(w[0, 0, 10, 15]) == pytest.approx(1.0)
    assert float(w[0, 0, 0, 0]) < 0.05
    data = toy_training_set(3)
    delta = torch.full((3, 40, 40), 0.05)
    to_frame = data.matrices(TOY_FRAME_TEMPLATE)
    protected, weight = composite(data.regions, data.valid, delta, to_frame)
    assert float(protected.min()) >= 0 and float(protected.max()) <= 1
    assert float((protected - data.regions).abs().max()) <= 0.05 + 1e-6
    assert float(weight.max()) <= 1 and float(weight[..., 0, 0].max()) == 0  # corner outside the frame


def test_jitter_moves_crop_points_boundedly():
    m = torch.tensor([[[1.0, 0.0, -5.0], [0.0, 1.0, -7.0]]]).repeat(64, 1, 1)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(jitter_matrices(m, (32, 32), 0.0, g), m)
    j = jitter_matrices(m, (32, 32), 1.0, g)
    corners = torch.tensor([[5.0, 7.0, 1.0], [36.0, 7.0, 1.0], [5.0, 38.0, 1.0], [36.0, 38.0, 1.0]]).T
    moved = (j @ corners - m @ corners).norm(dim=1)
    assert float(moved.max()) <= 3.0 and float(moved.max()) > 0.1


def test_crop_region_keeps_every_crop_and_shrinks_large_faces():
    from p3mask.face.align import estimate_similarity, warp_to_crop
    from p3mask.protect.trainset import crop_region

    g = torch.Generator().manual_seed(0)
    image = torch.nn.functional.interpolate(torch.rand(1, 3, 30, 40, generator=g), size=(600, 800), mode="bilinear")[0]
    frame = (TOY_FRAME_TEMPLATE, (40, 40))
    other = (tuple((x * 2, y * 2) for x, y in TOY_FRAME_TEMPLATE), (80, 80))  # a wider recogniser crop
    template = torch.tensor(TOY_FRAME_TEMPLATE)
    small = template * 1.2 + torch.tensor([300.0, 200.0])  # 1.2 photo px per frame px: no shrinking
    region, lmk, none = crop_region(image, small, [frame, other], max_face_scale=1.5)
    assert none is None
    m_full = estimate_similarity(small[None], template)
    m_region = estimate_similarity(lmk[None], template)
    assert torch.allclose(warp_to_crop(region[None], m_region, (40, 40)), warp_to_crop(image[None], m_full, (40, 40)),
                          atol=1e-5)
    assert region.shape[1] < 600 and region.shape[2] < 800
    big = template * 6.0 + torch.tensor([100.0, 50.0])  # 6 photo px per frame px: shrunk to 1.5
    region, lmk, _ = crop_region(image, big, [frame, other], max_face_scale=1.5)
    scale = torch.linalg.det(estimate_similarity(lmk[None], template)[0, :, :2]).abs().sqrt().reciprocal()
    assert float(scale) == pytest.approx(1.5, rel=0.02)
    # a box to include (the face in context) widens the region and comes back in region pixels
    include = (150, 420, 250, 520)  # (y0, y1, x0, x1) in photo pixels
    region, lmk, inside = crop_region(image, small, [frame, other], max_face_scale=1.5, include=include)
    y0, y1, x0, x1 = inside
    offset = (small[0] - lmk[0]).round().long().tolist()  # (x, y) of the region in the photo
    assert (y1 - y0, x1 - x0) == (270, 270) and region.shape[1] >= 270 and region.shape[2] >= 270
    assert torch.equal(region[:, y0:y1, x0:x1], image[:, 150:420, 250:520])
    assert (y0 + offset[1], x0 + offset[0]) == (150, 250)


def test_member_weights_lead_with_the_least_fooled_member():
    angles = torch.tensor([1.2, 0.4, 0.9])  # member 1 is fooled least (smallest angular distance)
    focused = MaskOptimizer(toy_models(), THRESHOLDS, _config(focus=0.1), progress=False)._member_weights(angles)
    assert torch.isclose(focused.sum(), torch.tensor(1.0))
    assert int(focused.argmax()) == 1 and float(focused[1]) > 0.99
    plain = MaskOptimizer(toy_models(), THRESHOLDS, _config(focus=0.0), progress=False)._member_weights(angles)
    assert torch.allclose(plain, torch.full((3,), 1 / 3))
    with pytest.raises(ValueError, match="focus"):
        _config(focus=-1.0)


def test_on_epoch_reports_each_epoch_and_can_stop_learning():
    seen = []
    fit = MaskOptimizer(toy_models(), THRESHOLDS, _config(epochs=3), progress=False, on_epoch=seen.append).fit(
        toy_training_set())
    assert [s.epoch for s in seen] == [1, 2, 3] and seen == fit.history

    class Stop(Exception):
        pass

    def stop_after_first(stats):
        seen.append(stats.epoch)
        raise Stop

    seen.clear()
    with pytest.raises(Stop):
        MaskOptimizer(toy_models(), THRESHOLDS, _config(epochs=3), progress=False, on_epoch=stop_after_first).fit(
            toy_training_set())
    assert seen == [1]


def test_members_per_step_takes_the_team_in_turn():
    models = toy_models()
    steps = {n: 0 for n in models}  # forward passes under autograd: the optimisation steps a member is in

    def count(name):
        def hook(*_):
            steps[name] += torch.is_grad_enabled()
        return hook

    for name, model in models.items():
        model.register_forward_hook(count(name))
    cfg = _config(team=("a", "b", "c"), members_per_step=1, epochs=2, batch_size=2)  # 3 steps an epoch
    result = MaskOptimizer(models, THRESHOLDS, cfg, progress=False).fit(toy_training_set())
    assert steps == {"a": 2, "b": 2, "c": 2}  # 6 steps, one member each, in turn
    assert float(result.mask.abs().max()) <= cfg.rgb_bound + 1e-7

    pairs = MaskOptimizer(toy_models(), THRESHOLDS, _config(team=("a", "b", "c"), members_per_step=2), progress=False)
    chosen = [pairs._members(SimpleNamespace(team=("a", "b", "c"), step=step)) for step in range(3)]
    assert chosen == [("a", "b"), ("c", "a"), ("b", "c")]  # every member twice in three steps
    whole = MaskOptimizer(toy_models(), THRESHOLDS, _config(members_per_step=0), progress=False)
    assert whole._members(SimpleNamespace(team=("a", "b"), step=5)) == ("a", "b")
    with pytest.raises(ValueError, match="members_per_step"):
        _config(members_per_step=-1)


def test_team_of_the_whole_pool_is_not_reselected():
    assert get_config("mid").team_size == len(DEFAULT_POOL)  # the default team is the whole pool
    whole, some = Timings(), Timings()
    cfg = _config(team_size=3, epochs=3, reselect_every=1)
    result = MaskOptimizer(toy_models(), THRESHOLDS, cfg, progress=False, timings=whole).fit(toy_training_set())
    assert set(result.team) == {"a", "b", "c"}
    assert whole.calls["team_selection"] == 1  # chosen once at the start, never again
    MaskOptimizer(toy_models(), THRESHOLDS, _config(team_size=2, epochs=3, reselect_every=1), progress=False,
                  timings=some).fit(toy_training_set())
    assert some.calls["team_selection"] == 3  # at the start, then after epochs 1 and 2 of 3
