"""The comparison's files and settings, from a hand-made report (no models needed)."""

import json
import math

import pytest

from p3mask.compare import TABLE_KEYS, CompareConfig, markdown, summary, table_rows, write_report
from p3mask.compare.report import budget_curves, plot_budgets
from p3mask.compare.runner import method_kwargs
from p3mask.datasets.base import FaceDataset
from p3mask.evaluate.gallery import gallery_dataset
from p3mask.protect.config import PRESETS


def _row(psr_unseen: float, quality: float, protect_s: float) -> dict:
    return {"psr_seen": 0.9, "psr_unseen": psr_unseen, "psr_unseen_modern": psr_unseen / 3, "gallery_psr": 0.5,
            "ssimulacra2_face": quality,
            "butteraugli_face": 2.5, "ssim_face": 0.97, "psnr": 38.0,
            "psr_unseen_jpeg75": psr_unseen / 2, "setup_s": 20.0, "protect_s_per_photo": protect_s,
            "retrieval_2a_seen": 0.9, "retrieval_2a_unseen": 0.8}


def _retrieval(two_a: float) -> dict:
    return {"top1": {"1a": 0.3, "1b": 1.0, "2a": two_a, "2b": 0.2}, "precision_at_k": {},
            "cosine": {"protected_protected": 0.41, "clean_clean": 0.62}}


def _report() -> dict:
    methods = {"chameleon": _row(0.4, 72.0, 0.05), "fawkes": _row(0.3, 72.5, 30.0), "opom": _row(0.5, 69.0, 0.05)}
    models = ["facenet", "sface", "mobilefacenet", "mobileface", "dlib"]
    details = {m: {"query_top1": {n: 0.5 for n in models}, "retrieval": {n: _retrieval(0.8) for n in models}}
               for m in methods}
    return {"methods": methods, "details": details, "quality_target": 72.0,
            "quality_target_source": "chameleon-measured",
            "clean_error": {n: 0.02 for n in models}, "users": ["A", "B"], "dataset": "lfw",
            "pool": models[:4], "unseen": ["dlib"], "gallery": {"photos": 100, "identities": 20},
            "device": "cpu", "wall_s": 12.0, "extra": math.nan}


def test_compare_json_has_exactly_the_issue_schema(tmp_path):
    paths = write_report(_report(), tmp_path)
    assert {p.name for p in paths} == {"compare.json", "compare_details.json", "compare.md", "compare.png"}
    table = json.loads((tmp_path / "compare.json").read_text())
    assert set(table) == {"chameleon", "fawkes", "opom"}
    assert all(set(row) == set(TABLE_KEYS) for row in table.values())
    assert json.loads((tmp_path / "compare_details.json").read_text())["extra"] is None  # NaN -> null
    assert (tmp_path / "compare.png").stat().st_size > 1000


def test_markdown_states_wins_losses_and_budget_matching():
    text = markdown(_report())
    assert "vs fawkes: unseen-model PSR 0.400 vs 0.300 (Chameleon at least as good)" in text
    assert "vs opom: unseen-model PSR 0.400 vs 0.500 (Chameleon WORSE)" in text
    assert "SSIMULACRA2 gap +0.5 (matched" in text and "SSIMULACRA2 gap -3.0 (NOT matched" in text
    assert "600x faster with Chameleon (target >= 100x met)" in text
    assert table_rows(_report())["fawkes"]["protect_s_per_photo"] == 30.0
    assert "chameleon" in summary(_report())


def test_markdown_and_summary_show_retrieval_case_2a():
    report = _report()
    text = markdown(report)
    assert "2a top-1, unseen (dlib)" in text and "| 0.900 | 0.800 |" in text
    assert "| fawkes | dlib | 0.300 | 1.000 | 0.800 | 0.200 | 0.410 | 0.620 |" in text
    assert summary(report).splitlines()[1].split()[-2:] == ["0.900", "0.800"]
    for d in report["details"].values():
        del d["retrieval"]
    assert "## Retrieval" not in markdown(report)


def test_config_checks_and_order():
    assert CompareConfig(methods=("opom", "chameleon", "fawkes")).ordered_methods() == ["chameleon", "fawkes", "opom"]
    with pytest.raises(ValueError, match="valid methods"):
        CompareConfig(methods=("glaze",))
    with pytest.raises(ValueError):
        CompareConfig(quality_target=100.0)
    with pytest.raises(ValueError):
        CompareConfig(max_photos=5, min_photos=10)


def test_method_kwargs_share_the_budget():
    config = CompareConfig(method_options={"fawkes": {"steps": 3}})
    assert method_kwargs("fawkes", config, 71.5) == {"quality_target": 71.5, "steps": 3}
    assert method_kwargs("opom", config, 71.5)["epsilon"] == PRESETS["mid"].epsilon
    assert method_kwargs("chameleon", config, 71.5) == {"preset": "mid", "epochs": None}


def test_gallery_dataset_keeps_users_and_draws_distractors(tmp_path):
    ids = {f"p{i:02d}": [tmp_path / f"p{i:02d}.jpg"] for i in range(30)}
    data = FaceDataset("lfw", tmp_path, ids)
    assert gallery_dataset(data, ["p03"], None, 0) is data
    sub = gallery_dataset(data, ["p03", "p07"], 5, 0)
    assert {"p03", "p07"} <= set(sub.identities) and len(sub) == 7
    assert list(sub.identities) == sorted(sub.identities)  # dataset order kept
    assert gallery_dataset(data, ["p03", "p07"], 5, 0).identities.keys() == sub.identities.keys()  # seeded


def test_budget_curves_join_each_method_over_the_runs_in_quality_order(tmp_path):
    high = {"chameleon": _row(0.6, 61.0, 0.05), "fawkes": _row(0.4, 61.5, 30.0)}
    mid = {"chameleon": _row(0.4, 71.0, 0.05), "fawkes": _row(0.2, 71.2, 30.0), "opom": _row(0.1, 70.5, 0.05)}
    low = {"chameleon": _row(0.1, 80.5, 0.05), "fawkes": _row(0.0, 80.1, 30.0)}
    curves = budget_curves([mid, low, high], "psr_unseen")
    assert list(curves) == ["chameleon", "fawkes", "opom"]
    assert curves["chameleon"] == [(61.0, 0.6), (71.0, 0.4), (80.5, 0.1)]
    assert curves["opom"] == [(70.5, 0.1)]  # only where it ran
    assert budget_curves([mid], "psr_unseen_modern")["fawkes"] == [(71.2, 0.2 / 3)]
    path = plot_budgets([mid, low, high], tmp_path / "budgets.png")
    assert path.stat().st_size > 1000
    with pytest.raises(Exception, match="exists"):
        plot_budgets([mid], path)
