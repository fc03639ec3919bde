"""The error every per-file failure raises: which file, and what went wrong with it."""

from __future__ import annotations

import os
from pathlib import Path


class FileError(ValueError):
    """A file could not be used; the message is ``"<file name>: <problem>"``.

    Attributes:
        path: the file that failed.
        problem: what went wrong, without the file name (for a line that names the file itself).
    """

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path.name}: {problem}")
