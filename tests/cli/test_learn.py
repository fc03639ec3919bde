"""`p3mask learn` argument handling (learning itself is tested in tests/protect)."""

import pytest

from p3mask.cli.learn import run
from p3mask.cli.main import build_parser
from p3mask.cli.options import parse_team
from p3mask.protect.config import get_config


def _learn_call(monkeypatch, tmp_path, *flags) -> dict:
    """Run `p3mask learn` with ``flags`` up to the call of learn(); return what learn() was given."""
    seen = {}

    def fake_learn(photos, config, **kwargs):
        seen.update(photos=photos, config=config, **kwargs)
        raise ValueError("stopped before learning")

    monkeypatch.setattr("p3mask.cli.learn.learn", fake_learn)
    args = build_parser().parse_args(["learn", "a.jpg", "dir/", "--out", str(tmp_path / "k.p3m"), *flags])
    assert args.func is run and run(args) == 1  # the fake's error is reported as a failed learn
    return seen


def test_flags_reach_learning(monkeypatch, tmp_path):
    seen = _learn_call(monkeypatch, tmp_path, "--user", "alice", "--preset", "high", "--epochs", "3",
                       "--team", "sface,facenet", "--device", "cpu", "--seed", "7")
    config = seen["config"]
    assert seen["photos"] == ["a.jpg", "dir/"] and (seen["user"], seen["device"], seen["seed"]) == ("alice", "cpu", 7)
    assert (config.preset, config.epochs, config.team) == ("high", 3, ("sface", "facenet"))
    assert seen["out_dir"].folder == tmp_path / "k.learn"


def test_defaults_reach_learning(monkeypatch, tmp_path):
    seen = _learn_call(monkeypatch, tmp_path)
    config, preset = seen["config"], get_config("mid")
    assert (config.preset, config.epochs, config.team) == ("mid", preset.epochs, None)
    assert (seen["user"], seen["device"], seen["seed"]) == ("k", "auto", 0)  # the user is the key file's name


def test_parse_team():
    assert parse_team("auto") is None
    assert parse_team(" sface , mobilefacenet,sface") == ("sface", "mobilefacenet")
    with pytest.raises(ValueError, match="held-out"):
        parse_team("sface,dlib")
    with pytest.raises(ValueError, match="unknown model"):
        parse_team("arcface")
    with pytest.raises(ValueError):
        parse_team(",")


def test_bad_team_is_a_usage_error(capsys):
    args = build_parser().parse_args(["learn", "a.jpg", "--out", "k.p3m", "--team", "dlib"])
    assert run(args) == 2
    assert "held-out" in capsys.readouterr().err


def test_no_readable_photo_fails_cleanly(tmp_path, capsys):
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    args = build_parser().parse_args(["learn", str(bad), "--out", str(tmp_path / "k.p3m"), "--team", "mobileface"])
    assert run(args) == 1
    assert "no readable photo" in capsys.readouterr().err
    assert not (tmp_path / "k.p3m").exists()
