"""``p3mask compare``: Chameleon and the baselines side by side, under the same image-quality budget.

Every method gets the same users, the same photo splits, the same model pool (never the dlib ResNet,
which plays the unseen recogniser), the same detector and warp, and the same clean gallery. Chameleon
runs first; the mean SSIMULACRA2 (face in context) of its protected test photos becomes
``quality_target``, the budget every baseline is calibrated to (per-photo methods: each photo's
perturbation is scaled to the largest strength keeping SSIMULACRA2 >= target; OPOM: its L-inf bound is
scaled, and the mask learned again inside it, until the mean SSIMULACRA2 over the training photos equals
the target, as Chameleon's is set on its training photos).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

from p3mask.compare.config import CompareConfig
from p3mask.compare.protocol import run_user, split_probes, summarise
from p3mask.compare.schema import CompareReport
from p3mask.datasets import load_dataset
from p3mask.evaluate.gallery import build_gallery, gallery_dataset
from p3mask.evaluate.probes import ProbeEmbedder
from p3mask.evaluate.runner import model_thresholds
from p3mask.evaluate.scoring import query_psr
from p3mask.evaluate.users import split_user
from p3mask.face.detect import FaceDetector
from p3mask.methods import get_method
from p3mask.models import load_models
from p3mask.protect.config import DEFAULT_POOL, HELD_OUT_MODELS, PRESETS
from p3mask.protect.learning import resolve_device
from p3mask.recognition import FacePipeline

logger = logging.getLogger(__name__)


def method_kwargs(name: str, config: CompareConfig, quality_target: float) -> dict:
    """Hyperparameters of one method in this comparison (``config.method_options`` win)."""
    preset = PRESETS[config.preset]
    if name == "chameleon":
        kwargs = {"preset": config.preset, "epochs": config.epochs}
    else:
        kwargs = {"quality_target": quality_target}
        if name == "opom":
            kwargs["epsilon"] = preset.epsilon  # OPOM learns at Chameleon's L-inf bound, then is calibrated
    return {**kwargs, **config.method_options.get(name, {})}


def run_compare(config: CompareConfig, progress: bool = True) -> CompareReport:
    """Run every method of ``config`` on the same users; returns the :class:`CompareReport`.

    The report holds ``methods`` (method -> the figures of ``compare.json``), ``details`` (per
    method: per-model PSRs, quality, per-user choices and timing), the perceptual budget and where it
    came from, the clean top-1 error of the probes, and the run's settings (schema: ``docs/REPORTS.md``).
    """
    start = time.perf_counter()
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.root)
    names = dataset.sample_identities(config.users, config.min_photos, config.seed)
    models = load_models([*DEFAULT_POOL, *HELD_OUT_MODELS], device)
    detector = FaceDetector()
    gallery = build_gallery(gallery_dataset(dataset, names, config.gallery_identities, config.seed),
                            models, detector, config.use_cache, progress, device)
    thresholds, sources = model_thresholds(list(models), gallery)
    embedder = ProbeEmbedder(FacePipeline(models, detector, device))
    splits = {n: split_user(dataset, n, config.train_fraction, config.seed, config.max_photos) for n in names}
    target = config.quality_target
    source = "given" if target is not None else None
    rows, details, hyper = {}, {}, {}
    for method in config.ordered_methods():
        preset = PRESETS[config.preset]
        budget = target if target is not None else preset.quality_floor
        protector = get_method(method, pool=DEFAULT_POOL, models=models, detector=detector, device=device,
                               seed=config.seed, thresholds=thresholds, **method_kwargs(method, config, budget))
        hyper[method] = settings(protector)
        logger.info("compare: running %s", method)
        cases = [run_user(protector, i, n, splits[n], gallery) for i, n in enumerate(names)]
        cases = [c for c in cases if c.test]
        if not cases:
            raise RuntimeError(f"{method}: no test photo of any user could be protected")
        rows[method], details[method] = summarise(cases, embedder, gallery, DEFAULT_POOL, config.seed)
        details[method]["quality_budget"] = budget if method != "chameleon" else None
        if method == "chameleon" and target is None:
            target, source = rows[method]["ssimulacra2_face"], "chameleon-measured"
    clean = split_probes(names, splits, gallery)
    return CompareReport.from_dict({
        "methods": rows,
        "details": details,
        "quality_target": target,
        "quality_target_source": source or "preset-default",
        "clean_error": query_psr(clean, gallery, 1),
        "users": names,
        "dataset": config.dataset,
        "pool": list(DEFAULT_POOL),
        "unseen": list(HELD_OUT_MODELS),
        "thresholds": {"values": thresholds, "source": sources},
        "gallery": {"photos": len(gallery), "identities": len(gallery.identities)},
        "redetection_fallbacks": {"photos": embedder.photos, "fallbacks": embedder.fallbacks},
        "method_hyperparameters": hyper,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "device": str(device),
        "wall_s": time.perf_counter() - start,
    })



def settings(protector) -> dict:
    """The protector's scalar hyperparameters as run (public attributes of simple types)."""
    simple = (int, float, str, bool)
    out = {k: v for k, v in vars(protector).items() if not k.startswith("_") and isinstance(v, simple)}
    out["pool"] = list(protector.pool)
    config = getattr(protector, "config", None)
    if config is not None:  # Chameleon: its whole config
        out.update({k: v for k, v in asdict(config).items() if isinstance(v, simple)})
    return out
