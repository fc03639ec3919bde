"""Learning a user's key: one universal P3-Mask from all of the user's photos, as Chameleon (Chow et al.,
"Personalized Privacy Protection Mask Against Unauthorized Facial Recognition", ECCV 2024) learns it.

:func:`learn_mask` (and :func:`learn`, which also returns how learning went) loads the photos,
finds the user's face in each (majority identity), cuts the regions around the faces
(:mod:`p3mask.protect.trainset`) and runs the optimiser of :mod:`p3mask.protect.optimizer`:
cross-image optimisation through the differentiable photo <-> aligned-crop warps, every photo seen at
the strength that holds its SSIMULACRA2 floor, and the focal-diversity team, then packs the result into
a :class:`P3Mask` key.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from p3mask.checks import check_photo
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ImageLoadError, load_image, scan_inputs
from p3mask.models import load_model
from p3mask.models.base import FaceRecognizer
from p3mask.models.thresholds import match_threshold
from p3mask.protect.config import ChameleonConfig, get_config
from p3mask.protect.key import P3Mask
from p3mask.protect.optimizer import EpochStats, MaskOptimizer, MaskResult
from p3mask.protect.trainset import build_training_set, model_frames
from p3mask.protect.visuals import LearnArtefacts
from p3mask.timing import NO_TIMINGS, Timings

logger = logging.getLogger(__name__)

__all__ = ["EpochStats", "MaskOptimizer", "LearnResult", "MaskResult", "learn", "learn_mask", "resolve_device"]


# ------------------------------------------------------------------- library entry points
@dataclass
class LearnResult:
    """Everything :func:`learn` produced: the key plus how learning went."""

    key: P3Mask
    fit: MaskResult
    photos: list[str]  # photos learned from
    skipped: list[tuple[str, str]]  # (photo, reason) not used
    seconds: float  # wall time of the whole call, loading included
    warnings: list[str] = field(default_factory=list)  # what the user should know about the photos given


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but CUDA is not available")
    return device


def _load_photos(photos) -> tuple[list[torch.Tensor], list[str], list[tuple[str, str]]]:
    """Tensors pass through; paths (files or folders) are expanded (:func:`scan_inputs`) and loaded.

    Every file not used is in the skipped list with its reason: missing, not a photo (hidden,
    unsupported type, p3mask's own artefacts), a repeat, unreadable, or a byte-identical copy of a
    photo already taken (counted once).
    """
    images, names, skipped = [], [], []
    paths = [p for p in photos if not isinstance(p, torch.Tensor)]
    tensors = [(i, p) for i, p in enumerate(photos) if isinstance(p, torch.Tensor)]
    for i, t in tensors:
        check_photo(t, f"photo {i}", in_range=False)
        images.append(t.detach().float().cpu())
        names.append(f"photo[{i}]")
    scan = scan_inputs(paths)
    skipped += [(str(path), "file not found") for path in scan.missing]
    skipped += [(str(path), why) for path, why in scan.skipped]
    contents: dict[str, Path] = {}
    for _, path in scan.files:
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
            if digest in contents:
                skipped.append((str(path), f"an identical copy of {contents[digest]}; used once"))
                continue
            images.append(load_image(path))
            names.append(str(path))
            contents[digest] = path
        except ImageLoadError as exc:
            logger.info("%s", exc)
            skipped.append((str(path), exc.problem))
        except OSError as exc:
            skipped.append((str(path), f"unreadable ({exc.strerror or exc})"))
    return images, names, skipped


def _warnings(used: int, skipped: list[tuple[str, str]]) -> list[str]:
    """What the user should hear about the photos learned from."""
    out = []
    copies = sum("identical copy" in why for _, why in skipped)
    if copies:
        out.append(f"{copies} photo(s) were identical copies of others and were counted once")
    if used == 1:
        out.append("the mask was learned from a single photo: it may protect other photos of the user "
                   "weakly; give 10 or more different photos")
    return out


def learn(
    photos,
    config: ChameleonConfig | None = None,
    *,
    user: str = "user",
    device: str | torch.device = "auto",
    seed: int = 0,
    progress: bool = True,
    out_dir: str | Path | None = None,
    models: Mapping[str, FaceRecognizer] | None = None,
    detector: FaceDetector | None = None,
    thresholds: Mapping[str, float] | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    timings: Timings = NO_TIMINGS,
) -> LearnResult:
    """Learn one universal P3-Mask from a user's photos; returns the key and how learning went.

    Args:
        photos: paths of photos or folders of photos, and/or ``(3, H, W)`` RGB [0, 1] tensors. Other
            people may appear: the user is the identity found in most photos.
        config: a :class:`ChameleonConfig` (default: the ``mid`` preset).
        user: the user's name (stored in the key).
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        seed: makes learning deterministic on the CPU (CUDA's grid-sample backward adds float noise).
        progress: one tqdm line per epoch on stderr.
        out_dir: if given, the folder of the learning artefacts (or a
            :class:`p3mask.protect.visuals.LearnArtefacts`, which also says whether to write the exact
            ``npy`` masks and whether to replace files): per-epoch pictures of the mask go to
            ``jpg/epoch_NNNN.jpg`` and a ``before_after.png`` sheet beside them.
        models: already loaded recognisers by name (others are loaded from the cache); they are
            moved to ``device`` and put in eval mode.
        detector: face detector (default: YuNet).
        thresholds: match thresholds by model name (default: :func:`p3mask.models.thresholds.match_threshold`).
        on_epoch: called with each epoch's :class:`EpochStats` when it is done (live progress); an
            exception it raises stops learning and propagates.
        timings: where the parts of learning add their wall seconds: ``load_photos``, ``load_models``,
            ``training_set`` (detection, the user's face, regions, the match model's reference) and the
            optimiser's phases (:class:`p3mask.protect.optimizer.MaskOptimizer`).

    Returns:
        A :class:`LearnResult`: the :class:`P3Mask` key (save it with :meth:`P3Mask.save`), the
        optimiser's record, the photos used and skipped, and the wall time.

    Example:
        >>> result = learn(["photos/alice/"], user="alice")  # doctest: +SKIP
        >>> result.key.save("alice.p3m")  # doctest: +SKIP
    """
    start = time.perf_counter()
    config = config or get_config()
    device = resolve_device(device)
    with timings.phase("load_photos"):
        images, names, skipped = _load_photos(photos)
    if not images:
        raise ValueError("no readable photo of the user was given")
    wanted = list(dict.fromkeys([*(config.team or config.pool), config.match_model]))
    with timings.phase("load_models"):
        models = {n: (models[n] if models and n in models else load_model(n)).to(device).eval() for n in wanted}
        detector = detector or FaceDetector()
    given = dict(thresholds or {})
    thresholds = {n: float(given[n]) if given.get(n) is not None else match_threshold(n) for n in wanted}
    frames = [(config.frame_template, config.frame_size)] + model_frames(models)
    with timings.phase("training_set"):
        data, match_ref = build_training_set(images, names, detector, models[config.match_model],
                                             thresholds[config.match_model], frames, config.max_face_scale)
        data = data.to(device)
    skipped += data.skipped
    artefacts = out_dir if out_dir is None or isinstance(out_dir, LearnArtefacts) else LearnArtefacts(Path(out_dir))
    fit = MaskOptimizer(models, thresholds, config, seed=seed, progress=progress, out_dir=artefacts,
                        on_epoch=on_epoch, timings=timings).fit(data)
    references = {**fit.references, config.match_model: match_ref}
    key = P3Mask(
        mask=fit.mask, epsilon=config.rgb_bound, frame_size=config.frame_size, template=config.frame_template,
        team=fit.team, quality_floor=config.quality_floor, quality_min=float(fit.quality.min()),
        quality_mean=float(fit.quality.mean()), preset=config.preset, user=user, references=references,
        match_model=config.match_model, match_threshold=thresholds[config.match_model], photos=len(data),
    )
    return LearnResult(key, fit, data.names, skipped, time.perf_counter() - start, _warnings(len(data), skipped))


def learn_mask(photos, config: ChameleonConfig | None = None, **options) -> P3Mask:
    """Learn one universal P3-Mask from a user's photos and return only the key.

    Takes the arguments of :func:`learn` (``user``, ``device``, ``seed``, ``progress``, ``out_dir``,
    ``models``, ``detector``, ``thresholds``, ``on_epoch``).

    Example:
        >>> key = learn_mask(["photos/alice/"], user="alice")  # doctest: +SKIP
        >>> key.save("alice.p3m")  # doctest: +SKIP
    """
    return learn(photos, config, **options).key
