"""Run a batch: plan it (:mod:`p3mask.batch.jobs`), run the jobs on a backend, write the keys, report
each outcome as soon as it is known, and sum the run up (:func:`summary`).

Library entry points of ``p3mask learn-many`` and ``p3mask protect-many``::

    outcomes = learn_many("users/", "keys/", LearnSettings(get_config("mid")), BackendOptions(workers=2))
    outcomes = protect_many("photos/", "out/", ProtectSettings(Path("keys/")), BackendOptions("ray"))
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from p3mask.atomic import WriteError, check_writable, unfinished_writes
from p3mask.batch.jobs import Refusal, key_path, plan_photos, plan_users
from p3mask.batch.learner import LearnSettings, UserLearner, UserOutcome
from p3mask.batch.local import run_local
from p3mask.batch.protector import PhotoOutcome, PhotoProtector, ProtectSettings
from p3mask.protect.key import KeyFileError, P3Mask

logger = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class BackendOptions:
    """Where a batch runs (the flags ``--backend``, ``--address``, ``--workers``, ``--threads``, ``--gpus``)."""

    backend: str = "local"  # "local": processes of this machine; "ray": a Ray cluster
    workers: int | None = None  # workers at once (None: the CPUs, of this machine or the cluster, / threads)
    threads: int = 1  # torch and OpenCV threads per worker: a Ray task's or actor's CPU request
    address: str | None = None  # Ray cluster to join (None: a local Ray of workers x threads CPUs)
    gpus: float = 0.0  # GPUs per Ray task or actor (with --device cuda)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; valid: {', '.join(BACKENDS)}")
        if (self.workers is not None and self.workers < 1) or self.threads < 1 or self.gpus < 0:
            raise ValueError(
                f"expected workers >= 1, threads >= 1 and gpus >= 0, got {self.workers}, {self.threads} and {self.gpus}"
            )
        if self.address and self.backend != "ray":
            raise ValueError("--address is for --backend ray")


def local_workers(options: BackendOptions) -> int:
    """Workers of a local run: as given, else this machine's CPUs / threads."""
    return options.workers or max(1, (os.cpu_count() or 1) // options.threads)


def _run(kind: str, settings, jobs: Sequence, options: BackendOptions) -> Iterator[tuple[object, object]]:
    """``(job, result)`` for every job, on the backend of ``options``."""
    if options.backend == "local":
        make_worker = UserLearner if kind == "learn" else PhotoProtector
        yield from run_local(make_worker, settings, jobs, local_workers(options), options.threads)
        return
    from p3mask.batch import ray_backend

    started = ray_backend.start_ray(
        options.address, None if options.address else local_workers(options) * options.threads
    )
    try:
        workers = options.workers or max(1, ray_backend.cluster_cpus() // options.threads)
        if kind == "learn":
            yield from ray_backend.learn_on_ray(settings, jobs, options.threads, options.gpus)
        else:
            yield from ray_backend.protect_on_ray(settings, jobs, workers, options.threads, options.gpus)
    finally:
        if started:
            ray_backend.stop_ray()


def _remove_unfinished(targets) -> None:
    """Remove the temporary files that a killed run left beside ``targets`` (see :mod:`p3mask.batch.jobs`)."""
    leftovers = unfinished_writes(targets)
    for path in leftovers:
        path.unlink(missing_ok=True)
    if leftovers:
        logger.warning(
            "removed %d unfinished temporary file(s) of an interrupted run: %s",
            len(leftovers),
            ", ".join(str(p) for p in leftovers),
        )


def _collector(on_outcome: Callable | None) -> tuple[list, Callable]:
    """A list of outcomes and the function that adds one and reports it (``on_outcome``) at once."""
    outcomes: list = []

    def done(outcome) -> None:
        outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    return outcomes, done


_REFUSED_STATUS = {"done": "skipped", "ignored": "ignored", "failed": "failed"}


def _user_refusal(r: Refusal) -> UserOutcome:
    return UserOutcome(
        r.user or r.name, str(r.target or ""), _REFUSED_STATUS[r.state], error=None if r.state == "done" else r.why
    )


def learn_many(
    users_dir,
    keys_dir,
    settings: LearnSettings,
    options: BackendOptions = BackendOptions(),
    overwrite: bool = False,
    on_outcome: Callable[[UserOutcome], None] | None = None,
) -> list[UserOutcome]:
    """Learn a key for every user folder of ``users_dir`` into ``keys_dir``; one outcome per user.

    Users whose valid key is there are skipped (unless ``overwrite``); each key learned is written
    as soon as it comes back (:meth:`P3Mask.save`), so a run stopped midway keeps what it finished.

    Raises:
        ValueError: a bad folder or option; p3mask.atomic.WriteError: ``keys_dir`` cannot be written.
    """
    plan = plan_users(users_dir, keys_dir, settings.config, overwrite)
    outcomes, done = _collector(on_outcome)
    for refusal in plan.refusals:
        done(_user_refusal(refusal))
    if not plan.jobs:
        return outcomes
    check_writable(keys_dir)
    _remove_unfinished(job.key for job in plan.jobs)
    for job, result in _run("learn", settings, plan.jobs, options):
        if isinstance(result, BaseException):
            done(UserOutcome(job.user, str(job.key), "failed", error=f"the worker died: {result}"))
            continue
        outcome, key = result
        if key is not None:
            try:
                key.save(job.key, overwrite=overwrite)
            except WriteError as exc:
                outcome = replace(outcome, status="failed", error=f"the learned key could not be saved: {exc}")
        done(outcome)
    return outcomes


def _check_keys(users, keys_dir: Path) -> dict[str, str]:
    """Users whose key does not load, with why: their photos are refused before any work."""
    bad = {}
    for user in users:
        try:
            P3Mask.load(key_path(keys_dir, user))
        except KeyFileError as exc:
            bad[user] = str(exc)
    return bad


def protect_many(
    photos,
    out_dir,
    settings: ProtectSettings,
    options: BackendOptions = BackendOptions(),
    on_outcome: Callable[[PhotoOutcome], None] | None = None,
) -> list[PhotoOutcome]:
    """Protect every photo of ``photos`` (user folders or a manifest CSV) into ``out_dir``, each with its
    user's key from ``settings.keys_dir``; one outcome per photo.

    Photos whose copy is there are skipped (unless ``settings.overwrite``); a user without a valid key
    fails for each of their photos, and the other users go on.

    Raises:
        ValueError: a bad folder, manifest or option.
    """
    plan = plan_photos(photos, out_dir, settings.overwrite)
    outcomes, done = _collector(on_outcome)
    for r in plan.refusals:
        done(
            PhotoOutcome(
                r.name,
                r.user,
                str(r.target) if r.state == "done" else None,
                _REFUSED_STATUS[r.state],
                error=None if r.state == "done" else r.why,
            )
        )
    bad = _check_keys(dict.fromkeys(job.user for job in plan.jobs), Path(settings.keys_dir))
    jobs = []
    for job in plan.jobs:
        if job.user in bad:
            done(PhotoOutcome(str(job.source), job.user, None, "failed", error=bad[job.user]))
        else:
            jobs.append(job)
    if not jobs:
        return outcomes
    _remove_unfinished(job.target for job in jobs)
    for job, result in _run("protect", settings, jobs, options):
        if isinstance(result, BaseException):
            result = PhotoOutcome(str(job.source), job.user, None, "failed", error=f"the worker died: {result}")
        done(result)
    return outcomes


def summary(
    command: str,
    outcomes: Sequence[UserOutcome] | Sequence[PhotoOutcome],
    options: BackendOptions,
    seconds: float,
    **extra,
) -> dict:
    """The JSON summary of a batch: how it ran, the count of each status, and every outcome."""
    items = "users" if command == "learn-many" else "photos"
    return {
        "command": command,
        "backend": options.backend,
        "address": options.address,
        "workers": options.workers,
        "threads": options.threads,
        "seconds": seconds,
        **extra,
        "counts": dict(Counter(o.status for o in outcomes)),
        items: [asdict(o) for o in outcomes],
    }


def exit_status(outcomes: Sequence[UserOutcome] | Sequence[PhotoOutcome]) -> int:
    """0 when every user or photo meant to be done is done (and there was one), else 1."""
    return 0 if any(o.ok for o in outcomes) and not any(o.failed for o in outcomes) else 1
