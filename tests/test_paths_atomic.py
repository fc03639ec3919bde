import json
import math
import os
import stat

import pytest

from p3mask.atomic import atomic_path, write_json
from p3mask.paths import cache_dir, weights_dir


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("P3MASK_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home"
    assert weights_dir() == tmp_path / "home" / "weights"
    monkeypatch.delenv("P3MASK_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "p3mask"


def test_atomic_path_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("plain")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~umask
    with atomic_path(target, mode=0o600, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_write_json_is_strict_json(tmp_path):
    path = write_json({"a": math.nan, "b": (1, 2.5), 3: {"c": math.inf}}, tmp_path / "out.json")
    assert path == tmp_path / "out.json"
    assert json.loads(path.read_text()) == {"a": None, "b": [1, 2.5], "3": {"c": None}}
    assert "NaN" not in path.read_text() and not list(tmp_path.glob("*.part"))


def test_unfinished_writes_lists_only_the_temporaries_of_the_targets(tmp_path):
    from p3mask.atomic import unfinished_writes

    target, other = tmp_path / "a.b.jpg", tmp_path / "c.jpg"
    mine = tmp_path / ".a.b.jpg.x1_y2z3w.part"
    for path in (mine, tmp_path / ".c.jpg.abcdefgh.part", tmp_path / ".a.b.jpg.short.part", tmp_path / "a.b.jpg"):
        path.write_text("x")
    assert unfinished_writes([target]) == [mine]
    assert unfinished_writes([tmp_path / "missing" / "d.jpg"]) == []
    assert len(unfinished_writes([target, other])) == 2
