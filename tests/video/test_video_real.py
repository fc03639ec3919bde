"""A real key on a clip made from LFW photos: the user's face masked through pan, zoom and rotation, the
stranger and the empty frames left alone, the audio intact, the mask following the face (slow)."""

import json

import av
import numpy as np
import pytest
import torch

from p3mask.bench.learn import lfw_user_photos
from p3mask.cli.main import main
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image
from p3mask.models import load_model
from p3mask.paths import data_root
from p3mask.protect.config import get_config
from p3mask.protect.learning import learn
from p3mask.video.files import protect_video_frames
from p3mask.video.flicker import flicker
from p3mask.video.io import VideoWriter, audio_packets, decode_frames, open_video
from p3mask.video.protector import VideoConfig
from p3mask.video.synthetic import ClipPlan, make_clip

pytestmark = [pytest.mark.slow, pytest.mark.data, pytest.mark.weights]
QUICK_TEAM = ("mobilefacenet", "mobileface")
PLAN = ClipPlan()  # 2 s, 320x240, 30 fps: stranger in 30-50% of it, nobody in 75-85%


@pytest.fixture(scope="module")
def material(tmp_path_factory):
    """``(key, key file, clip, photo the clip is made of, the user's affine per frame)``."""
    user, photos = lfw_user_photos()
    torch.manual_seed(0)
    key = learn(photos[:4], get_config("mid", epochs=1, team=QUICK_TEAM), user=user, device="cpu",
                progress=False).key
    folder = tmp_path_factory.mktemp("video")
    stranger = sorted((data_root() / "lfw" / "Tony_Blair").glob("*.jpg"))[0]
    affines = make_clip(folder / "in" / "clip.mp4", photos[10], stranger, PLAN)
    return key, key.save(folder / "user.p3m"), folder / "in" / "clip.mp4", photos[10], affines


def _frames(path):
    with av.open(str(path)) as box:
        return [f.to_ndarray(format="rgb24").astype(np.float32) / 255 for f in box.decode(video=0)]


def test_cli_protects_the_clip_like_its_source(material, tmp_path, capsys):
    key, key_file, clip, _, affines = material
    out = tmp_path / "out"
    assert main(["protect", "--key", str(key_file), str(clip), "--out", str(out), "--device", "cpu"]) == 0
    assert "frames protected" in capsys.readouterr().out
    written = out / "clip.mp4"
    src, dst = open_video(clip), open_video(written)
    assert (dst.width, dst.height, dst.rate, dst.frames) == (src.width, src.height, src.rate, PLAN.frames)
    assert dst.duration == pytest.approx(src.duration, abs=1 / PLAN.fps)
    assert audio_packets(written) == audio_packets(clip)
    summary = json.loads((out / "clip.mp4.json").read_text())
    with_user = sum(a is not None for a in affines)
    assert summary["skipped"]["no_face"] == PLAN.frames - with_user
    assert summary["protected"] >= 0.9 * with_user
    assert summary["quality"]["masked"]["min"] >= key.quality_floor + VideoConfig.floor_margin  # on every frame
    assert summary["decoded_below_floor"] <= 0.05 * summary["protected"]  # and after encoding
    # the stranger's face is left alone: it changes as much as by re-encoding the clip untouched; against
    # that untouched re-encoding (the encoder's own change cancels), the user's face differs several times
    # more than the stranger's (the mask)
    a, b, c = _frames(clip), _frames(written), _frames(_reencode(clip, tmp_path / "plain.mp4"))
    stranger = [i for i in range(PLAN.frames) if PLAN.stranger[0] <= i / PLAN.frames < PLAN.stranger[1]]

    def change(x, y, rows, cols):
        return float(np.mean([np.abs(x[i] - y[i])[rows, cols] for i in stranger]))

    right, face = (slice(60, 180), slice(235, 300)), (slice(80, 170), slice(90, 160))
    assert change(a, b, *right) < 1.3 * change(a, c, *right)
    assert change(b, c, *face) > 4.0 * change(b, c, *right)


def _reencode(clip, path):
    """The clip through the same writer with no frame changed."""
    with av.open(str(clip)) as box:
        writer = VideoWriter(path, box, "mp4")
        for frame, packet in decode_frames(box, clip):
            writer.write(frame) if packet is None else writer.copy(packet)
        writer.close()
    return path


def _landmark_jitter(outcomes, truth):
    """Mean frame-to-frame change of the error against the true landmarks, over consecutive protected frames."""
    steps = [(o1.landmarks - t1) - (o0.landmarks - t0) for o0, o1, t0,
             t1 in zip(outcomes, outcomes[1:], truth, truth[1:])
             if o0.protected and o1.protected]
    return float(torch.stack(steps).norm(dim=-1).mean())


def test_mask_follows_the_face_not_the_detector_noise(material, tmp_path):
    key, _, clip, photo, affines = material
    detector, matcher = FaceDetector(), load_model(key.match_model)
    base = detector.detect(load_image(photo)).largest().landmarks[0].double()
    truth = [None if m is None else (torch.from_numpy(m) @ torch.cat([base, torch.ones(5, 1, dtype=base.dtype)],
                                                                     1).T).T.float()
             for m in affines]
    results = {}
    for smooth in (True, False):
        _, outcomes = protect_video_frames(key, clip, tmp_path / str(smooth), detector, matcher,
                                           VideoConfig(smooth=smooth))
        figure = flicker(clip, tmp_path / str(smooth) / "clip.mp4", [o.landmarks for o in outcomes],
                         key.template, key.frame_size)
        results[smooth] = (figure, _landmark_jitter(outcomes, truth))
    (smooth_fig, smooth_jitter), (raw_fig, raw_jitter) = results[True], results[False]
    assert smooth_jitter < 0.6 * raw_jitter  # the filter removes most of the detector's frame-to-frame noise
    assert smooth_fig["pairs"] >= 40
    assert abs(smooth_fig["relative"]) <= 0.10  # the issue: flicker within 10% of the original's
    assert smooth_fig["added"] < raw_fig["added"]
