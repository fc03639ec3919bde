"""The Ray backend (``--backend ray``, the optional extra ``p3mask[ray]``): the same workers on a Ray
cluster, from ``ray.init()`` on a laptop to a cluster at ``--address``, without code changes.

* Learning: one Ray task per user with its CPU (and GPU) request; each Ray worker process keeps its
  :class:`UserLearner` (models loaded once) for every user Ray gives it. Keys come back to the
  driver, which writes them.
* Protecting: a Ray Data pipeline over the photo jobs whose map stage is a pool of model-holding
  actors (:class:`PhotoProtector`, one per worker): each actor decodes, detects, applies, encodes and
  writes its photos (the stages are timed apart), Ray Data streams the jobs to them and the
  outcomes back. The copies are written by the actors, so on a cluster ``OUT_DIR`` and ``KEYS_DIR``
  must be on storage every node sees (as the photos are).

Every node needs p3mask, its weights cache and the same Python packages; Ray is imported only here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path

from p3mask.batch.jobs import PhotoJob, UserJob
from p3mask.batch.learner import LearnSettings, UserLearner
from p3mask.batch.local import set_threads
from p3mask.batch.protector import PhotoOutcome, PhotoProtector, ProtectSettings

logger = logging.getLogger(__name__)

# Blocks of photo jobs per actor: each block is one hand-out, so a few per actor balance the load.
BLOCKS_PER_WORKER = 8
_LEARNERS: dict[LearnSettings, UserLearner] = {}  # a Ray worker process's learner, per batch settings


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--backend ray needs Ray: pip install 'p3mask[ray]'") from None
    return ray


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to Ray: the cluster at ``address``, else a local Ray with ``num_cpus`` CPUs.

    A Ray already started in this process (``ray.init`` called by the caller) is used as it is.

    Returns:
        True when this call started the connection (the caller then stops it with :func:`stop_ray`).
    """
    ray = _ray()
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, logging_level=logging.WARNING)
    return True


def stop_ray() -> None:
    """Disconnect from Ray (and stop the local Ray that :func:`start_ray` started)."""
    _ray().shutdown()


def cluster_cpus() -> int:
    """CPUs of the Ray cluster this process is connected to."""
    return int(_ray().cluster_resources().get("CPU", 1))


def _learn_user(settings: LearnSettings, job: UserJob, threads: int):
    set_threads(threads)
    if settings not in _LEARNERS:
        _LEARNERS.clear()  # another batch's models: free them
        _LEARNERS[settings] = UserLearner(settings)
    return _LEARNERS[settings](job)


def learn_on_ray(settings: LearnSettings, jobs: Sequence[UserJob], cpus: float = 1.0,
                 gpus: float = 0.0) -> Iterator[tuple[UserJob, object]]:
    """One Ray task per user, each asking for ``cpus`` CPUs (its torch threads) and ``gpus`` GPUs.

    Yields:
        ``(job, (outcome, key))`` as each task ends, or ``(job, exception)`` when its worker died.
    """
    ray = _ray()
    task = ray.remote(num_cpus=cpus, num_gpus=gpus)(_learn_user)
    # absolute paths: a worker on another node does not run in this process's folder
    pending = {task.remote(settings, replace(job, photos=job.photos.absolute()), max(1, int(cpus))): job
               for job in jobs}
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(done[0])
        try:
            yield job, ray.get(done[0])
        except Exception as exc:  # noqa: BLE001 - a crashed task: that user is reported failed
            yield job, exc


class _ProtectActor:
    """A Ray Data actor: a :class:`PhotoProtector` built once, then one photo per row."""

    def __init__(self, settings: ProtectSettings, threads: int) -> None:
        set_threads(threads)
        self.protector = PhotoProtector(settings)

    def __call__(self, row: dict) -> dict:
        outcome = self.protector(PhotoJob(Path(row["source"]), row["user"], Path(row["target"])))
        return {"index": row["index"], "outcome": json.dumps(asdict(outcome))}


def protect_on_ray(settings: ProtectSettings, jobs: Sequence[PhotoJob], workers: int, cpus: float = 1.0,
                   gpus: float = 0.0) -> Iterator[tuple[PhotoJob, object]]:
    """Protect the photos with a Ray Data pipeline of ``workers`` model-holding actors.

    Yields:
        ``(job, outcome)`` as rows come out of the pipeline.
    """
    ray = _ray()
    logging.getLogger("ray.data").setLevel(logging.WARNING)  # one line per photo is printed by the caller
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # absolute paths: an actor on another node does not run in this process's folder
    settings = replace(settings, keys_dir=Path(settings.keys_dir).absolute())
    rows = [{"index": i, "source": str(j.source.absolute()), "user": j.user, "target": str(j.target.absolute())}
            for i, j in enumerate(jobs)]
    pipeline = ray.data.from_items(rows, override_num_blocks=min(len(rows), max(1, workers) * BLOCKS_PER_WORKER)).map(
        _ProtectActor, fn_constructor_kwargs={"settings": settings, "threads": max(1, int(cpus))},
        compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=cpus, num_gpus=gpus)
    for row in pipeline.iter_rows():
        values = json.loads(row["outcome"])
        values["faces"], values["notes"] = tuple(values["faces"]), tuple(values["notes"])
        yield jobs[int(row["index"])], PhotoOutcome(**values)
