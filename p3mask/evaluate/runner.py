"""``p3mask evaluate``: protection success, image quality, the key, robustness and adaptive adversaries.

Per evaluated user (identities with >= ``min_photos`` photos, drawn under the seed): a mask is learned on
70% of their photos and the other 30% are protected with it. Those protected photos are the probes,
searched in the clean gallery of every photo of every identity of the dataset (:mod:`.gallery`). The
figures are pooled over all probes of all users and gathered into one
:class:`~p3mask.evaluate.schema.EvalReport` (:func:`run_evaluation`; schema: ``docs/REPORTS.md``);
:mod:`.report` writes it out.

Protocol choices, stated once:

* a probe is never compared with its own clean original (query protection and verification); the user's
  other clean photos, training photos included, stay in the gallery;
* gallery protection: each clean test photo of the user is searched in a gallery whose only entries of
  the user are their *other* protected test photos (every clean photo of the user removed);
* the four retrieval cases (:mod:`.retrieval`): each user's test photos are split (seeded) into queries
  and database entries, the distractors being every gallery photo of every other identity; a user with
  fewer than two test photos (protected ones) is left out of them and named in the report;
* a user's photos are capped at ``max_photos`` (seeded draw, default 30) so that one identity with
  hundreds of photos (LFW has one with 530) cannot dominate the run time;
* the protected photo is the key applied as ``p3mask protect`` applies it, rounded to 8 bits; the face is
  re-detected in every probe, with the known landmarks as fallback (counted in the report);
* match thresholds are the calibrated ones of :mod:`p3mask.models.thresholds` (FAR = 1e-3) when
  present, else measured on the gallery's impostor pairs (the report says which).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from p3mask.datasets import load_dataset
from p3mask.evaluate import conditions as cond
from p3mask.evaluate.gallery import Gallery, build_gallery, gallery_dataset
from p3mask.evaluate.metrics import psr_from_hits, success_rate
from p3mask.evaluate.probes import ProbeEmbedder
from p3mask.evaluate.quality import LPIPS_STATUS, mean_quality
from p3mask.evaluate.retrieval import retrieval_block
from p3mask.evaluate.schema import EvalReport
from p3mask.evaluate.scoring import (
    ProbeSet,
    gallery_hits,
    gallery_threshold,
    query_hits,
    query_psr,
    rethreshold,
    top1_accuracy,
    verification_rejections,
)
from p3mask.evaluate.transforms import TRANSFORMS
from p3mask.evaluate.users import UserCase, learn_and_protect, split_user
from p3mask.face.detect import FaceDetector
from p3mask.models import available_models, load_model, load_models
from p3mask.models.thresholds import match_threshold
from p3mask.protect.config import ChameleonConfig, get_config
from p3mask.protect.learning import resolve_device
from p3mask.recognition import FacePipeline

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalConfig:
    """What ``p3mask evaluate`` measures and on what (CLI flags map one-to-one onto fields)."""

    dataset: str = "lfw"  # "lfw", "orl" or "folder"
    root: Path | None = None  # dataset folder (default: the data root's lfw/ or orl/)
    users: int = 5  # number of evaluated users
    presets: tuple[str, ...] = ("mid",)  # first: the full evaluation; others: PSR and SSIM only
    seed: int = 0  # draws the users, splits their photos, seeds learning
    min_photos: int = 10  # users need at least this many photos
    max_photos: int | None = 30  # photos per user are capped at this (seeded draw) to bound the time
    gallery_identities: int | None = None  # None: every identity of the dataset; K: the users plus K drawn others
    train_fraction: float = 0.7  # share of a user's photos the mask is learned on
    epochs: int | None = None  # override the preset's epochs
    team: tuple[str, ...] | None = None  # fixed team for every user's mask (default: focal-diversity selection)
    unlink_weight: float | None = None  # override the preset's unlinkability weight (ChameleonConfig.unlink_weight)
    masks: int = 1  # masks per user (issue 19's several-masks key): learned with different seeds, one per photo
    models: tuple[str, ...] | None = None  # recognisers to evaluate (default: the whole zoo)
    transforms: tuple[str, ...] = tuple(TRANSFORMS)  # scraper-side transforms for robustness
    adaptive: bool = True  # run the adaptive adversaries
    population: int = 200  # clean faces in the mask-estimating adversary's population mean
    device: str = "auto"  # "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"
    use_cache: bool = True  # read/write the gallery cache

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, got {self.users}")
        if not self.presets:
            raise ValueError("give at least one preset")
        if self.masks < 1:
            raise ValueError(f"masks must be >= 1, got {self.masks}")
        if self.max_photos is not None and self.max_photos < self.min_photos:
            raise ValueError(f"max_photos ({self.max_photos}) must be >= min_photos ({self.min_photos})")
        unknown = [t for t in self.transforms if t not in TRANSFORMS]
        if unknown:
            raise ValueError(f"unknown transforms {unknown}; valid: {', '.join(TRANSFORMS)}")


def model_thresholds(names: list[str], gallery: Gallery) -> tuple[dict[str, float], dict[str, str]]:
    """Match thresholds (cosine at FAR = 1e-3): the package's calibrated value when there is one,
    else one measured on the gallery's impostor pairs. Returns (thresholds, source per model)."""
    values, sources = {}, {}
    for name in names:
        try:
            values[name], sources[name] = match_threshold(name), "calibrated (p3mask.models.thresholds)"
        except (FileNotFoundError, ValueError):
            values[name], sources[name] = gallery_threshold(gallery, name), f"{gallery.dataset}-gallery-impostors"
            logger.warning("no calibrated threshold for %s; using %.4f from gallery impostor pairs", name, values[name])
    return values, sources


def _mean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return sum(values) / len(values) if values else math.nan


def psr_block(clean: ProbeSet, protected: ProbeSet, gallery: Gallery, thresholds, teams: dict[int, tuple]) -> dict:
    """The report's ``psr`` block: per model, every protection success rate.

    ``teams`` maps a user's index (``ProbeSet.users``) to the team their mask was learned against;
    ``query_top1_in_team`` is the query top-1 PSR over the probes of users whose team held the model
    (``nan`` when no team did), the white-box figure the mask issue's target speaks of.
    """
    top1, top5 = query_psr(protected, gallery, 1), query_psr(protected, gallery, 5)
    hits = query_hits(protected, gallery, 1)
    gal = gallery_hits(clean, protected, gallery)
    ver = verification_rejections(protected, gallery, thresholds)
    block = {}
    for name in protected.embeddings:
        in_team = torch.tensor([name in teams[int(u)] for u in protected.users], dtype=torch.bool)
        block[name] = {
            "query_top1": top1[name], "query_top5": top5[name], "gallery_top1": psr_from_hits(gal[name]),
            "verification": success_rate(ver[name]),
            "query_top1_in_team": psr_from_hits(hits[name][in_team]) if bool(in_team.any()) else math.nan,
            "seen_in_training": any(name in team for team in teams.values()),
            "team_fraction": sum(name in team for team in teams.values()) / max(len(teams), 1),
        }
    return block


def authorized_block(clean: ProbeSet, unlocked: ProbeSet, wrong: ProbeSet | None, gallery: Gallery) -> dict:
    """Top-1 accuracy of clean, unlocked and wrong-key-unlocked probes (mean over models, and per model)."""
    acc = {"clean": top1_accuracy(clean, gallery), "unlocked": top1_accuracy(unlocked, gallery)}
    acc["wrong_key"] = top1_accuracy(wrong, gallery) if wrong is not None else {n: math.nan for n in acc["clean"]}
    out = {f"top1_{k}": _mean(v.values()) for k, v in acc.items()}
    out["per_model"] = {n: {f"top1_{k}": acc[k][n] for k in acc} for n in acc["clean"]}
    return out


def learning_config(config: EvalConfig, preset: str) -> ChameleonConfig:
    """The Chameleon config every user's mask of ``preset`` is learned with (epochs and team overridden)."""
    return get_config(preset, epochs=config.epochs, team=config.team, unlink_weight=config.unlink_weight)


def _learn_users(config: EvalConfig, preset: str, dataset, names, gallery, models, thresholds, detector, device):
    cfg = learning_config(config, preset)
    # Learning needs the team pool and the key's face-matching model even when they are not evaluated.
    wanted = [*(cfg.team or cfg.pool), cfg.match_model]
    models = {**{n: load_model(n, device) for n in wanted if n not in models}, **models}
    cases = []
    for i, name in enumerate(names):
        split = split_user(dataset, name, config.train_fraction, config.seed, config.max_photos)
        rows = {p: gallery.index_of(p) for p in split[0] + split[1]}
        protect_train = config.adaptive and preset == config.presets[0]
        cases.append(learn_and_protect(i, name, gallery.label_of(name), split, rows, cfg, models, thresholds,
                                       detector, config.seed + i, device, protect_train, config.masks))
    return [c for c in cases if c.test]


def _timing(cases: list[UserCase]) -> dict:
    ms = [p.protect_ms for c in cases for p in c.test]
    return {"learn_s_per_user": _mean([c.learn_s for c in cases]), "protect_ms_per_photo": _mean(ms)}


def _main_preset(config, cases, gallery, embedder, thresholds) -> dict:
    """Every block of the report for the first preset."""
    clean = cond.probe_set(cases, embedder, lambda c, p: p.clean)
    protected = cond.probe_set(cases, embedder, lambda c, p: p.protected)
    report = {"psr": psr_block(clean, protected, gallery, thresholds, {c.index: c.key.team for c in cases})}
    report["retrieval"] = retrieval_block(clean, protected, gallery, config.seed)
    report["quality"] = {**mean_quality([q for c in cases for q in c.quality]), "lpips": LPIPS_STATUS}
    wrong = cond.unlocked_set(cases, embedder, wrong=True) if len(cases) > 1 else None
    report["authorized"] = authorized_block(clean, cond.unlocked_set(cases, embedder, wrong=False), wrong, gallery)
    sets = cond.transform_sets(cases, embedder, list(config.transforms))
    report["robustness"] = {name: query_psr(p, gallery, 1) for name, (p, _) in sets.items()}
    report["robustness_clean_error"] = {name: query_psr(c, gallery, 1) for name, (_, c) in sets.items()}
    report["clean_error"] = query_psr(clean, gallery, 1)
    if config.adaptive:
        report["adaptive"], report["adaptive_details"] = _adaptive(config, cases, gallery, embedder, clean, protected,
                                                                   thresholds)
    return report


def _adaptive(config, cases, gallery, embedder, clean, protected, thresholds) -> tuple[dict, dict]:
    adaptive = {v: query_psr(p, gallery, 1) for v, p in
                cond.estimation_sets(cases, embedder, gallery, config.population, config.seed).items()}
    purified, details = cond.purification_psr(cases, embedder, gallery)
    adaptive.update(purified)
    adaptive["rethreshold"], details["rethreshold"] = rethreshold(clean, protected, gallery, thresholds)
    details["rethreshold"]["metric"] = "verification PSR at the adapted threshold (query top-1 is threshold-free)"
    if "dlib" in protected.embeddings:
        adaptive["unseen_dlib"] = {"dlib": query_psr(protected, gallery, 1)["dlib"]}
    return adaptive, details


def run_evaluation(config: EvalConfig, progress: bool = True) -> EvalReport:
    """Run the whole evaluation; returns the :class:`~p3mask.evaluate.schema.EvalReport` (schema:
    ``docs/REPORTS.md``).

    ``report["timing"]["phases_s"]`` records where the wall time went (gallery, learning and protecting
    per preset, scoring).
    """
    start = time.perf_counter()
    phases: dict[str, float] = {}
    device = resolve_device(config.device)
    dataset = load_dataset(config.dataset, config.root)
    names = dataset.sample_identities(config.users, config.min_photos, config.seed)
    models = {n: m.to(device) for n, m in load_models(list(config.models or available_models())).items()}
    detector = FaceDetector()
    gallery = build_gallery(gallery_dataset(dataset, names, config.gallery_identities, config.seed), models, detector,
                            config.use_cache, progress, device)
    thresholds, sources = model_thresholds(list(models), gallery)
    embedder = ProbeEmbedder(FacePipeline(models, detector, device))
    phases["load_and_gallery"] = time.perf_counter() - start
    report, presets = {}, {}
    for preset in config.presets:
        tic = time.perf_counter()
        cases = _learn_users(config, preset, dataset, names, gallery, models, thresholds, detector, device)
        phases[f"learn_and_protect_{preset}"] = time.perf_counter() - tic
        if not cases:
            raise RuntimeError(f"preset {preset}: no test photo of any user could be protected")
        tic = time.perf_counter()
        if preset == config.presets[0]:
            report = _main_preset(config, cases, gallery, embedder, thresholds)
            report["timing"] = _timing(cases)
            report["per_user"] = [_user_summary(c) for c in cases]
            top1 = {n: v["query_top1"] for n, v in report["psr"].items()}
        else:
            top1 = query_psr(cond.probe_set(cases, embedder, lambda c, p: p.protected), gallery, 1)
        phases[f"score_{preset}"] = time.perf_counter() - tic
        presets[preset] = {"psr": top1, **mean_quality([q for c in cases for q in c.quality]),
                           "epsilon": cases[0].key.epsilon, **_timing(cases)}
    report["timing"]["phases_s"] = phases
    report.update({
        "users": len(report["per_user"]), "dataset": config.dataset, "presets": presets,
        "thresholds": {"values": thresholds, "source": sources},
        "gallery": {"photos": len(gallery), "identities": len(gallery.identities),
                    "undetected": int((~gallery.detected).sum())},
        "redetection_fallbacks": {"photos": embedder.photos, "fallbacks": embedder.fallbacks},
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "device": str(device), "wall_s": time.perf_counter() - start,
    })
    return EvalReport.from_dict(report)


def _user_summary(case: UserCase) -> dict:
    return {"name": case.name, "team": list(case.key.team), "learn_s": case.learn_s, "test_photos": len(case.test),
            "train_photos": case.key.photos, "unprotected": case.unprotected,
            "ssim_face_min": min((q.ssim_face for q in case.quality), default=math.nan),
            "ssimulacra2_face_min": min((q.ssimulacra2_face for q in case.quality), default=math.nan)}
