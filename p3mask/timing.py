"""Where the time goes: wall seconds added up per named phase, for the benchmarks' time splits.

Learning and protecting take an optional :class:`Timings`; each part of the work runs inside
``with timings.phase("name"):``. On a CUDA device the phase waits for the device before and after, so
that queued kernels are counted where they were launched (on the CPU every op is already synchronous).
:data:`NO_TIMINGS` (the default everywhere) times nothing and costs nothing.

Example:
    >>> t = Timings()
    >>> with t.phase("work"):
    ...     _ = sum(range(1000))
    >>> sorted(t.seconds), t.calls["work"]
    (['work'], 1)
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
R = TypeVar("R")


class Timings:
    """Wall seconds and call counts per phase.

    Args:
        device: the device the timed work runs on (CUDA work is synchronised at each phase's ends).
        enabled: False: :meth:`phase` does nothing (see :data:`NO_TIMINGS`).
    """

    def __init__(self, device: torch.device | str | None = None, enabled: bool = True) -> None:
        self.enabled = enabled
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self._cuda = device is not None and torch.device(device).type == "cuda"

    def _sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize()

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall time of the ``with`` block to phase ``name`` (nested phases count in both)."""
        if not self.enabled:
            yield
            return
        self._sync()
        tic = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - tic
            self.calls[name] = self.calls.get(name, 0) + 1

    def timed(self, name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Decorator: every call of the function adds its wall time to phase ``name``."""

        def wrap(fn: Callable[P, R]) -> Callable[P, R]:
            @functools.wraps(fn)
            def timed_call(*args: P.args, **kwargs: P.kwargs) -> R:
                with self.phase(name):
                    return fn(*args, **kwargs)

            return timed_call if self.enabled else fn

        return wrap


NO_TIMINGS = Timings(enabled=False)

__all__ = ["NO_TIMINGS", "Timings"]
