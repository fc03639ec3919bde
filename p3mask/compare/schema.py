"""The schema of ``p3mask compare``'s ``compare_details.json`` (and of ``compare.json``, its table).

:func:`p3mask.compare.runner.run_compare` returns a :class:`CompareReport`; ``compare_details.json`` is
its :func:`~p3mask.reports.to_json_dict` and ``compare.json`` is :func:`p3mask.compare.report.table_rows`
of it (each method's :class:`MethodRow` in the order of :data:`p3mask.compare.report.TABLE_KEYS`).
PSRs are protection success rates in [0, 1] (higher is better protection); a float that is not a number
is ``nan`` in memory and ``null`` in the file. ``docs/REPORTS.md`` describes every field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p3mask.evaluate.schema import Fallbacks, GalleryInfo, ModelRetrieval, QualitySummary, Thresholds
from p3mask.reports import Report


@dataclass(kw_only=True)
class MethodRow:
    """One method's row of the comparison table."""

    psr_seen: float  # query top-1 PSR, mean over the pool (models the methods optimise against)
    psr_unseen: float  # query top-1 PSR of the held-out dlib ResNet
    psr_unseen_modern: float  # query top-1 PSR of the held-out w600k_mbf
    gallery_psr: float  # protected photos in the gallery not found by clean queries, mean over models
    ssimulacra2_face: float  # mean SSIMULACRA2 of the face in context
    butteraugli_face: float  # mean Butteraugli max norm of the face in context
    ssim_face: float  # mean face SSIM
    psnr: float  # mean face PSNR (dB)
    psr_unseen_jpeg75: float  # the unseen model's PSR after JPEG quality 75
    retrieval_2a_seen: float  # retrieval case 2a top-1 (protected -> protected), mean over the pool
    retrieval_2a_unseen: float  # case 2a top-1 for the unseen model
    setup_s: float  # seconds of per-user setup (learning, target choice, face finding)
    protect_s_per_photo: float  # seconds to protect one photo, detection included


@dataclass(kw_only=True)
class MethodDetails:
    """Everything else measured for one method."""

    query_top1: dict[str, float]  # model -> query top-1 PSR
    query_top5: dict[str, float]  # model -> query top-5 PSR
    gallery_top1: dict[str, float]  # model -> gallery PSR
    retrieval: dict[str, ModelRetrieval]  # model -> the four retrieval cases
    query_top1_jpeg75: dict[str, float]  # model -> query top-1 PSR after JPEG 75
    quality: QualitySummary  # image quality of the protected photos
    probes: int  # protected photos scored
    unprotected: list[str]  # test photos in which the method found no face of the user
    per_user: list[dict[str, Any]]  # per user: setup_s, per-photo times and qualities, the method's choices
    quality_budget: float | None  # SSIMULACRA2 the method was calibrated to (None for Chameleon)


@dataclass(kw_only=True)
class CompareReport(Report):
    """``compare_details.json`` of ``p3mask compare``."""

    methods: dict[str, MethodRow]  # method -> its table row
    details: dict[str, MethodDetails]  # method -> the rest
    quality_target: float | None  # SSIMULACRA2 the baselines were calibrated to
    quality_target_source: str  # "given", "chameleon-measured" or "preset-default"
    clean_error: dict[str, float]  # model -> top-1 error on clean photos
    users: list[str]  # the users compared
    dataset: str  # dataset name
    pool: list[str]  # models the methods optimise against
    unseen: list[str]  # held-out models
    thresholds: Thresholds  # the match thresholds used
    gallery: GalleryInfo  # the clean gallery searched
    redetection_fallbacks: Fallbacks  # re-detection misses in the scored photos
    method_hyperparameters: dict[str, dict[str, Any]]  # method -> its settings as run
    config: dict[str, Any]  # the CompareConfig as run
    device: str  # where the models ran
    wall_s: float  # wall seconds of the whole run
