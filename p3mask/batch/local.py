"""The local backend: the batch's workers as processes of this machine.

One worker runs in this process; more run in a :class:`concurrent.futures.ProcessPoolExecutor`
(spawned, so no torch state is forked), each building its worker object (models loaded) once in its
initializer and then taking jobs as the pool hands them out. Every worker uses ``threads`` torch and
OpenCV threads (default 1: on a machine of C cores, C one-thread workers use it best).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import TypeVar

import cv2
import torch

from p3mask.bench.machine import thread_count

Job = TypeVar("Job")
Settings = TypeVar("Settings")

_WORKER: Callable | None = None  # the worker object of a pool process
_PARENT_POLL_SECONDS = 1.0  # how often a pool process checks that the batch's process is still there


def set_threads(threads: int) -> None:
    """Use ``threads`` torch and OpenCV threads in this process from now on (a worker's setting)."""
    torch.set_num_threads(int(threads))
    cv2.setNumThreads(int(threads))


def _exit_with_parent(parent: int) -> None:
    """End this worker process when the process that runs the batch is gone (killed): its work would be lost."""
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)


def _start_worker(make_worker: Callable, settings, threads: int) -> None:
    global _WORKER
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    set_threads(threads)
    _WORKER = make_worker(settings)


def _run_job(job):
    return _WORKER(job)


def run_local(
    make_worker: Callable[[Settings], Callable[[Job], object]],
    settings: Settings,
    jobs: Sequence[Job],
    workers: int = 1,
    threads: int = 1,
) -> Iterator[tuple[Job, object]]:
    """Run ``make_worker(settings)(job)`` for every job on ``workers`` local workers.

    Args:
        make_worker: builds a worker (loads its models) from the settings; called once per worker.
        settings: picklable settings of the batch.
        jobs: picklable jobs.
        workers: processes (1: this process).
        threads: torch and OpenCV threads per worker.

    Yields:
        ``(job, result)`` as each job finishes; ``result`` is the exception when the worker process
        died (its other jobs then fail the same way), so the caller reports it and goes on.

    Raises:
        ValueError: ``workers`` or ``threads`` below 1.
    """
    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be >= 1, got {workers} and {threads}")
    if not jobs:
        return
    if workers == 1:
        with thread_count(threads):
            worker = make_worker(settings)
            for job in jobs:
                yield job, worker(job)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context, initializer=_start_worker,
                               initargs=(make_worker, settings, threads))
    try:
        futures = {pool.submit(_run_job, job): job for job in jobs}
        for future in as_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as exc:  # noqa: BLE001 - a dead worker process: its jobs are reported failed
                yield futures[future], exc
    finally:  # stopped early (interrupted): jobs not started are dropped, running ones end
        pool.shutdown(wait=True, cancel_futures=True)
