"""``p3mask unlock``: one line per file, clear errors, non-zero exit when anything failed."""

import argparse

import pytest
import torch
from PIL import Image

from p3mask.cli import unlock as unlock_cli
from p3mask.protect.key import P3Mask

FRAME_TEMPLATE = ((30.0, 34.0), (50.0, 34.0), (40.0, 46.0), (32.0, 56.0), (48.0, 56.0))


def _key(path):
    g = torch.Generator().manual_seed(0)
    eps = 8 / 255
    mask = (torch.rand(3, 80, 80, generator=g) * 2 - 1) * eps
    key = P3Mask(mask=mask, epsilon=eps, frame_size=(80, 80), template=FRAME_TEMPLATE, team=("sface",),
                 quality_floor=70.0, quality_min=70.5, quality_mean=73.0, preset="mid", user="alice",
                 references={"sface": torch.nn.functional.normalize(torch.randn(128, generator=g), dim=0)},
                 match_model="sface", match_threshold=0.4, photos=3)
    return key.save(path)


def _run(*argv) -> int:
    parser = argparse.ArgumentParser()
    unlock_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(["unlock", *map(str, argv)])
    return args.func(args)


def test_foreign_key_is_rejected(tmp_path, capsys):
    bad = tmp_path / "bad.p3m"
    bad.write_bytes(b"not a key at all")
    photo = tmp_path / "a.png"
    Image.new("RGB", (64, 64), (120, 90, 80)).save(photo)
    assert _run("--key", bad, photo, "--out", tmp_path / "out") == 2
    assert "bad.p3m" in capsys.readouterr().err


@pytest.mark.weights
def test_each_bad_file_gets_a_line_and_nonzero_exit(tmp_path, capsys):
    key = _key(tmp_path / "alice.p3m")
    flat = tmp_path / "flat.png"
    Image.new("RGB", (96, 96), (120, 90, 80)).save(flat)  # no face in it
    fake = tmp_path / "fake.jpg"
    fake.write_text("this is text")
    code = _run("--key", key, flat, fake, tmp_path / "missing.jpg", "--out", tmp_path / "out")
    err = capsys.readouterr().err
    assert code == 1
    assert "flat.png: nothing to unlock: no face found" in err
    assert "fake.jpg" in err and "missing.jpg: file not found" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
