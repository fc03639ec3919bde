"""The one file writer of p3mask: a reader sees no file, the old file or the complete new one, never
half of one, and no existing file is replaced unless the caller says so.

:func:`atomic_path` (and :func:`write_json` built on it) is what every command uses to write photos,
crops, keys, reports and learning artefacts. It

1. refuses a target that already exists unless ``overwrite`` is true (:class:`TargetExistsError`),
2. has the caller write a temporary file in the target's own folder (so the rename cannot cross
   file systems),
3. flushes it to the disk (``fsync``),
4. checks it: not empty, and whatever ``verify`` checks (an image decodes at the expected size, a key
   reloads and passes its digest) (:class:`VerifyError`),
5. renames it into place: with ``overwrite`` false by a hard link, which fails if a file appeared at
   the target meanwhile, so even a race cannot replace one.

A full disk or any other write failure is raised as :class:`WriteError` naming the file; the
temporary file is always removed and the target is left as it was.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

# Temporary files of atomic_path: "." + target name + "." + mkstemp's 8 random characters + suffix.
_TEMP_SUFFIX = ".part"
_TEMP_NAME = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{8}" + re.escape(_TEMP_SUFFIX) + "$")


class WriteError(OSError):
    """A file could not be written; the message names the file and says why (for example: disk full)."""

    def __str__(self) -> str:
        return self.strerror or super().__str__()  # the message alone, without "[Errno N]"


class TargetExistsError(WriteError, FileExistsError):
    """The target already exists and ``overwrite`` was not given."""


class VerifyError(WriteError):
    """The written file did not read back as what was meant to be written (short write, corrupt)."""


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put back at once)."""
    current = os.umask(0)
    os.umask(current)
    return current


def describe_os_error(exc: OSError) -> str:
    """A short reason for a failed write: ``"disk full (no space left on device)"`` for ENOSPC."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "disk full (no space left on device)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"not allowed to write there ({exc.strerror})"
    return exc.strerror or str(exc)


def check_target(target: str | os.PathLike, overwrite: bool = False) -> None:
    """Raise :class:`TargetExistsError` when ``target`` exists (and ``overwrite`` is false) or is a folder."""
    target = Path(target)
    if target.is_dir():
        raise TargetExistsError(errno.EISDIR, f"{target}: is a folder, not a file")
    if target.exists() and not overwrite:
        raise TargetExistsError(errno.EEXIST, f"{target}: already exists; not replaced (pass --overwrite)")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _place(tmp: Path, target: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``target``; without ``overwrite``, never replace a file that is there."""
    if overwrite:
        os.replace(tmp, target)
        return
    try:
        os.link(tmp, target)  # fails with EEXIST if anything is at target, atomically
    except FileExistsError:
        raise TargetExistsError(errno.EEXIST, f"{target}: already exists; not replaced (pass --overwrite)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        check_target(target)  # a file system without hard links: check, then rename
        os.replace(tmp, target)
    else:
        tmp.unlink()


@contextmanager
def atomic_path(
    target: str | os.PathLike,
    mode: int | None = None,
    *,
    overwrite: bool = False,
    verify: Callable[[Path], None] | None = None,
) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; once written, it is checked and moved to ``target``.

    Args:
        target: final path of the file.
        mode: permission bits to set before the rename (for example ``0o600`` for a key); by default
            the file gets the ordinary ``0o666`` less the process umask, like ``open()`` would give it.
        overwrite: replace ``target`` if it exists (default: refuse with :class:`TargetExistsError`,
            before anything is written).
        verify: called with the temporary path after it was flushed; raises (any exception) when the
            file is not what was meant. Its error is re-raised as :class:`VerifyError`.

    Raises:
        TargetExistsError: ``target`` exists (without ``overwrite``) or is a folder.
        WriteError: the write failed (full disk, no permission, ...); the message names ``target``.
        VerifyError: the written file is empty or failed ``verify``.

    Example:
        >>> with atomic_path("out.jpg") as tmp:  # doctest: +SKIP
        ...     image.save(tmp, format="JPEG")
    """
    target = Path(target)
    check_target(target, overwrite)
    tmp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TEMP_SUFFIX, dir=target.parent)
        os.close(fd)
        tmp = Path(name)
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if tmp.stat().st_size == 0:
            raise VerifyError(errno.EIO, f"{target}: nothing was written (empty file)")
        if verify is not None:
            try:
                verify(tmp)
            except Exception as exc:  # noqa: BLE001 - any failure to read it back means a bad file
                raise VerifyError(errno.EIO, f"{target}: the written file does not read back ({exc})") from None
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        _place(tmp, target, overwrite)
        _fsync_dir(target.parent)
    except WriteError:
        raise
    except OSError as exc:
        raise WriteError(exc.errno, f"cannot write {target}: {describe_os_error(exc)}") from None
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def unfinished_writes(targets: Iterable[str | os.PathLike]) -> list[Path]:
    """The temporary files that :func:`atomic_path` left beside ``targets`` when its process was killed
    mid-write (``.<target name>.<8 random characters>.part``), for a rerun to remove.

    Only those names are matched, so nothing else in the folders is ever listed. A temporary file of a
    write still running in another process is listed too: remove them only where no other run writes.
    """
    by_folder: dict[Path, set[str]] = {}
    for target in map(Path, targets):
        by_folder.setdefault(target.parent, set()).add(target.name)
    found = []
    for folder, names in by_folder.items():
        try:
            entries = sorted(os.listdir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMP_NAME.match(entry)
            if match and match.group(1) in names:
                found.append(folder / entry)
    return found


def check_writable(folder: str | os.PathLike, size: int = 1) -> None:
    """Make sure a file of ``size`` bytes can be created in ``folder`` (created if missing), by writing,
    flushing and removing a probe of that size: a command that works for minutes before it writes
    checks this first.

    Raises:
        WriteError: the folder cannot be made or written to (or is a file); the message says which.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise WriteError(errno.ENOTDIR, f"{folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".p3mask-probe.", dir=folder)
        try:
            block = b"\0" * min(max(size, 1), 1 << 20)
            left = max(size, 1)
            while left > 0:
                left -= os.write(fd, block[:left])
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        raise WriteError(exc.errno, f"cannot write into {folder}: {describe_os_error(exc)}") from None


def json_safe(value):
    """``value`` with NaN/inf as ``None`` (JSON has no NaN), tuples as lists and dict keys as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _verify_json(path: Path) -> None:
    json.loads(path.read_text())


def write_json(payload, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``payload`` as indented JSON (see :func:`json_safe`) with :func:`atomic_path`; returns the path."""
    with atomic_path(path, overwrite=overwrite, verify=_verify_json) as tmp:
        tmp.write_text(json.dumps(json_safe(payload), indent=2) + "\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Write ``text`` with :func:`atomic_path`; returns the path."""
    with atomic_path(path, overwrite=overwrite) as tmp:
        tmp.write_text(text)
    return Path(path)
