"""The landmark tracker on seeded textures: the flow recovers known sub-pixel motion, detector noise is
mostly removed, a persistent detection offset is followed at the correction rate, and a face without
texture or a detection far from the prediction falls back to the detection."""

import cv2
import numpy as np
import pytest
import torch

from p3mask.video.tracking import LandmarkTracker, TrackerConfig, face_windows, flow_similarity, to_grey

H, W = 240, 320
# eyes, nose, mouth corners of a face about 40 px between the eyes, near the middle of the frame
FACE = torch.tensor([[140.0, 100.0], [180.0, 100.0], [160.0, 122.0], [145.0, 145.0], [175.0, 145.0]])


def _texture(seed: int = 0) -> np.ndarray:
    """``(H, W, 3)`` float32 in [0, 1]: seeded noise blurred to skin-like detail (corners to follow)."""
    rng = np.random.default_rng(seed)
    noise = rng.random((H, W, 3), dtype=np.float32)
    return np.clip(cv2.GaussianBlur(noise, (0, 0), 2.0) * 2.5 - 0.75, 0, 1)


def _similarity(shift=(0.0, 0.0), degrees=0.0, scale=1.0, centre=(160.0, 120.0)) -> np.ndarray:
    m = cv2.getRotationMatrix2D(centre, degrees, scale)
    m[:, 2] += shift
    return m


def _warp(texture: np.ndarray, m: np.ndarray) -> torch.Tensor:
    out = cv2.warpAffine(texture, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return torch.from_numpy(out).permute(2, 0, 1).contiguous()


def _apply(m: np.ndarray, points: torch.Tensor) -> torch.Tensor:
    p = points.double().numpy()
    return torch.from_numpy(p @ m[:, :2].T + m[:, 2]).float()


def test_flow_recovers_a_known_sub_pixel_similarity():
    texture = _texture()
    m = _similarity(shift=(0.7, -0.4), degrees=1.0, scale=1.01)
    before, after = _warp(texture, _similarity()), _warp(texture, m)
    crop, face = face_windows(FACE, H, W)
    y0, _, x0, _ = crop
    found = flow_similarity(to_grey(before, crop), to_grey(after, crop), (face[0] - y0, face[1] - y0,
                                                                            face[2] - x0, face[3] - x0))
    assert found is not None
    local = FACE.double().numpy() - (x0, y0)
    carried = torch.from_numpy(local @ found[:, :2].T + found[:, 2] + (x0, y0)).float()
    assert float((carried - _apply(m, FACE)).norm(dim=1).max()) < 0.1  # pixels


def _moving_face(frames: int):
    """Frames of the texture panned 0.3 px and turned 0.05 degrees per frame, and the true landmarks."""
    texture = _texture(1)
    maps = [_similarity(shift=(0.3 * i, 0.1 * i), degrees=0.05 * i) for i in range(frames)]
    return [_warp(texture, m) for m in maps], [_apply(m, FACE) for m in maps]


def _jitter(landmarks, truth) -> float:
    """Mean frame-to-frame change of the error against the true landmarks."""
    errors = [a - b for a, b in zip(landmarks, truth)]
    return float(torch.stack([e1 - e0 for e0, e1 in zip(errors, errors[1:])]).norm(dim=-1).mean())


def test_tracked_landmarks_lose_most_of_the_detector_noise():
    frames, truth = _moving_face(60)
    g = torch.Generator().manual_seed(0)
    detected = [t + 0.8 * torch.randn(5, 2, generator=g) for t in truth]  # a detector's sub-pixel noise
    tracker = LandmarkTracker()
    tracked = [tracker(f, d) for f, d in zip(frames, detected)]
    assert _jitter(tracked, truth) < 0.15 * _jitter(detected, truth)
    late = torch.stack([a - b for a, b in zip(tracked[30:], truth[30:])]).norm(dim=-1).mean()
    assert float(late) < 0.5  # no drift away from the face while it moves


def test_a_persistent_detection_offset_is_followed_at_the_correction_rate():
    frame = _warp(_texture(2), _similarity())
    offset = torch.tensor([5.0, 0.0])
    tracker = LandmarkTracker(TrackerConfig(correction=0.1))
    first = tracker(frame, FACE)  # the first frame: the detection itself
    torch.testing.assert_close(first, FACE)
    moved = [float((tracker(frame, FACE + offset) - FACE)[:, 0].mean()) for _ in range(40)]
    assert moved[0] == pytest.approx(0.5, abs=0.05)  # a tenth of the way in one frame
    assert moved[-1] == pytest.approx(5.0 * (1 - 0.9 ** 40), abs=0.1)  # and the rest geometrically


def test_no_texture_or_a_reset_falls_back_to_the_detection():
    flat = torch.full((3, H, W), 0.5)
    tracker = LandmarkTracker()
    tracker(flat, FACE)
    shifted = FACE + torch.tensor([3.0, -2.0])
    torch.testing.assert_close(tracker(flat, shifted), shifted)  # no features to follow
    textured = _warp(_texture(3), _similarity())
    tracker(textured, FACE)
    tracker.reset()
    torch.testing.assert_close(tracker(textured, shifted), shifted)


def test_a_detection_far_from_the_prediction_restarts_the_track():
    frame = _warp(_texture(4), _similarity())
    tracker = LandmarkTracker()
    tracker(frame, FACE)
    elsewhere = FACE + torch.tensor([30.0, 0.0])  # 0.75 eye distances away: a cut, or another face
    torch.testing.assert_close(tracker(frame, elsewhere), elsewhere)


@pytest.mark.parametrize("kwargs", [{"correction": 0.0}, {"restart": 0.0}, {"correction": 1.5}, {"min_features": 2},
                                    {"features": 4, "min_features": 8}, {"window": 2}, {"ransac_px": 0.0}])
def test_bad_config_is_refused(kwargs):
    with pytest.raises(ValueError):
        TrackerConfig(**kwargs)
