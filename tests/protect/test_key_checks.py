"""Keys that lie: edited bytes fail the digest; a key forged with a fresh digest fails a range check.

Each case says which check failed, and ``p3mask protect`` refuses the key with one line (exit 2).
"""

import json
import math
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).parents[1] / "cli"))
import safety_corpus as corpus  # noqa: E402

from p3mask.cli.main import main  # noqa: E402
from p3mask.protect.config import PRESETS  # noqa: E402
from p3mask.protect.key import KeyFileError, P3Mask  # noqa: E402
from p3mask.protect.key_checks import FLOOR_FIELDS, KeyCheckError, check_key, key_digest  # noqa: E402


def _read(path):
    with safe_open(str(path), framework="pt") as fh:
        return dict(fh.metadata()), {n: fh.get_tensor(n) for n in fh.keys()}


def _forge(path, meta=None, tensors=None, digest=True):
    """Rewrite the key at ``path`` with changed meta fields / tensors; a fresh digest unless told."""
    header, stored = _read(path)
    fields = json.loads(header["meta"])
    fields.update(meta or {})
    header["meta"] = json.dumps(fields, sort_keys=True)
    stored.update(tensors or {})
    if digest:
        header.pop("sha256")
        header["sha256"] = key_digest(header, stored)
    save_file(stored, str(path), metadata=header)
    return path


@pytest.fixture
def key_file(tmp_path):
    corpus.key(tmp_path / "k.p3m")
    return tmp_path / "k.p3m"


def test_a_valid_key_passes(key_file):
    check_key(P3Mask.load(key_file))


def test_flipped_byte_is_refused(key_file):
    data = bytearray(key_file.read_bytes())
    data[-100] ^= 0x01  # inside the last tensor's bytes
    key_file.write_bytes(bytes(data))
    with pytest.raises(KeyFileError, match="failed check 'digest'"):
        P3Mask.load(key_file)


@pytest.mark.parametrize("edit", ["negated mask", "match model", "floor"])
def test_edits_without_a_new_digest_are_refused(key_file, edit):
    _, tensors = _read(key_file)
    if edit == "negated mask":
        _forge(key_file, tensors={"mask": -tensors["mask"]}, digest=False)
    elif edit == "match model":
        _forge(key_file, meta={"match_model": "mobilefacenet"}, digest=False)
    else:
        _forge(key_file, meta={"quality_floor": 0.0}, digest=False)
    with pytest.raises(KeyFileError, match="failed check 'digest'"):
        P3Mask.load(key_file)


NAN = float("nan")
FORGED = {
    "zero mask": ({}, {"mask": torch.zeros(3, 128, 128)}, "mask"),
    "mask +-1, epsilon 1, floor 0": ({"epsilon": 1.0, "quality_floor": 0.0}, {"mask": torch.ones(3, 128, 128)},
                                     "epsilon"),
    "floor 0": ({"quality_floor": 0.0}, {}, "quality_floor"),
    "floor -5": ({"quality_floor": -5.0}, {}, "quality_floor"),
    "floor 100": ({"quality_floor": 100.0}, {}, "quality_floor"),
    "epsilon beyond the preset": ({"epsilon": PRESETS["mid"].rgb_bound * 1.5}, {}, "epsilon"),
    "negative threshold": ({"match_threshold": -0.5}, {}, "match threshold"),
    "NaN references": ({}, {"reference.sface": torch.full((128,), NAN)}, "references"),
    "wrongly sized reference": ({}, {"reference.sface": torch.nn.functional.normalize(torch.ones(64), dim=0)},
                                "references"),
    "unnormalised reference": ({}, {"reference.sface": torch.ones(128)}, "references"),
    "degenerate template": ({"template": [[60.0, 60.0]] * 5}, {}, "template"),
    "template outside the frame": ({"template": [[300.0, 60.0]] * 5}, {}, "template"),
    "escape codes in the user name": ({"user": "ali\x1b[2Jce"}, {}, "user"),
    "unknown preset": ({"preset": "ultra"}, {}, "preset"),
    "held-out team member": ({"team": ["dlib"]}, {}, "team"),
    "no photos": ({"photos": 0}, {}, "photos"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_forged_keys_fail_the_named_check(key_file, case):
    meta, tensors, check = FORGED[case]
    _forge(key_file, meta, tensors)
    with pytest.raises(KeyFileError, match=f"refused: failed check '{check}'"):
        P3Mask.load(key_file)


def test_nan_epsilon_is_refused(key_file):
    # JSON has no NaN literal in strict parsers, but Python writes and reads one: the check must catch it
    _forge(key_file, {"epsilon": NAN})
    with pytest.raises(KeyFileError, match="failed check"):
        P3Mask.load(key_file)


def test_floor_checks_follow_the_presets(monkeypatch):
    key = corpus.key()
    assert "quality_floor" in FLOOR_FIELDS
    check_key(key)
    from dataclasses import replace

    stricter = replace(PRESETS["mid"], quality_floor=75.0)
    monkeypatch.setitem(PRESETS, "mid", stricter)  # the lead changes the preset: old loose keys are refused
    with pytest.raises(KeyCheckError, match="failed check 'quality_floor'"):
        check_key(key)


def test_protect_refuses_a_forged_key_with_one_line(key_file, tmp_path, capsys):
    _forge(key_file, {"match_threshold": -1.0})
    photo = corpus.photo(tmp_path / "x.jpg")
    assert main(["protect", "--key", str(key_file), str(photo), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refused: failed check 'match threshold'" in err
    assert not (tmp_path / "out").exists()


def test_save_refuses_to_replace_and_checks_what_it_wrote(key_file, tmp_path):
    before = key_file.read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        corpus.key().save(key_file)
    assert key_file.read_bytes() == before
    corpus.key(user="bob").save(key_file, overwrite=True)
    assert P3Mask.load(key_file).user == "bob"
    bad = corpus.key(match_threshold=-1.0)  # a key that would not load is never written
    with pytest.raises(OSError, match="does not read back"):
        bad.save(tmp_path / "bad.p3m")
    assert not (tmp_path / "bad.p3m").exists() and not list(tmp_path.glob(".*.part"))
    assert math.isfinite(P3Mask.load(key_file).epsilon)
