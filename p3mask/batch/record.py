"""What every batch outcome records about the worker that produced it: who, when, and how much CPU."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import ClassVar


def worker_name() -> str:
    """``host:pid`` of this process, to tell workers apart in a summary."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True, kw_only=True)
class WorkRecord:
    """The worker fields of an outcome (:class:`UserOutcome`, :class:`PhotoOutcome`).

    Attributes:
        worker: ``host:pid`` of the worker (None when no worker took it: skipped, refused).
        started, finished: when the worker took and ended it (Unix time, seconds).
        cpu_seconds: CPU time the worker process spent on it (below finished - started when it waited
            for a core).
    """

    DONE: ClassVar[tuple[str, ...]] = ()  # the statuses that mean the work is there (now or from before)

    worker: str | None = None
    started: float | None = None
    finished: float | None = None
    cpu_seconds: float | None = None

    @property
    def ok(self) -> bool:
        """True when the work is there: done now or by an earlier run."""
        return self.status in self.DONE

    @property
    def failed(self) -> bool:
        """True when it was meant to be done and is not."""
        return self.status == "failed"
