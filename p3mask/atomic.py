"""Atomic file writes: a reader sees the old file or the complete new one, never half of one."""

from __future__ import annotations

import json
import math
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    """The process umask (reading it means setting it, so it is put back at once)."""
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def atomic_path(target: str | os.PathLike, mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    Args:
        target: final path of the file.
        mode: permission bits to set before the rename (for example ``0o600`` for a key); by default
            the file gets the ordinary ``0o666`` less the process umask, like ``open()`` would give it.

    Example:
        >>> with atomic_path("out.jpg") as tmp:  # doctest: +SKIP
        ...     image.save(tmp, format="JPEG")
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, mode if mode is not None else 0o666 & ~_umask())
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def json_safe(value):
    """``value`` with NaN/inf as ``None`` (JSON has no NaN), tuples as lists and dict keys as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(payload, path: str | os.PathLike) -> Path:
    """Write ``payload`` as indented JSON (see :func:`json_safe`) atomically; returns the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(json_safe(payload), indent=2) + "\n")
    return Path(path)
