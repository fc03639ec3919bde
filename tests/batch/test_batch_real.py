"""learn-many / protect-many on real LFW users with real weights: the local backend and a local Ray
(``ray.init(num_cpus=2)``) give the keys and copies that single ``learn`` / ``protect`` calls give;
a batch killed midway and run again finishes without redoing finished work or leaving partial files;
the originals are never touched.

Learning is kept cheap (3 photos, 1 epoch, the two fastest recognisers as the team), one thread.
"""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from p3mask.bench.machine import thread_count
from p3mask.cli.main import main
from p3mask.datasets.lfw import load_lfw
from p3mask.face.image_io import load_image
from p3mask.paths import data_root
from p3mask.protect.key import P3Mask

pytestmark = pytest.mark.slow

LEARN_FLAGS = ["--epochs", "1", "--team", "mobilefacenet,mobileface", "--seed", "3"]
USERS, TRAIN, TEST = 3, 3, 2  # users, photos learned from, photos protected per user
ROOT = Path(__file__).resolve().parents[2]


def _digests(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(p for p in folder.rglob(pattern) if p.is_file())


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """``USERS_DIR`` (3 photos of each of 3 LFW users), ``PHOTOS_DIR`` (2 other photos each), and their digests."""
    if not (data_root() / "lfw").is_dir():
        pytest.fail(f"LFW data missing: {data_root() / 'lfw'} (set P3MASK_DATA)")
    lfw = load_lfw()
    base = tmp_path_factory.mktemp("batch")
    for user in lfw.with_at_least(TRAIN + TEST)[:USERS]:
        photos = sorted(lfw.identities[user])
        for sub, chosen in (("users", photos[:TRAIN]), ("photos", photos[TRAIN:TRAIN + TEST])):
            (base / sub / user).mkdir(parents=True)
            for photo in chosen:
                shutil.copy(photo, base / sub / user / Path(photo).name)
    originals = {sub: _digests(base / sub) for sub in ("users", "photos")}
    yield base
    assert {sub: _digests(base / sub) for sub in ("users", "photos")} == originals  # never touched


def _summary(folder: Path, command: str) -> dict:
    (path,) = folder.glob(f"{command}-*.json")
    return json.loads(path.read_text())


def _same_key(a: Path, b: Path) -> None:
    ka, kb = P3Mask.load(a), P3Mask.load(b)
    assert torch.equal(ka.mask, kb.mask), f"{a} and {b}: the masks differ"
    assert ka.meta == kb.meta
    assert ka.references.keys() == kb.references.keys()
    assert all(torch.equal(ka.references[n], kb.references[n]) for n in ka.references)


@pytest.fixture(scope="module")
def single(dirs):
    """Keys of single ``p3mask learn`` calls and copies of single ``p3mask protect`` calls, one thread."""
    keys, out = dirs / "single_keys", dirs / "single_out"
    with thread_count(1):
        for folder in sorted((dirs / "users").iterdir()):
            assert main(["learn", str(folder), "--out", str(keys / f"{folder.name}.p3m"), *LEARN_FLAGS,
                         "--device", "cpu"]) == 0
            assert main(["protect", "--key", str(keys / f"{folder.name}.p3m"), str(dirs / "photos" / folder.name),
                         "--out", str(out / folder.name), "--device", "cpu"]) == 0
    return keys, out


@pytest.fixture(scope="module")
def local_keys(dirs):
    keys = dirs / "local_keys"
    assert main(["learn-many", str(dirs / "users"), "--out", str(keys), *LEARN_FLAGS, "--workers", "1"]) == 0
    return keys


@pytest.fixture(scope="module")
def local_ray():
    import ray  # in the test extra

    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_local_batch_gives_the_single_calls_keys_and_copies(dirs, single, local_keys):
    keys, out = single
    assert [p.name for p in _files(local_keys, "*.p3m")] == [p.name for p in _files(keys, "*.p3m")]
    for key in _files(keys, "*.p3m"):
        _same_key(key, local_keys / key.name)
    record = _summary(local_keys, "learn-many")
    assert record["counts"] == {"learned": USERS} and len(record["users"]) == USERS
    # two local worker processes
    copies = dirs / "local_out"
    assert main(["protect-many", str(dirs / "photos"), "--keys", str(local_keys), "--out", str(copies),
                 "--workers", "2"]) == 0
    assert {k: v for k, v in _digests(copies).items() if not k.endswith(".json")} == _digests(out)
    record = _summary(copies, "protect-many")
    assert record["counts"] == {"protected": USERS * TEST}
    workers = {p["worker"] for p in record["photos"]}  # pool processes (one may take all on a busy machine)
    assert 1 <= len(workers) <= 2 and not any(w.endswith(f":{os.getpid()}") for w in workers)
    assert all(set(p["seconds"]) == {"decode", "detect", "apply", "encode", "write"} for p in record["photos"])


def test_ray_batch_gives_the_single_calls_keys_and_copies(dirs, single, local_ray):
    keys, out = single
    ray_keys, copies = dirs / "ray_keys", dirs / "ray_out"
    assert main(["learn-many", str(dirs / "users"), "--out", str(ray_keys), *LEARN_FLAGS, "--backend", "ray"]) == 0
    for key in _files(keys, "*.p3m"):
        _same_key(key, ray_keys / key.name)
    assert _summary(ray_keys, "learn-many")["counts"] == {"learned": USERS}
    assert main(["protect-many", str(dirs / "photos"), "--keys", str(ray_keys), "--out", str(copies),
                 "--backend", "ray", "--workers", "2"]) == 0
    assert {k: v for k, v in _digests(copies).items() if not k.endswith(".json")} == _digests(out)
    assert local_ray.is_initialized()  # the caller's Ray is left running


def _kill_after_first(command: list[str], folder: Path, pattern: str) -> None:
    """Run ``p3mask COMMAND`` in a subprocess and SIGKILL it as soon as one ``pattern`` file is in ``folder``."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "p3mask", *command], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not (folder.is_dir() and any(folder.rglob(pattern))):
            assert proc.poll() is None, "the batch ended before anything was written"
            assert time.monotonic() < deadline, "nothing written in 300 s"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def _stamps(files: list[Path]) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def test_killed_learn_many_is_finished_by_a_rerun(dirs, local_keys):
    keys = dirs / "killed_keys"
    _kill_after_first(["learn-many", str(dirs / "users"), "--out", str(keys), *LEARN_FLAGS, "--workers", "1"],
                      keys, "*.p3m")
    finished = _files(keys, "*.p3m")
    assert 1 <= len(finished) < USERS, "the kill should come between two users"
    for key in finished:
        P3Mask.load(key)  # complete and valid
    before = _stamps(finished)
    missing = sorted(set(os.listdir(dirs / "users")) - {p.stem for p in finished})
    leftover = keys / f".{missing[0]}.p3m.a1b2c3d4.part"  # as a kill during a write leaves it
    leftover.write_bytes(b"half a key")
    assert main(["learn-many", str(dirs / "users"), "--out", str(keys), *LEARN_FLAGS, "--workers", "1"]) == 0
    assert not leftover.exists() and not list(keys.glob(".*"))
    assert _stamps([keys / name for name in before]) == before  # not learned again
    status = {u["user"]: u["status"] for u in _summary(keys, "learn-many")["users"]}
    assert status == {**{p.stem: "skipped" for p in finished}, **{u: "learned" for u in missing}}
    for key in _files(local_keys, "*.p3m"):
        _same_key(key, keys / key.name)


def test_killed_protect_many_is_finished_by_a_rerun(dirs, single, local_keys):
    _, out = single
    copies = dirs / "killed_out"
    command = ["protect-many", str(dirs / "photos"), "--keys", str(local_keys), "--out", str(copies), "--workers", "1"]
    _kill_after_first(command, copies, "*.jpg")
    finished = _files(copies, "*.jpg")
    assert 1 <= len(finished) < USERS * TEST, "the kill should come between two photos"
    for photo in finished:
        load_image(photo)  # complete
    before = {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in finished}
    assert main(command) == 0
    assert {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in finished} == before
    assert not [p for p in copies.rglob(".*")]
    assert {k: v for k, v in _digests(copies).items() if not k.endswith(".json")} == _digests(out)
    counts = _summary(copies, "protect-many")["counts"]
    assert counts == {"skipped": len(finished), "protected": USERS * TEST - len(finished)}
