"""`p3mask learn` argument handling (learning itself is tested in tests/protect)."""

import pytest

from p3mask.cli.learn import parse_team, run
from p3mask.cli.main import build_parser


def test_flags_map_onto_the_config():
    args = build_parser().parse_args(
        ["learn", "a.jpg", "dir/", "--out", "k.p3m", "--user", "alice", "--preset", "high", "--epochs", "3",
         "--team", "sface,facenet", "--device", "cpu"]
    )
    assert args.func is run
    assert args.photos == ["a.jpg", "dir/"] and args.out == "k.p3m" and args.user == "alice"
    assert (args.preset, args.epochs, args.team, args.device) == ("high", 3, "sface,facenet", "cpu")


def test_defaults():
    args = build_parser().parse_args(["learn", "a.jpg", "--out", "k.p3m"])
    assert (args.preset, args.epochs, args.team, args.device, args.user) == ("mid", None, "auto", "auto", None)


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
