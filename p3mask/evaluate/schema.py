"""The schema of ``p3mask evaluate``'s ``report.json``: typed dataclasses, serialised to the same JSON.

:func:`p3mask.evaluate.runner.run_evaluation` returns an :class:`EvalReport`; ``report.json`` is its
:func:`~p3mask.reports.to_json_dict`. Every PSR is a protection success rate in [0, 1] (higher is better
protection, ``nan`` where nothing was scored); "top-1" accuracies are identification rates in [0, 1].
Maps keyed by a model name hold one entry per evaluated recogniser. A float that is not a number
(nothing measured) is ``nan`` in memory and ``null`` in the file. ``docs/REPORTS.md`` describes every
field; :meth:`EvalReport.load` reads a report file back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from p3mask.reports import Report, optional_block


@dataclass(kw_only=True)
class ModelPSR:
    """One recogniser's protection success rates on the protected test photos (the ``psr`` block)."""

    query_top1: float  # top-1 identification in the whole gallery misses the user
    query_top5: float  # the user is not among the 5 nearest gallery photos
    gallery_top1: float  # a protected photo in the gallery is not what a clean query of the user finds
    verification: float  # a protected photo is rejected against the user's clean photos at the match threshold
    query_top1_in_team: float  # query_top1 over users whose team held the model (nan: none did)
    seen_in_training: bool  # the model was in some user's team
    team_fraction: float  # fraction of users whose team held it


@dataclass(kw_only=True)
class ModelRetrieval:
    """One recogniser's four retrieval cases (Protego's 1a/1b/2a/2b; :mod:`p3mask.evaluate.retrieval`)."""

    top1: dict[str, float]  # case -> top-1 identification rate
    precision_at_k: dict[str, float]  # case -> mean precision at k (k = the user's database entries)
    cosine: dict[str, float]  # pair kind -> mean cosine
    queries: int  # queries per case
    entries: int  # the users' database entries
    users: int  # users scored
    skipped: list[str]  # users left out (too few test photos)


@dataclass(kw_only=True)
class QualitySummary:
    """Image quality of the protected test photos, means over photos unless named ``_min``/``_max``."""

    ssim_face: float  # SSIM on the aligned face region
    psnr_face: float  # PSNR (dB) on the face region
    ssim_full: float  # SSIM on the whole photo
    psnr_full: float  # PSNR (dB) on the whole photo
    ssimulacra2_face: float  # SSIMULACRA2 of the face in context (the presets' measure)
    ssimulacra2_full: float  # SSIMULACRA2 of the whole photo
    butteraugli_face: float  # Butteraugli max norm, face in context (nan without butteraugli_main)
    butteraugli_pnorm3_face: float  # Butteraugli 3-norm, face in context
    ciede2000_face: float  # mean CIEDE2000 colour difference on the face
    ciede2000_over3_face: float  # fraction of face pixels with CIEDE2000 over 3
    ssim_face_min: float  # the worst photo's face SSIM
    ssimulacra2_face_min: float  # the worst photo's SSIMULACRA2
    butteraugli_face_max: float  # the worst photo's Butteraugli
    gamed: int  # photos SSIMULACRA2 calls barely noticeable while Butteraugli calls them damaged
    photos: int  # photos measured
    lpips: str | None = optional_block()  # why LPIPS is not reported (evaluate's report only)


@dataclass(kw_only=True)
class Authorized:
    """The key holder's view: top-1 identification of clean, unlocked and wrong-key-unlocked photos."""

    top1_clean: float  # mean over models
    top1_unlocked: float  # mean over models, unlocked with the user's key
    top1_wrong_key: float  # mean over models, "unlocked" with another user's key (nan with one user)
    per_model: dict[str, dict[str, float]]  # model -> the three figures


@dataclass(kw_only=True)
class Timing:
    """Where the time went."""

    learn_s_per_user: float  # seconds to learn one key
    protect_ms_per_photo: float  # milliseconds to protect one photo, detection included
    phases_s: dict[str, float]  # phase -> wall seconds (gallery, learning and scoring per preset)


@dataclass(kw_only=True)
class UserSummary:
    """One user of the evaluation."""

    name: str  # identity
    team: list[str]  # the key's team
    learn_s: float  # seconds to learn the key
    test_photos: int  # held-out photos protected and scored
    train_photos: int  # photos the key was learned from
    unprotected: list[str]  # test photos in which the key found no face of the user
    ssim_face_min: float  # the user's worst face SSIM
    ssimulacra2_face_min: float  # the user's worst SSIMULACRA2


@dataclass(kw_only=True)
class Thresholds:
    """The match thresholds used (cosine at FAR = 1e-3)."""

    values: dict[str, float]  # model -> threshold
    source: dict[str, str]  # model -> where it comes from (calibrated, or the gallery's impostor pairs)


@dataclass(kw_only=True)
class GalleryInfo:
    """The clean gallery searched."""

    photos: int  # photos in the gallery
    identities: int  # identities in the gallery
    undetected: int | None = optional_block()  # photos aligned with median landmarks (evaluate only)


@dataclass(kw_only=True)
class Fallbacks:
    """Re-detection of the user's face in scored photos."""

    photos: int  # photos re-detected
    fallbacks: int  # photos where the face was not re-detected and its known landmarks were used


@dataclass(kw_only=True)
class EvalReport(Report):
    """``report.json`` of ``p3mask evaluate`` (the first preset's figures, then every preset's summary)."""

    psr: dict[str, ModelPSR]  # model -> protection success rates
    retrieval: dict[str, ModelRetrieval]  # model -> the four retrieval cases
    quality: QualitySummary  # image quality of the protected photos
    authorized: Authorized  # what the key holder recovers
    robustness: dict[str, dict[str, float]]  # transform -> model -> query top-1 PSR after it
    robustness_clean_error: dict[str, dict[str, float]]  # transform -> model -> clean photos' top-1 error after it
    clean_error: dict[str, float]  # model -> top-1 error on clean photos (the floor of every PSR)
    adaptive: dict[str, dict[str, float]] | None = optional_block()  # attack -> model -> PSR (with --adaptive)
    adaptive_details: dict[str, Any] | None = optional_block()  # attack -> its choices and per-strength PSRs
    timing: Timing  # learning and protection times of the first preset, phases of the run
    per_user: list[UserSummary]  # one entry per user
    users: int  # users evaluated (with at least one protected test photo)
    dataset: str  # dataset name
    presets: dict[str, dict[str, Any]]  # preset -> {"psr": model -> query top-1, the quality means, "epsilon", timing}
    thresholds: Thresholds  # the match thresholds used
    gallery: GalleryInfo  # the clean gallery searched
    redetection_fallbacks: Fallbacks  # re-detection misses in the scored photos
    config: dict[str, Any]  # the EvalConfig as run
    device: str  # where the models ran
    wall_s: float  # wall seconds of the whole run
