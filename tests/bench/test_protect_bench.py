"""`p3mask bench protect`: the timed post-detection step is protect_image itself, and a short real run."""

import json

import pytest
import torch

from p3mask.bench.machine import thread_count
from p3mask.bench.protect import run_protect
from p3mask.cli.main import main
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import load_image
from p3mask.models import load_model
from p3mask.protect.apply import protect_image
from p3mask.protect.key import P3Mask
from p3mask.timing import Timings


@pytest.mark.data
@pytest.mark.weights
def test_protecting_given_detections_equals_protecting_with_the_detector(lfw_user, quick_key_file):
    _, photos = lfw_user
    key = P3Mask.load(quick_key_file)
    detector, matcher = FaceDetector(), load_model(key.match_model)
    with thread_count(1):
        for path in photos[10:12]:
            image = load_image(path)
            whole, report = protect_image(key, image, detector=detector, matcher=matcher)
            split, split_report = protect_image(key, image, matcher=matcher, detections=detector.detect(image))
            assert report.protected == 1
            assert torch.equal(whole, split) and report == split_report


def _check_times(block, n):
    assert len(block["per_photo"]) == n and all(v > 0 for v in block["per_photo"])
    assert min(block["per_photo"]) <= block["median"] <= max(block["per_photo"])
    assert block["mean"] == pytest.approx(sum(block["per_photo"]) / n)


@pytest.mark.data
@pytest.mark.weights
def test_bench_protect_cli_with_a_key(lfw_user, quick_key_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("p3mask.bench.protect.TARGET_APPLY_MS", 1e6)  # every photo is protected within it
    user, photos = lfw_user
    out = tmp_path / "protect.json"
    assert main(["bench", "protect", "--key", str(quick_key_file), "--skip", "4", "--photos", "3", "--threads", "1",
                 "--repeat", "2", "--json", str(out)]) == 0
    assert "ms/photo" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert (r["benchmark"], r["user"], r["key"], r["key_learned"]) == ("protect", user, str(quick_key_file), None)
    assert (r["photos"], r["repeat"], r["threads"], r["opencv_threads"]) == (3, 2, 1, 1)
    assert r["skip"] == 4 and r["files"] == [p.name for p in photos[4:7]] and r["image_sizes"] == [[250, 250]]
    assert r["faces_detected"] >= 3 and r["photos_protected"] == 3
    key, detector = P3Mask.load(quick_key_file), FaceDetector()
    matcher, timings = load_model(key.match_model), Timings()
    with thread_count(1):  # as the bench ran
        reports = [protect_image(key, x, matcher=matcher, detections=detector.detect(x), timings=timings)[1]
                   for x in map(load_image, photos[4:7])]
    assert r["faces_weakened"] == sum(f.protected and f.strength < 1.0 for rep in reports for f in rep.faces)
    faces = sum(rep.protected for rep in reports)
    assert r["faces_protected"] == faces and r["quality_evaluations"] == timings.calls["quality"] / faces
    assert set(r["phases"]) == {"match", "warp", "quality_reference", "quality", "ssim", "other"}
    assert sum(r["phases"].values()) == pytest.approx(r["ms_per_face"])
    assert r["ms_per_face"] == pytest.approx(r["apply_ms"]["mean"] * 3 / faces)
    _check_times(r["encode_ms"], 3)
    _check_times(r["detect_ms"], 3)
    _check_times(r["apply_ms"], 3)
    assert r["target"] == {"apply_ms": 1e6, "met": True}


@pytest.mark.data
@pytest.mark.weights
def test_bench_protect_learns_a_quick_key_and_protects_other_photos(lfw_user):
    user, photos = lfw_user
    r = run_protect(photos=2, threads=1, learn_photos=4, learn_epochs=1)
    assert r["user"] == user and r["key"] is None
    assert r["key_learned"]["photos"] == 4 and r["key_learned"]["epochs"] == 1 and r["key_learned"]["seconds"] > 0
    assert r["skip"] == 4 and r["files"] == [p.name for p in photos[4:6]]  # not the photos the key learned from
    _check_times(r["apply_ms"], 2)


@pytest.mark.data
def test_bad_arguments(lfw_user, tmp_path, capsys):
    with pytest.raises(ValueError, match="repeat"):
        run_protect(repeat=0)
    with pytest.raises(ValueError, match="quick key learned from"):
        run_protect(skip=2)
    with pytest.raises(ValueError, match="cannot skip"):
        run_protect(skip=len(lfw_user[1]))
    missing = tmp_path / "none.p3m"
    assert main(["bench", "protect", "--key", str(missing)]) == 2
    assert "p3mask bench protect" in capsys.readouterr().err
