"""Planning a batch (no models): user folders, manifests, what is done, what is refused."""

import numpy as np
import pytest
import torch
from PIL import Image

from p3mask.batch.jobs import key_path, plan_photos, plan_users, read_manifest
from p3mask.models.thresholds import match_threshold
from p3mask.protect.config import CANONICAL_SIZE, CANONICAL_TEMPLATE, get_config
from p3mask.protect.key import P3Mask


def _photo(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _key(user: str, preset: str = "mid") -> P3Mask:
    g = torch.Generator().manual_seed(0)
    eps = get_config(preset).rgb_bound
    return P3Mask(
        mask=(torch.rand(3, *CANONICAL_SIZE, generator=g) * 2 - 1) * eps,
        epsilon=eps,
        frame_size=CANONICAL_SIZE,
        template=CANONICAL_TEMPLATE,
        team=("mobileface",),
        quality_floor=get_config(preset).quality_floor,
        quality_min=80.0,
        quality_mean=81.0,
        preset=preset,
        user=user,
        references={"mobilefacenet": torch.nn.functional.normalize(torch.randn(192, generator=g), dim=0)},
        match_model="mobilefacenet",
        match_threshold=match_threshold("mobilefacenet"),
        photos=3,
    )


def test_users_planned_with_valid_keys_skipped_and_bad_ones_refused(tmp_path):
    users, keys = tmp_path / "users", tmp_path / "keys"
    for name in ("alice", "bob", "carol", "dave", ".hidden"):
        _photo(users / name / "1.png")
    _photo(users / "loose.png")
    _key("alice").save(key_path(keys, "alice"))
    _key("bob", preset="low").save(key_path(keys, "bob"))  # another preset: not what is asked
    key_path(keys, "carol").write_bytes(b"half a key")  # damaged
    plan = plan_users(users, keys, get_config("mid"))
    assert [job.user for job in plan.jobs] == ["dave"]
    states = {r.name: r.state for r in plan.refusals}
    assert states == {"alice": "done", "bob": "failed", "carol": "failed", str(users / "loose.png"): "ignored"}
    why = {r.name: r.why for r in plan.refusals}
    assert "not replaced" in why["carol"] and "low key" in why["bob"]
    again = plan_users(users, keys, get_config("mid"), overwrite=True)
    assert [job.user for job in again.jobs] == ["alice", "bob", "carol", "dave"]
    with pytest.raises(ValueError, match="not a folder"):
        plan_users(tmp_path / "nowhere", keys, get_config("mid"))


def test_photos_from_user_folders_keep_their_paths_and_done_copies_are_skipped(tmp_path):
    photos, out = tmp_path / "photos", tmp_path / "out"
    _photo(photos / "alice" / "a.png")
    _photo(photos / "alice" / "trip" / "b.png", 1)
    (photos / "alice" / "notes.txt").write_text("not a photo")
    _photo(out / "alice" / "a.png")  # a finished copy
    (out / "alice" / "trip").mkdir(parents=True)
    (out / "alice" / "trip" / "b.png").write_bytes(b"broken")  # not a photo: refused, not replaced
    plan = plan_photos(photos, out)
    assert plan.jobs == []
    states = {r.name: r.state for r in plan.refusals}
    assert states == {
        str(photos / "alice" / "notes.txt"): "ignored",
        str(photos / "alice" / "a.png"): "done",
        str(photos / "alice" / "trip" / "b.png"): "failed",
    }
    jobs = plan_photos(photos, out, overwrite=True).jobs
    assert [(j.user, j.target) for j in jobs] == [
        ("alice", out / "alice" / "a.png"),
        ("alice", out / "alice" / "trip" / "b.png"),
    ]


def test_manifest_rows_name_photos_relative_to_the_manifest(tmp_path):
    _photo(tmp_path / "in" / "x.png")
    _photo(tmp_path / "in2" / "x.png", 1)
    manifest = tmp_path / "list.csv"
    manifest.write_text("photo,user\nin/x.png,alice\n\nin2/x.png,alice\nin/x.png,bob\nmissing.png,bob\n")
    assert read_manifest(manifest) == {
        "alice": [tmp_path / "in/x.png", tmp_path / "in2/x.png"],
        "bob": [tmp_path / "in/x.png", tmp_path / "missing.png"],
    }
    plan = plan_photos(manifest, tmp_path / "out")
    assert [(j.user, j.source, j.target) for j in plan.jobs] == [
        ("alice", tmp_path / "in/x.png", tmp_path / "out/alice/x.png"),
        ("bob", tmp_path / "in/x.png", tmp_path / "out/bob/x.png"),
    ]
    why = {r.name: r.why for r in plan.refusals}
    assert (
        "already taken" in why[str(tmp_path / "in2/x.png")] and why[str(tmp_path / "missing.png")] == "file not found"
    )


@pytest.mark.parametrize(
    "text, problem",
    [
        ("user,photo\na.png,alice\n", "header"),
        ("photo,user\na.png\n", "line 2"),
        ("", "header"),
        ("photo,user\n,alice\n", "line 2"),
    ],
)
def test_malformed_manifest_is_refused_with_its_line(tmp_path, text, problem):
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(ValueError, match=problem):
        plan_photos(manifest, tmp_path / "out")
