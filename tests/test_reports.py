"""Typed reports: the dataclass codec, the evaluation's and the comparison's schemas, and real reports."""

import json
import math
from pathlib import Path

import pytest

from p3mask.atomic import write_json
from p3mask.compare.report import write_report as write_compare
from p3mask.compare.schema import CompareReport
from p3mask.evaluate.schema import EvalReport
from p3mask.reports import ReportError

FIGURES = Path(__file__).resolve().parents[1] / "docs" / "figures"
CURRENT_REPORTS = ["lfw5_mid_report.json", "lfw5_perceptual_report.json"]  # written with the present schema


@pytest.mark.parametrize("name", CURRENT_REPORTS)
def test_a_published_report_loads_and_writes_back_the_same_json(name, tmp_path):
    text = (FIGURES / name).read_text()
    report = EvalReport.load(FIGURES / name)
    assert report.psr["dlib"].seen_in_training is False
    assert report.quality.photos == sum(u.test_photos for u in report.per_user)
    assert report.gallery.undetected is not None and report.adaptive is not None
    assert write_json(report.to_dict(), tmp_path / "report.json").read_text() == text


def test_refusals_name_the_field(tmp_path):
    data = json.loads((FIGURES / CURRENT_REPORTS[0]).read_text())
    data["psr"]["dlib"]["query_top3"] = 0.5
    with pytest.raises(ReportError, match=r"^report\.psr\.dlib: unknown field\(s\) query_top3"):
        EvalReport.from_dict(data)
    del data["psr"]["dlib"]["query_top3"], data["quality"]["photos"]
    with pytest.raises(ReportError, match=r"^report\.quality: missing field photos"):
        EvalReport.from_dict(data)
    data["quality"]["photos"] = "29"
    with pytest.raises(ReportError, match=r"^report\.quality\.photos: expected int, got str"):
        EvalReport.from_dict(data)
    data["quality"]["photos"] = 29
    data["per_user"] = {"name": "A"}
    with pytest.raises(ReportError, match=r"^report\.per_user: expected a list"):
        EvalReport.from_dict(data)
    older = FIGURES / "orl10_report.json"  # the SSIM-preset schema: no retrieval cases yet
    with pytest.raises(ReportError, match=r"orl10_report.json: missing field retrieval"):
        EvalReport.load(older)


def _row(psr: float) -> dict:
    return {"psr_seen": psr, "psr_unseen": psr / 2, "psr_unseen_modern": math.nan, "gallery_psr": 0.5,
            "ssimulacra2_face": 70.2, "butteraugli_face": 5.1, "ssim_face": 0.93, "psnr": 36.0,
            "psr_unseen_jpeg75": 0.2, "retrieval_2a_seen": 0.9, "retrieval_2a_unseen": 1.0, "setup_s": 20.0,
            "protect_s_per_photo": 0.2}


def _compare_dict() -> dict:
    """A comparison report as run_compare builds it (two methods, two models)."""
    models = ["sface", "dlib"]
    quality = json.loads((FIGURES / CURRENT_REPORTS[0]).read_text())["quality"]
    del quality["lpips"]  # the comparison's quality block has no LPIPS note
    retrieval = {"top1": {"1a": 0.3, "1b": 1.0, "2a": 0.9, "2b": 0.2}, "precision_at_k": {"1a": 0.2},
                 "cosine": {"protected_protected": 0.5,
                            "clean_clean": 0.6}, "queries": 3, "entries": 4, "users": 2, "skipped": []}
    details = {m: {"query_top1": {n: 0.4 for n in models}, "query_top5": {n: 0.1 for n in models},
                   "gallery_top1": {n: 0.5 for n in models}, "retrieval": {n: retrieval for n in models},
                   "query_top1_jpeg75": {n: 0.3 for n in models}, "quality": quality, "probes": 6,
                   "unprotected": [], "per_user": [{"name": "A", "setup_s": 3.0, "target_name": "B"}],
                   "quality_budget": None if m == "chameleon" else 70.0} for m in ("chameleon", "fawkes")}
    return {"methods": {"chameleon": _row(0.4), "fawkes": _row(0.3)}, "details": details, "quality_target": 70.2,
            "quality_target_source": "chameleon-measured", "clean_error": {n: 0.0 for n in models},
            "users": ["A", "B"], "dataset": "lfw", "pool": ["sface"], "unseen": ["dlib"],
            "thresholds": {"values": {n: 0.4 for n in models}, "source": {n: "calibrated" for n in models}},
            "gallery": {"photos": 40, "identities": 12}, "redetection_fallbacks": {"photos": 12, "fallbacks": 0},
            "method_hyperparameters": {"fawkes": {"steps": 20}}, "config": {"users": 2}, "device": "cpu",
            "wall_s": 10.0}


def test_compare_report_round_trip_and_files(tmp_path):
    data = _compare_dict()
    report = CompareReport.from_dict(data)
    assert report.details["chameleon"].quality.lpips is None and report.gallery.undetected is None
    assert report.methods["fawkes"].psr_seen == 0.3
    assert json.dumps(report.to_dict()) == json.dumps(data)  # same keys, same order, nan kept
    write_compare(report, tmp_path)
    written = json.loads((tmp_path / "compare_details.json").read_text())
    assert json.dumps(CompareReport.load(tmp_path / "compare_details.json").to_dict()) == json.dumps(written)
    assert written["methods"]["chameleon"]["psr_unseen_modern"] is None  # nan is written as null
    assert list(json.loads((tmp_path / "compare.json").read_text())) == ["chameleon", "fawkes"]
