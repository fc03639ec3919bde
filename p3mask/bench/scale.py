"""Throughput of the batch commands: ``p3mask bench scale``.

N LFW users (the first, sorted, with enough photos) each give ``train_photos`` photos to learn from and
``photos`` others to protect, linked (not copied) into a temporary folder (with ``upscale`` K > 1 the
photos to protect are K-times enlarged JPEG copies: a 250x250 LFW photo becomes K*250 pixels a side,
the face with it, as in a phone photo taken close). Then:

1. ``learn-many`` with ``workers`` workers: keys per minute, overall and per worker;
2. ``protect-many`` with 1 worker, then with ``workers`` workers (the same photos, fresh output
   folders): protected photos per second, overall and per worker, the speed-up of ``workers`` over 1
   (target on a 2-core machine: >= 1.7x with 2 one-thread workers), and the cost split per photo
   (decode, detect, apply, encode, write, as each worker timed them);
3. with ``backend="ray"``, the same learning and protecting on a local Ray as well, and Ray's
   overhead against the local backend on the same work (wall-time ratio and extra seconds).

Rates are given three ways (:func:`rates`): over the whole call's wall time (worker start, model
loading and Ray's start included), in steady state (over the span from the first item a worker took to
the last one it ended, from the workers' own timestamps), and per worker (items per busy second).
Every worker uses ``threads`` torch/OpenCV threads. Before the runs, :func:`core_probe` measures how
many cores the machine gives 1 and ``workers`` busy processes at that moment (a machine shared with
other jobs gives fewer than it has).
"""

from __future__ import annotations

import multiprocessing
import statistics
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from PIL import Image

from p3mask.batch.learner import LearnSettings
from p3mask.batch.protector import STAGES, ProtectSettings
from p3mask.batch.runner import BackendOptions, learn_many, protect_many
from p3mask.bench.machine import machine_info
from p3mask.datasets.lfw import load_lfw
from p3mask.protect.config import ChameleonConfig

TARGET_SPEEDUP = 1.7  # the issue: protect throughput with 2 workers >= 1.7x one worker's (2-core machine)


def _enlarge(source: Path, target: Path, factor: int) -> None:
    """Write ``source`` enlarged ``factor`` times (Lanczos) as a JPEG of quality 95: a bigger photo of the same face."""
    with Image.open(source) as im:
        im.convert("RGB").resize((im.width * factor, im.height * factor), Image.Resampling.LANCZOS).save(
            target, format="JPEG", quality=95
        )


def lay_out_users(root, users: int, train_photos: int, photos: int, folder: Path, upscale: int = 1) -> list[str]:
    """Link the users' photos into ``folder/users/<user>/`` (to learn) and ``folder/photos/<user>/`` (to protect);
    with ``upscale`` > 1 the photos to protect are enlarged copies instead (see :func:`_enlarge`).

    Raises:
        ValueError: fewer than ``users`` LFW identities have ``train_photos + photos`` photos.
    """
    if min(users, train_photos, photos, upscale) < 1:
        raise ValueError(
            f"users, train photos, photos and upscale must be >= 1, got {users}, {train_photos}, {photos}, {upscale}"
        )
    lfw = load_lfw(root)
    chosen = lfw.with_at_least(train_photos + photos)[:users]
    if len(chosen) < users:
        raise ValueError(f"only {len(chosen)} LFW identities have {train_photos + photos}+ photos; asked for {users}")
    for user in chosen:
        files = sorted(lfw.identities[user])
        for sub, part in (("users", files[:train_photos]), ("photos", files[train_photos : train_photos + photos])):
            (folder / sub / user).mkdir(parents=True)
            for path in part:
                if sub == "photos" and upscale > 1:
                    _enlarge(Path(path), folder / sub / user / Path(path).name, upscale)
                else:
                    (folder / sub / user / Path(path).name).symlink_to(Path(path).resolve())
    return chosen


def rates(outcomes, wall: float) -> dict:
    """Throughput of one batch call from its outcomes' worker timestamps and the call's wall seconds.

    ``per_second_wall``: items over the whole call (start, model loading, Ray start included);
    ``per_second_steady``: items over the span from the first item a worker took to the last one it ended;
    ``per_second_all_busy``: items begun and ended while every worker was at work, over that window
    (from the last worker's first start to the first worker's last end: no worker starting or done);
    ``per_worker``: each worker's items and its items per busy second; ``cpu_share_while_busy``: CPU
    time over busy time (below 1 when the workers waited for a core: a machine shared with others).
    """
    worked = [o for o in outcomes if o.started is not None and o.finished is not None]
    span = max(o.finished for o in worked) - min(o.started for o in worked) if worked else 0.0
    workers = defaultdict(lambda: {"items": 0, "busy_seconds": 0.0})
    for o in worked:
        workers[o.worker]["items"] += 1
        workers[o.worker]["busy_seconds"] += o.finished - o.started
    for w in workers.values():
        w["per_second_busy"] = w["items"] / w["busy_seconds"] if w["busy_seconds"] > 0 else None
    busy = [w["per_second_busy"] for w in workers.values() if w["per_second_busy"]]
    # All workers at work: from the last worker's first start to the first worker's last end.
    by_worker = defaultdict(list)
    for o in worked:
        by_worker[o.worker].append(o)
    low = max((min(o.started for o in items) for items in by_worker.values()), default=0.0)
    high = min((max(o.finished for o in items) for items in by_worker.values()), default=0.0)
    inside = sum(low <= o.started and o.finished <= high for o in worked)
    cpu = [o.cpu_seconds for o in worked if o.cpu_seconds is not None]
    busy_total = sum(o.finished - o.started for o in worked)
    return {
        "items": len(worked),
        "wall_seconds": wall,
        "cpu_seconds_per_item": statistics.fmean(cpu) if cpu else None,
        "busy_seconds_per_item": busy_total / len(worked) if worked else None,
        "cpu_share_while_busy": sum(cpu) / busy_total if cpu and busy_total > 0 else None,
        "per_second_wall": len(worked) / wall if wall > 0 else None,
        "steady_span_seconds": span,
        "per_second_steady": len(worked) / span if span > 0 else None,
        "all_busy_seconds": max(high - low, 0.0),
        "all_busy_items": inside,
        "per_second_all_busy": inside / (high - low) if high > low and inside else None,
        "per_second_per_worker": statistics.fmean(busy) if busy else None,
        "per_worker": dict(workers),
    }


def _timed(run) -> tuple[list, float]:
    start = time.perf_counter()
    outcomes = run()
    return outcomes, time.perf_counter() - start


def cost_split(outcomes) -> dict:
    """Mean milliseconds per photo of each stage, over the photos that reached it."""
    per_stage = {s: [o.seconds[s] * 1000 for o in outcomes if s in o.seconds] for s in STAGES}
    means = {s: statistics.fmean(v) if v else None for s, v in per_stage.items()}
    return {"ms_per_photo": means, "total_ms_per_photo": sum(v for v in means.values() if v is not None)}


def _burn(cpu_seconds: float) -> float:
    """Spin for ``cpu_seconds`` of CPU time; return the wall seconds it took."""
    wall, cpu = time.perf_counter(), time.process_time()
    while time.process_time() - cpu < cpu_seconds:
        pass
    return time.perf_counter() - wall


def core_probe(workers: int, cpu_seconds: float = 1.0) -> dict:
    """How many cores this machine gives ``workers`` processes at once right now: each spins for
    ``cpu_seconds`` of CPU; the sum of CPU over wall is the cores they got (``workers`` on an idle machine).
    A control for the speed-up figures: it has no p3mask work in it."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        walls = list(pool.map(_burn, [cpu_seconds] * workers))
    return {
        "workers": workers,
        "cpu_seconds_each": cpu_seconds,
        "wall_seconds": walls,
        "cores_given": sum(cpu_seconds / w for w in walls),
    }


def _per_minute(value: float | None) -> float | None:
    return 60 * value if value is not None else None


def _learn(folder: Path, settings: LearnSettings, options: BackendOptions, name: str) -> dict:
    outcomes, wall = _timed(lambda: learn_many(folder / "users", folder / name, settings, options))
    result = rates(outcomes, wall)
    per_key = [o.seconds for o in outcomes if o.status == "learned"]
    result.update(
        {
            "learned": len(per_key),
            "failed": [(o.user, o.error) for o in outcomes if o.status == "failed"],
            "workers": options.workers,
            "keys_per_minute_wall": _per_minute(result["per_second_wall"]),
            "keys_per_minute_steady": _per_minute(result["per_second_steady"]),
            "keys_per_minute_per_worker": _per_minute(result["per_second_per_worker"]),
            "seconds_per_key_mean": statistics.fmean(per_key) if per_key else None,
        }
    )
    return result


def _protect(folder: Path, keys: str, options: BackendOptions, name: str) -> dict:
    settings = ProtectSettings(folder / keys)
    outcomes, wall = _timed(lambda: protect_many(folder / "photos", folder / name, settings, options))
    result = rates(outcomes, wall)
    result.update(
        {
            "protected": sum(o.status == "protected" for o in outcomes),
            "failed": [(o.source, o.error) for o in outcomes if o.status == "failed"],
            "workers": options.workers,
            **cost_split(outcomes),
        }
    )
    return result


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _overhead(ray: dict, local: dict) -> dict:
    return {
        "wall_ratio": ray["wall_seconds"] / local["wall_seconds"],
        "extra_wall_seconds": ray["wall_seconds"] - local["wall_seconds"],
        "steady_ratio": (
            local["per_second_steady"] / ray["per_second_steady"]
            if ray["per_second_steady"] and local["per_second_steady"]
            else None
        ),
    }


def run_scale(
    root=None,
    users: int = 4,
    photos: int = 10,
    train_photos: int = 5,
    backend: str = "local",
    workers: int = 2,
    threads: int = 1,
    config: ChameleonConfig | None = None,
    seed: int = 0,
    upscale: int = 1,
) -> dict:
    """Measure the batch commands' throughput (see the module docstring); a JSON-ready dict.

    Raises:
        ValueError: bad counts, too few LFW identities, unknown backend.
    """
    settings = LearnSettings(config or ChameleonConfig(), seed, "cpu")
    many, one = BackendOptions("local", workers, threads), BackendOptions("local", 1, threads)
    machine = machine_info()
    machine["core_probe"] = [core_probe(1), core_probe(workers)]
    with tempfile.TemporaryDirectory(prefix="p3mask-scale-") as tmp:
        folder = Path(tmp)
        chosen = lay_out_users(root, users, train_photos, photos, folder, upscale)
        out = {"learn": {"local": _learn(folder, settings, many, "keys_local")}}
        out["protect"] = {
            "local_1": _protect(folder, "keys_local", one, "out_local_1"),
            "local": _protect(folder, "keys_local", many, "out_local"),
        }
        if backend == "ray":
            ray = BackendOptions("ray", workers, threads)
            out["learn"]["ray"] = _learn(folder, settings, ray, "keys_ray")
            out["protect"]["ray"] = _protect(folder, "keys_ray", ray, "out_ray")
            out["ray_overhead"] = {
                "learn": _overhead(out["learn"]["ray"], out["learn"]["local"]),
                "protect": _overhead(out["protect"]["ray"], out["protect"]["local"]),
            }
    p1, pn = out["protect"]["local_1"], out["protect"]["local"]
    speedup = _ratio(pn["per_second_steady"], p1["per_second_steady"])
    all_busy = _ratio(pn["per_second_all_busy"], p1["per_second_all_busy"])
    machine["load_average_after"] = machine_info()["load_average"]
    return {
        "benchmark": "scale",
        "dataset": "lfw",
        "users": chosen,
        "train_photos": train_photos,
        "photos": photos,
        "upscale": upscale,
        "backend": backend,
        "workers": workers,
        "threads": threads,
        "preset": settings.config.preset,
        "epochs": settings.config.epochs,
        "team": list(settings.config.team or ()),
        "seed": seed,
        **out,
        "speedup": {
            "workers": workers,
            "steady": speedup,
            "all_busy": all_busy,
            # derived, not measured: the speed-up if each worker had a core to itself (CPU time per photo)
            "core_per_worker": workers * p1["cpu_seconds_per_item"] / pn["cpu_seconds_per_item"]
            if p1["cpu_seconds_per_item"] and pn["cpu_seconds_per_item"]
            else None,
            "wall": pn["per_second_wall"] / p1["per_second_wall"] if p1["per_second_wall"] else None,
            "target": TARGET_SPEEDUP,
            "met": all_busy is not None and all_busy >= TARGET_SPEEDUP,
        },
        "machine": machine,
    }
