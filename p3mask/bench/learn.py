"""Speed of learning a key: ``p3mask bench learn``.

Times :func:`p3mask.protect.learning.learn` on one LFW identity's photos, as ``p3mask learn`` runs
it (minus writing per-epoch mask pictures), and splits the wall time into

* ``load_models``: the recognisers of the pool and the YuNet detector, from the weights cache;
* ``load_photos``: decoding the photos;
* ``detection``: YuNet on every photo (inside ``learn``);
* ``optimisation``: the signed-gradient steps (sum of ``EpochStats.seconds``);
* ``other``: the rest of ``learn``: telling the user's face from others, cutting the face regions,
  clean reference embeddings, focal-diversity team selection, the per-photo quality floor, the final
  cosines.

``phases`` splits the same run finer (:class:`p3mask.timing.Timings`, wall seconds added up per phase):
``training_set`` (detection, the user's face, regions, the match model's reference; ``detection`` is
inside it), ``reference_embeddings``, ``perceptual_references``, ``team_selection``, and per step
``paste`` (the mask warped onto the regions), ``team_forward``, ``perceptual_forward``, ``backward``,
``update``; then ``floor_search`` and ``final_cosines``. ``profile`` (a folder) also records the run
with :mod:`torch.profiler`: a Chrome trace (``learn_trace.json``, open it in ``chrome://tracing`` or
Perfetto) and the ops' table by self CPU time (``learn_ops.txt``).

Achieved GFLOP/s of the optimisation are counted with :class:`torch.utils.flop_counter.FlopCounterMode`
(see :func:`step_flops`). The issue's target: at most 30 s wall for 20 LFW photos with the ``mid``
preset on a 2-core machine.
"""

from __future__ import annotations

import contextlib
import math
import re
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from p3mask.atomic import atomic_path, check_target, write_text
from p3mask.bench.machine import machine_info, peak_gflops, thread_count
from p3mask.datasets.lfw import load_lfw
from p3mask.face.align import paste_from_crop
from p3mask.face.detect import Detections, FaceDetector
from p3mask.face.image_io import ImageLoadError, load_image
from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer
from p3mask.models.thresholds import match_threshold
from p3mask.protect.config import ChameleonConfig, get_config
from p3mask.protect.learning import LearnResult, learn, resolve_device
from p3mask.protect.optimizer import PerceptualLoss, composite
from p3mask.protect.trainset import TrainingSet, build_training_set, model_frames
from p3mask.timing import Timings

TARGET_SECONDS = 30.0  # the speed issue: <= 30 s wall (the perceptual and modern-model issues: 60) ...
TARGET_PHOTOS = 20  # ... for 20 LFW photos ...
TARGET_PRESET = "mid"  # ... with the mid preset, on a 2-core machine
MIN_PHOTOS = 20  # the default user is the first LFW identity (sorted) with this many photos

FLOPS_COUNTED = (
    "FlopCounterMode (matmul, convolution and attention FLOPs, 2 per multiply-add; elementwise ops, "
    "interpolation and grid_sample warps are not counted) over one optimisation step rebuilt from its "
    "parts: for each team model, forward plus input-gradient backward on the mini-batch's aligned crops "
    "(weights are frozen, so no weight gradients), and pasting the mask onto the mini-batch's face regions "
    "plus the perceptual loss (SSIMULACRA2 of the face in context), forward and backward. Model FLOPs are "
    "exact per photo (they scale with the batch); the paste+SSIMULACRA2 part is measured on the training "
    "set's own regions in order. Total = sum over "
    "epochs with each epoch's team; with members_per_step = k of a team of S, each photo meets k/S of "
    "the team's FLOPs (the members taken in turn)."
)


def lfw_user_photos(root=None, user: str | None = None, count: int | None = None,
                    min_photos: int = MIN_PHOTOS) -> tuple[str, list[Path]]:
    """``(user, first `count` photos in sorted order)`` of an LFW identity.

    Args:
        root: LFW folder (default ``data_root()/lfw``).
        user: identity; default the first identity, in sorted order, with ``>= min_photos`` photos.
        count: photos wanted (default all of them).
        min_photos: what the default user needs.

    Raises:
        ValueError: unknown user, no identity qualifies, or fewer than ``count`` photos.
    """
    lfw = load_lfw(root)
    if user is None:
        qualified = lfw.with_at_least(min_photos)
        if not qualified:
            raise ValueError(f"no LFW identity under {lfw.root} has {min_photos}+ photos")
        user = qualified[0]
    if user not in lfw.identities:
        raise ValueError(f"no LFW identity {user!r} under {lfw.root}")
    photos = lfw.identities[user]
    if count is not None and not 1 <= count <= len(photos):
        raise ValueError(f"{user} has {len(photos)} photos, asked for {count}")
    return user, photos[:count]


class TimedDetector:
    """A detector whose :meth:`detect` calls add their wall seconds to phase ``detection`` of ``timings``
    (it delegates to ``detector``)."""

    def __init__(self, detector: FaceDetector, timings: Timings) -> None:
        self.detector, self.timings = detector, timings

    @property
    def seconds(self) -> float:
        return self.timings.seconds.get("detection", 0.0)

    @property
    def calls(self) -> int:
        return self.timings.calls.get("detection", 0)

    def detect(self, image: torch.Tensor) -> Detections:
        with self.timings.phase("detection"):
            return self.detector.detect(image)


def _counted(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def model_flops(model: FaceRecognizer, batch: int, device: torch.device) -> int:
    """FLOPs of ``model``'s forward plus input-gradient backward on ``batch`` crops at its input size."""
    x = torch.rand(batch, 3, *model.input_size, device=device, requires_grad=True)
    return _counted(lambda: model(x).sum().backward())  # autograd.grad trips FlopCounterMode's module tracker


def paste_quality_flops(data: TrainingSet, to_frame: torch.Tensor, config: ChameleonConfig, batch: int) -> int:
    """FLOPs of pasting the mask and the perceptual loss (SSIMULACRA2 of the face in context), forward and
    backward, over all photos in batches of ``batch``."""
    total = 0
    with torch.no_grad():
        nothing = torch.zeros(3, *config.frame_size, device=data.regions.device)
        _, coverage = composite(data.regions, data.valid, nothing, to_frame)
    perceptual = PerceptualLoss(data.regions, data.contexts, coverage)  # as learning builds it, once
    for idx in torch.arange(len(data), device=data.regions.device).split(batch):
        delta = torch.zeros(3, *config.frame_size, device=data.regions.device, requires_grad=True)
        regions, valid = data.regions[idx], data.valid[idx]

        def step(delta=delta, idx=idx, regions=regions, valid=valid):
            pasted, cover = paste_from_crop(delta.expand(len(idx), -1, -1, -1), to_frame[idx], regions.shape[-2:])
            protected = (regions + pasted * cover * valid).clamp(0, 1)
            perceptual(protected, idx).mean().backward()

        total += _counted(step)
    return total


def _team_share(team: Sequence[str], members_per_step: int) -> float:
    """The fraction of ``team`` one step runs: ``members_per_step`` of it in turn (0: the whole team)."""
    k = members_per_step
    return 1.0 if k == 0 or k >= len(team) else k / len(team)


def step_flops(result: LearnResult, data: TrainingSet, models: Mapping[str, FaceRecognizer],
               config: ChameleonConfig) -> dict:
    """FLOPs of the optimisation of ``result`` (see :data:`FLOPS_COUNTED`).

    Returns:
        {"per_photo": {model or "paste_quality": FLOPs per photo per step}, "steps", "total", "per_step_mean"}.
    """
    device = data.regions.device
    n, b = len(data), config.batch_size
    teams = [stats.team for stats in result.fit.history]
    members = sorted({name for team in teams for name in team})
    per_photo = {name: model_flops(models[name], b, device) / b for name in members}
    quality_epoch = paste_quality_flops(data, data.matrices(config.frame_template), config, b)
    per_photo["paste_quality"] = quality_epoch / n
    total = sum(n * _team_share(team, config.members_per_step) * sum(per_photo[name] for name in team)
                + quality_epoch for team in teams)
    steps = len(teams) * math.ceil(n / b)
    return {"per_photo": {k: int(v) for k, v in per_photo.items()}, "steps": steps, "total": int(total),
            "per_step_mean": int(total / steps) if steps else 0}


def _load(paths: Sequence[Path]) -> tuple[list[torch.Tensor], list[Path], list[tuple[str, str]]]:
    images, kept, skipped = [], [], []
    for path in paths:
        try:
            images.append(load_image(path))
            kept.append(path)
        except ImageLoadError as exc:
            skipped.append((str(path), exc.problem))
    return images, kept, skipped


def _photo_name(label: str, paths: Sequence[Path]) -> str:
    """``learn`` labels tensors ``photo[i]``; name the file instead."""
    found = re.fullmatch(r"photo\[(\d+)\]", label)
    return str(paths[int(found.group(1))]) if found else label


def _training_set(images, config: ChameleonConfig, models, detector) -> TrainingSet:
    """The training set ``learn`` built (same photos, same detector and matcher, deterministic)."""
    frames = [(config.frame_template, config.frame_size)] + model_frames(models)
    matcher = models[config.match_model]
    data, _ = build_training_set(images, [str(i) for i in range(len(images))], detector, matcher,
                                 match_threshold(config.match_model), frames, config.max_face_scale)
    return data


def _profiled(folder: Path | None):
    """A :mod:`torch.profiler` recording of the ``with`` block when ``folder`` is given, else nothing."""
    if folder is None:
        return contextlib.nullcontext(None)
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    return torch.profiler.profile(activities=activities)


PROFILE_FILES = ("learn_trace.json", "learn_ops.txt")  # what --profile DIR writes into DIR


def write_profile(profile, folder: Path, overwrite: bool = False) -> list[str]:
    """Write ``profile``'s Chrome trace and its ops' table into ``folder``, atomically; the paths written.

    Raises:
        p3mask.atomic.WriteError: a file exists (and not ``overwrite``) or could not be written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    trace, table = (folder / name for name in PROFILE_FILES)
    with atomic_path(trace, overwrite=overwrite) as tmp:
        profile.export_chrome_trace(str(tmp))
    write_text(profile.key_averages().table(sort_by="self_cpu_time_total", row_limit=60) + "\n", table, overwrite)
    return [str(trace), str(table)]


def run_learn(root=None, user: str | None = None, photos: int = TARGET_PHOTOS, preset: str = TARGET_PRESET,
              epochs: int | None = None, device: str = "auto", seed: int = 0, threads: int | None = None,
              progress: bool = False, profile: str | Path | None = None, overwrite: bool = False) -> dict:
    """Time learning one key on ``photos`` photos of an LFW identity; figures as a JSON-ready dict.

    Args:
        root: LFW folder (default ``data_root()/lfw``).
        user: LFW identity (default: the first one, sorted, with 20+ photos).
        photos: how many of the user's photos (the first ones in sorted order).
        preset: ``low``, ``mid`` or ``high``.
        epochs: override the preset's epochs.
        device: ``auto``, ``cpu`` or ``cuda``.
        seed: learning seed.
        threads: torch and OpenCV threads during the run (default: leave them as they are).
        progress: one tqdm line per epoch on stderr.
        profile: a folder for a :mod:`torch.profiler` trace of the ``learn`` call (see the module
            docstring); the profiler slows the run, so its timings are not the plain run's.
        overwrite: replace profile files that already exist in ``profile``.

    Raises:
        ValueError: ``profile`` exists and is not a folder.
        p3mask.atomic.WriteError: a profile file exists (and not ``overwrite``).
    """
    profile = Path(profile) if profile is not None else None
    if profile is not None:
        if profile.exists() and not profile.is_dir():
            raise ValueError(f"--profile {profile}: is a file, not a folder")
        for name in PROFILE_FILES:  # refused before learning, not after it
            check_target(profile / name, overwrite)
    config = get_config(preset, epochs=epochs)
    user, paths = lfw_user_photos(root, user, photos)
    device = resolve_device(device)
    with thread_count(threads):
        machine = machine_info()
        tic = time.perf_counter()
        wanted = list(dict.fromkeys([*(config.team or config.pool), config.match_model]))
        models = {name: load_model(name, device) for name in wanted}
        timings = Timings(device)
        detector = TimedDetector(FaceDetector(), timings)
        load_models_s = time.perf_counter() - tic
        tic = time.perf_counter()
        images, kept, skipped = _load(paths)
        load_photos_s = time.perf_counter() - tic
        with _profiled(profile) as recording:
            result = learn(images, config, user=user, device=device, seed=seed, progress=progress,
                           models=models, detector=detector, timings=timings)
        written = write_profile(recording, profile, overwrite) if recording is not None else []
        flops = step_flops(result, _training_set(images, config, models, detector.detector).to(device),
                           models, config)
        machine["load_average_after"] = machine_info()["load_average"]
        peak = peak_gflops(device)
    epoch_s = [stats.seconds for stats in result.fit.history]
    optimisation_s = sum(epoch_s)
    total_s = load_models_s + load_photos_s + result.seconds
    skipped += [(_photo_name(name, kept), why) for name, why in result.skipped]
    return {
        "benchmark": "learn", "dataset": "lfw", "user": user, "photos": len(paths), "photos_used": result.key.photos,
        "skipped": [list(s) for s in skipped], "preset": config.preset, "epochs": config.epochs,
        "batch_size": config.batch_size, "device": str(device), "seed": seed, "team": list(result.key.team),
        "teams_per_epoch": [list(stats.team) for stats in result.fit.history],
        "seconds": {
            "total": total_s, "load_models": load_models_s, "load_photos": load_photos_s,
            "detection": detector.seconds, "optimisation": optimisation_s,
            "other": result.seconds - detector.seconds - optimisation_s, "learn_call": result.seconds,
        },
        "phases": dict(sorted(timings.seconds.items(), key=lambda kv: -kv[1])),
        "phase_calls": dict(timings.calls), "profile": written,
        "detector_calls": detector.calls,
        "epoch_seconds": epoch_s, "epoch_seconds_mean": statistics.fmean(epoch_s),
        "flops": {**flops, "counted": FLOPS_COUNTED},
        "gflops_per_s": (gflops := flops["total"] / optimisation_s / 1e9 if optimisation_s > 0 else None),
        "peak_gflops_per_s": peak,
        "share_of_peak": {k: gflops / v for k, v in peak.items()} if gflops else None,
        "threads": machine["torch_threads"], "opencv_threads": machine["opencv_threads"],
        "quality_min": result.key.quality_min, "quality_mean": result.key.quality_mean,
        "quality_floor": result.key.quality_floor,
        "target": {
            "seconds": TARGET_SECONDS, "photos": TARGET_PHOTOS, "preset": TARGET_PRESET,
            "comparable": (len(paths) == TARGET_PHOTOS and config.preset == TARGET_PRESET and epochs is None
                           and device.type == "cpu" and machine["cpu_count"] == 2),
            "met": total_s <= TARGET_SECONDS,
        },
        "machine": machine,
    }
