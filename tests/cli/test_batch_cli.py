"""`p3mask learn-many` / `protect-many` argument and input handling (the batches themselves: tests/batch)."""

import json

import numpy as np
from PIL import Image

from p3mask.cli.main import build_parser, main


def test_flags_map_onto_the_settings():
    args = build_parser().parse_args(["learn-many", "users", "--out", "keys", "--epochs", "3", "--backend", "ray",
                                      "--address", "ray://head:10001", "--workers", "8", "--threads", "2"])
    assert (args.command, args.epochs, args.backend, args.address, args.workers, args.threads) == (
        "learn-many", 3, "ray", "ray://head:10001", 8, 2)
    args = build_parser().parse_args(["protect-many", "photos.csv", "--keys", "k", "--out", "o", "--strict-match"])
    assert (args.backend, args.workers, args.threads, args.device, args.strict_match) == ("local", None, 1, "cpu", True)


def test_bad_inputs_stop_before_any_work(tmp_path, capsys):
    assert main(["learn-many", str(tmp_path / "nowhere"), "--out", str(tmp_path / "keys")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "m.csv").write_text("user,photo\n")
    assert main(["protect-many", str(tmp_path / "m.csv"), "--keys", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "header line 'photo,user'" in capsys.readouterr().err
    assert main(["learn-many", str(tmp_path), "--out", str(tmp_path / "keys"), "--address", "x:1"]) == 2
    assert "--address is for --backend ray" in capsys.readouterr().err
    assert not (tmp_path / "keys").exists() and not (tmp_path / "o").exists()


def test_a_user_without_a_key_fails_per_photo_and_the_summary_says_so(tmp_path, capsys):
    photo = tmp_path / "photos" / "alice" / "a.png"
    photo.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(photo)
    summary = tmp_path / "summary.json"
    assert main(["protect-many", str(tmp_path / "photos"), "--keys", str(tmp_path / "keys"), "--out",
                 str(tmp_path / "out"), "--json", str(summary)]) == 1
    assert "no such key file" in capsys.readouterr().err
    record = json.loads(summary.read_text())
    assert record["counts"] == {"failed": 1} and record["photos"][0]["source"] == str(photo)
    assert main(["protect-many", str(tmp_path / "photos"), "--keys", str(tmp_path / "keys"), "--out",
                 str(tmp_path / "out"), "--json", str(summary)]) == 2  # the summary is never replaced
