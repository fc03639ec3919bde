import json
import math

import torch

from p3mask.evaluate.quality import mean_quality, photo_quality
from p3mask.evaluate.report import markdown, summary, write_report
from p3mask.evaluate.transforms import TRANSFORMS

MODELS = ("facenet", "dlib")


def _report() -> dict:
    clean = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    protected = (clean + 0.02).clamp(0, 1)
    psr = {m: {"query_top1": 0.9, "query_top5": 0.7, "gallery_top1": 0.8, "verification": math.nan,
               "seen_in_training": m != "dlib", "team_fraction": 1.0 if m != "dlib" else 0.0} for m in MODELS}
    per_model = {m: 0.5 for m in MODELS}
    return {
        "psr": psr,
        "quality": {**mean_quality([photo_quality(clean, protected, box=(8, 8, 24, 24))]),
                    "lpips": "unavailable offline"},
        "authorized": {"top1_clean": 1.0, "top1_unlocked": 0.95, "top1_wrong_key": 0.1, "per_model": {}},
        "robustness": {name: dict(per_model) for name in TRANSFORMS},
        "robustness_clean_error": {name: dict(per_model) for name in TRANSFORMS},
        "clean_error": dict(per_model),
        "adaptive": {"mask_estimate": dict(per_model), "rethreshold": dict(per_model), "unseen_dlib": {"dlib": 0.4}},
        "timing": {"learn_s_per_user": 50.0, "protect_ms_per_photo": 40.0},
        "presets": {"low": {"psr": per_model, **mean_quality([photo_quality(clean, clean * 0.99, box=(8, 8, 24, 24))]),
                            "epsilon": 8 / 255},
                    "mid": {"psr": {m: 0.9 for m in MODELS},
                            **mean_quality([photo_quality(clean, protected, box=(8, 8, 24, 24))]),
                            "epsilon": 12 / 255}},
        "per_user": [{"name": "A", "team": ["facenet"], "learn_s": 50.0, "test_photos": 3, "train_photos": 7,
                      "unprotected": [], "ssim_face_min": 0.951, "ssimulacra2_face_min": 71.0}],
        "retrieval": {m: {"top1": {"1a": 0.3, "1b": 1.0, "2a": 0.8 if m == "dlib" else 0.6, "2b": 0.2},
                          "precision_at_k": {"1a": 0.25, "1b": 0.9, "2a": 0.7, "2b": 0.1},
                          "cosine": {"protected_protected": 0.41, "clean_clean": 0.6, "protected_clean": 0.2,
                                     "clean_other_people": 0.05},
                          "queries": 4, "entries": 5, "users": 1, "skipped": ["B"]} for m in MODELS},
        "users": 1,
        "dataset": "lfw",
    }


def test_write_report_makes_json_markdown_and_plots(tmp_path):
    paths = write_report(_report(), tmp_path / "out")
    names = sorted(p.name for p in paths)
    assert names == ["psr_per_model.png", "psr_vs_ssimulacra2.png", "report.json", "report.md", "robustness.png"]
    data = json.loads((tmp_path / "out" / "report.json").read_text())
    assert data["psr"]["facenet"]["verification"] is None  # NaN becomes null
    for key in ("psr", "quality", "authorized", "robustness", "adaptive", "timing", "users", "dataset"):
        assert key in data
    for path in paths:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000


def test_markdown_and_summary_read_well():
    text = markdown(json.loads(json.dumps(_report(), default=str).replace("NaN", "null")))
    assert "| facenet | 0.900 | 0.700 | 0.800 | n/a |" in text
    assert "dlib *" in text and "unavailable offline" in text
    lines = summary(_report())
    assert "never in training" in lines and "unlocked 0.950" in lines


def test_markdown_and_summary_show_the_four_retrieval_cases():
    text = markdown(_report())
    assert "| top-1 1a | top-1 1b | top-1 2a | top-1 2b |" in text
    assert "| dlib * | 0.300 | 1.000 | 0.800 | 0.200 | 0.250 | 0.900 | 0.700 | 0.100 |" in text
    assert "| facenet | 0.410 | 0.600 | 0.200 | 0.050 |" in text
    assert "Users: 1, queries: 4, their database entries: 5; left out (fewer than 2 test photos): B." in text
    lines = summary(_report())
    assert "dlib           1a 0.300  1b 1.000  2a 0.800  2b 0.200  cos prot 0.410  clean 0.600" in lines
    without = {k: v for k, v in _report().items() if k != "retrieval"}
    assert "Retrieval" not in markdown(without) and "2a" not in summary(without)
