"""Video files: written like the source (size, rate, frame count, audio bit for bit, no metadata), refused
cleanly when bad, never overwritten, nothing left behind on failure."""

import json

import av
import numpy as np
import pytest
from video_clips import grey_frames

from p3mask.video.files import protect_video, video_target
from p3mask.video.io import VideoError, audio_packets, open_video
from p3mask.video.protector import VideoConfig
from p3mask.video.synthetic import write_clip


def _decoded_audio(path):
    with av.open(str(path)) as box:
        return np.concatenate([f.to_ndarray() for f in box.decode(audio=0)], axis=1)


@pytest.mark.weights
def test_faceless_clip_passes_through_with_its_audio_bit_for_bit(faceless_clip, stranger_key, tmp_path):
    out = tmp_path / "out"
    summary = protect_video(stranger_key, faceless_clip, out)
    written = out / "still.mp4"
    assert sorted(p.name for p in out.iterdir()) == ["still.mp4", "still.mp4.json"]
    src, dst = open_video(faceless_clip), open_video(written)
    assert (dst.width, dst.height, dst.rate, dst.frames) == (src.width, src.height, src.rate, 25)
    assert dst.duration == pytest.approx(src.duration, abs=1 / 25)
    assert audio_packets(written) == audio_packets(faceless_clip) and len(audio_packets(written)) > 10
    np.testing.assert_array_equal(_decoded_audio(written), _decoded_audio(faceless_clip))
    assert summary.frames == 25 and summary.protected == 0 and summary.skipped["no_face"] == 25
    assert json.loads((out / "still.mp4.json").read_text())["frames"] == 25
    with av.open(str(written)) as box:
        assert box.streams.video[0].codec_context.name == "h264"
        assert not {k for k in box.metadata if k not in ("major_brand", "minor_version", "compatible_brands",
                                                         "encoder")}


@pytest.mark.weights
def test_container_metadata_is_stripped(tmp_path, stranger_key):
    src = tmp_path / "tagged.mov"
    with av.open(str(src), "w", format="mov") as box:
        box.metadata.update({"location": "+48.8584+002.2945/", "make": "PhoneCo", "model": "X1", "title": "home"})
        v = box.add_stream("libx264", rate=25)
        v.width, v.height, v.pix_fmt = 128, 96, "yuv420p"
        for f in grey_frames(10):
            box.mux(v.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        box.mux(v.encode(None))
    with av.open(str(src)) as box:
        assert "location" in box.metadata or "location-eng" in box.metadata  # the tag is really there
    protect_video(stranger_key, src, tmp_path / "out")
    with av.open(str(tmp_path / "out" / "tagged.mov")) as box:
        tags = " ".join(f"{k}={v}" for k, v in box.metadata.items()).lower()
        assert "48.8584" not in tags and "phoneco" not in tags and "home" not in tags


@pytest.mark.weights
def test_webm_is_written_as_matroska_with_its_opus_audio(tmp_path, stranger_key):
    src = write_clip(tmp_path / "clip.webm", grey_frames(12), fps=24, codec="libvpx-vp9", audio_codec="libopus")
    protect_video(stranger_key, src, tmp_path / "out")
    written = video_target(src, tmp_path / "out")
    assert written.name == "clip.mkv"
    assert audio_packets(written) == audio_packets(src)
    assert open_video(written).frames in (0, 12)


def test_existing_output_is_never_overwritten(faceless_clip, stranger_key, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "still.mp4").write_bytes(b"mine")
    with pytest.raises(VideoError, match="still.mp4: already exists"):
        protect_video(stranger_key, faceless_clip, out)
    assert (out / "still.mp4").read_bytes() == b"mine" and sorted(p.name for p in out.iterdir()) == ["still.mp4"]


@pytest.mark.parametrize("case", ["not_a_video", "truncated", "no_video_stream", "missing", "over_pixel_limit"])
def test_bad_inputs_are_refused_and_leave_nothing(case, faceless_clip, stranger_key, tmp_path):
    src = tmp_path / f"{case}.mp4"
    if case == "not_a_video":
        src.write_text("hello, I am text\n" * 50)
        problem = "not a readable video"
    elif case == "truncated":
        src.write_bytes(faceless_clip.read_bytes()[: faceless_clip.stat().st_size // 2])
        problem = "not a readable video|corrupt|decoded"
    elif case == "no_video_stream":
        with av.open(str(src), "w") as box:
            a = box.add_stream("aac", rate=48000)
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="flt", layout="mono")
            frame.sample_rate = 48000
            box.mux(a.encode(frame))
            box.mux(a.encode(None))
        problem = "no video stream"
    elif case == "missing":
        problem = "file not found"
    else:
        src = faceless_clip
        problem = "megapixels/s, over the limit"
    limit = 0.2e6 if case == "over_pixel_limit" else VideoConfig.max_pixel_rate
    out = tmp_path / "out"
    with pytest.raises(VideoError, match=problem) as info:
        protect_video(stranger_key, src, out, config=VideoConfig(max_pixel_rate=limit))
    assert str(info.value).startswith(src.name)
    assert not out.exists() or not list(out.iterdir())


def test_4k60_is_over_the_default_limit(tmp_path):
    src = tmp_path / "big.mp4"
    with av.open(str(src), "w") as box:
        v = box.add_stream("libx264", rate=60)
        v.width, v.height, v.pix_fmt, v.options = 3840, 2160, "yuv420p", {"preset": "ultrafast"}
        box.mux(v.encode(av.VideoFrame.from_ndarray(np.zeros((2160, 3840, 3), np.uint8), format="rgb24")))
        box.mux(v.encode(None))
    with pytest.raises(VideoError, match="3840x2160 at 60 fps is 498 megapixels/s"):
        open_video(src)
    assert open_video(src, max_pixel_rate=500e6).width == 3840


def test_unwritable_output_is_one_clear_error(faceless_clip, stranger_key, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(VideoError, match="cannot create the output folder"):
        protect_video(stranger_key, faceless_clip, blocker / "out")


@pytest.mark.weights
def test_interrupted_run_leaves_no_partial_file(faceless_clip, stranger_key, tmp_path, monkeypatch):
    from p3mask.video import protector

    calls = []

    def interrupt(self, image):
        calls.append(image.shape)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return image, protector.FrameOutcome("no_face")

    monkeypatch.setattr(protector.FrameProtector, "__call__", interrupt)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        protect_video(stranger_key, faceless_clip, out)
    assert len(calls) == 5 and list(out.iterdir()) == []


@pytest.mark.weights
def test_cli_bad_video_is_one_line_and_non_zero(tmp_path, capsys, stranger_key):
    from p3mask.cli.main import main

    key = stranger_key.save(tmp_path / "k.p3m")
    bad = tmp_path / "broken.mov"
    bad.write_bytes(b"\x00\x00\x00\x18ftypqt  " + b"\x17" * 400)
    out = tmp_path / "out"
    assert main(["protect", "--key", str(key), str(bad), "--out", str(out), "--device", "cpu"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("p3mask protect: broken.mov: ")
    assert not out.exists() or not list(out.iterdir())


def test_cli_video_flags():
    from p3mask.cli.main import build_parser

    args = build_parser().parse_args(["protect", "--key", "k.p3m", "a.mp4", "--out", "o", "--crf", "20",
                                      "--max-pixel-rate", "600", "--no-smoothing"])
    from p3mask.video.command import video_config

    assert video_config(args) == VideoConfig(crf=20, max_pixel_rate=600e6, smooth=False)
    no_margin = build_parser().parse_args(["protect", "--key", "k", "a.mp4", "--out", "o", "--floor-margin", "0"])
    assert video_config(no_margin).floor_margin == 0 != VideoConfig().floor_margin  # the flag reaches the config
