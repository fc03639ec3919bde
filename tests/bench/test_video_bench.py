"""`p3mask bench video` on a short clip with a quick real key (slow)."""

import pytest
from PIL import Image

from p3mask.bench.video import run_video
from p3mask.cli.bench import run_video_cmd, video_summary
from p3mask.cli.main import build_parser


def test_flags():
    args = build_parser().parse_args(["bench", "video", "--seconds", "2", "--size", "180", "320", "--scales",
                                      "--every", "3", "--models", "mobileface"])
    assert args.func is run_video_cmd and args.scales == [] and args.size == [180, 320] and args.every == 3


def test_an_existing_strip_is_refused_before_any_work(tmp_path, capsys):
    strip = tmp_path / "strip.png"
    strip.write_bytes(b"mine")
    from p3mask.cli.main import main

    assert main(["bench", "video", "--strip", str(strip), "--seconds", "1"]) != 0
    assert "already exists" in capsys.readouterr().err and strip.read_bytes() == b"mine"


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_short_clip_figures(quick_key_file, tmp_path):
    strip = tmp_path / "strip.png"
    r = run_video(key=quick_key_file, seconds=1.0, size=(180, 320), scales=(180,), scale_seconds=0.5, every=4,
                  models=["mobileface", "mobilefacenet"], threads=1, strip=strip)
    s = r["summary"]
    assert s["frames"] == 30 and s["protected"] >= 20
    assert set(r["speed"]["ms_per_frame"]) == {"decode", "detect", "apply", "encode", "verify", "total"}
    assert r["speed"]["fps"] > 0 and r["scaling"][0]["frames"] == 15
    assert r["flicker"]["pairs"] >= 15 and r["flicker"]["original"] > 0
    rec = r["protection"]["recognised"]
    assert set(rec) == {"mobileface", "mobilefacenet"} and r["protection"]["frames"] >= 5
    # the clean clip is recognised: the gallery and the re-detection work
    assert all(v["original"] >= 0.8 for v in rec.values())
    w, h = Image.open(strip).size
    assert w == 8 * (h // 2)
    assert len(video_summary(r)) >= 6
