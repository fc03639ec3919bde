import hashlib
import subprocess

import pytest

from p3mask.weights import archives
from p3mask.weights.archives import ARCHIVES, Archive, FetchError, fetch_archive, sha256_of


def test_sha256_of(tmp_path):
    f = tmp_path / "a.bin"
    f.write_bytes(b"p3mask" * 1000)
    assert sha256_of(f) == hashlib.sha256(b"p3mask" * 1000).hexdigest()


def test_every_archive_is_pinned():
    for a in ARCHIVES.values():
        assert len(a.sha256) == 64 and ("==" in a.requirement or "@" in a.requirement[1:])


def test_fetch_reports_unreachable_registry(monkeypatch, tmp_path):
    monkeypatch.setenv("P3MASK_HOME", str(tmp_path))
    bogus = Archive("bogus", "pip", "p3mask-no-such-package-xyz==0.0.1", "nope.whl", "0" * 64)

    def fail(cmd, **kwargs):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version that satisfies the requirement")

    monkeypatch.setattr(archives.subprocess, "run", fail)
    with pytest.raises(FetchError, match="p3mask-no-such-package-xyz==0.0.1.*Could not find"):
        fetch_archive(bogus)


def test_fetch_rejects_checksum_mismatch(monkeypatch, tmp_path):
    monkeypatch.setenv("P3MASK_HOME", str(tmp_path))
    fake = Archive("fake", "pip", "fake==1.0", "fake-1.0.whl", "0" * 64)

    def write(cmd, cwd, **kwargs):
        (tmp_path / "archives").mkdir(exist_ok=True)
        (archives.Path(cwd) / "fake-1.0.whl").write_bytes(b"tampered")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(archives.subprocess, "run", write)
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_archive(fake)
    assert not fake.path.exists()


def test_npm_missing_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("P3MASK_HOME", str(tmp_path))
    monkeypatch.setattr(archives.shutil, "which", lambda name: None)
    with pytest.raises(FetchError, match="npm"):
        fetch_archive(Archive("x", "npm", "@scope/x@1.0.0", "scope-x-1.0.0.tgz", "0" * 64))
