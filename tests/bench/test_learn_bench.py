"""`p3mask bench learn`: choice of the user, FLOP counting, and a short real run through the CLI."""

import json
import time

import pytest
import torch
from torch import nn

from p3mask.bench.learn import lfw_user_photos, model_flops
from p3mask.cli.main import main
from p3mask.protect.config import DEFAULT_POOL


@pytest.mark.data
def test_default_user_is_the_first_with_twenty_photos(lfw_user):
    user, photos = lfw_user
    assert len(photos) >= 20 and photos == sorted(photos)
    assert lfw_user_photos(count=3) == (user, photos[:3])
    assert lfw_user_photos(user=user, count=20)[1] == photos[:20]


@pytest.mark.data
def test_bad_user_or_count_is_a_clear_error(lfw_user):
    user, photos = lfw_user
    with pytest.raises(ValueError, match="no LFW identity"):
        lfw_user_photos(user="Nobody_At_All")
    with pytest.raises(ValueError, match=f"has {len(photos)} photos"):
        lfw_user_photos(user=user, count=len(photos) + 1)


class _Linear(nn.Module):
    input_size = (4, 4)

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(48, 8)
        self.requires_grad_(False)

    def forward(self, x):
        return self.fc(x.flatten(1))


def test_model_flops_count_forward_and_input_gradient_only():
    # forward: batch 2 x 48 x 8 multiply-adds = 768 -> 1536 FLOPs; backward to the input only: the same
    assert model_flops(_Linear(), 2, torch.device("cpu")) == 2 * 1536


def test_peak_is_the_best_repeat_in_gflops():
    from p3mask.bench.machine import _best_gflops

    waits = iter([0.0, 0.05, 0.02, 0.04])  # warm-up, then three timed runs: the best takes 20 ms
    assert _best_gflops(lambda: time.sleep(next(waits)), 1e9, 3) == pytest.approx(50.0, rel=0.2)


@pytest.mark.data
@pytest.mark.weights
def test_bench_learn_cli_writes_sane_figures(lfw_user, tmp_path, capsys, monkeypatch):
    user, _ = lfw_user
    monkeypatch.setattr("p3mask.bench.learn.TARGET_SECONDS", 1e-3)  # no key is learned in a millisecond
    out = tmp_path / "learn.json"
    threads = torch.get_num_threads()
    assert main(["bench", "learn", "--photos", "4", "--epochs", "1", "--threads", "1", "--device", "cpu",
                 "--profile", str(tmp_path / "profile"), "--json", str(out)]) == 0
    assert torch.get_num_threads() == threads  # --threads holds for the run only
    assert "GFLOP/s" in capsys.readouterr().out
    r = json.loads(out.read_text())
    assert (r["benchmark"], r["user"], r["photos"], r["photos_used"], r["skipped"]) == ("learn", user, 4, 4, [])
    assert (r["preset"], r["epochs"], r["batch_size"], r["device"], r["threads"]) == ("mid", 1, 2, "cpu", 1)
    sec = r["seconds"]
    assert all(sec[k] > 0 for k in ("total", "load_models", "load_photos", "detection", "optimisation", "other"))
    parts = sec["load_models"] + sec["load_photos"] + sec["detection"] + sec["optimisation"] + sec["other"]
    assert parts == pytest.approx(sec["total"])
    assert r["detector_calls"] == 4
    assert len(r["epoch_seconds"]) == len(r["teams_per_epoch"]) == 1
    assert r["epoch_seconds_mean"] == pytest.approx(sec["optimisation"])
    assert len(r["team"]) == len(DEFAULT_POOL) and r["team"] == r["teams_per_epoch"][-1]  # the whole pool
    flops = r["flops"]
    assert flops["steps"] == 2  # 4 photos in mini-batches of 2
    assert set(flops["per_photo"]) == set(r["team"]) | {"paste_quality"}
    assert all(v > 0 for v in flops["per_photo"].values())
    team_flops = sum(v for name, v in flops["per_photo"].items() if name != "paste_quality")
    # every photo pays the paste and quality part each epoch, but only one team member a step (taken in turn)
    per_photo = flops["per_photo"]["paste_quality"] + team_flops / len(r["team"])
    assert flops["total"] == pytest.approx(4 * per_photo, rel=1e-6)
    assert flops["per_step_mean"] * 2 == pytest.approx(flops["total"], rel=1e-6)
    assert r["gflops_per_s"] == pytest.approx(flops["total"] / sec["optimisation"] / 1e9)
    assert 0 < r["gflops_per_s"] < 1e5
    peak = r["peak_gflops_per_s"]
    assert set(peak) == set(r["share_of_peak"]) == {"matmul", "conv"} and all(v > 0 for v in peak.values())
    assert r["share_of_peak"]["matmul"] == pytest.approx(r["gflops_per_s"] / peak["matmul"])
    assert r["quality_floor"] <= r["quality_min"] <= r["quality_mean"] <= 100
    assert r["target"]["comparable"] is False  # 4 photos, 1 epoch: not the target's protocol
    assert r["target"]["seconds"] == 1e-3 and r["target"]["met"] is False
    assert r["machine"]["cpu_count"] >= 1 and len(r["machine"]["load_average"]) == 3
    # the finer split: one backward pass per step, the step's parts inside the epochs' time, detection
    # inside the training set's
    phases, calls = r["phases"], r["phase_calls"]
    steps = ("paste", "team_forward", "perceptual_forward", "backward", "update")
    assert set(phases) == {"load_photos", "load_models", "training_set", "detection", "reference_embeddings",
                           "perceptual_references", "team_selection", *steps, "floor_search", "final_cosines"}
    assert all(calls[name] == flops["steps"] for name in steps)
    assert calls["detection"] == 4 and phases["detection"] <= phases["training_set"]
    assert sum(phases[name] for name in steps) <= sec["optimisation"]
    top = sum(v for k, v in phases.items() if k not in ("detection", *steps)) + sec["optimisation"]
    assert top <= sec["learn_call"]
    trace, table = (tmp_path / "profile" / name for name in ("learn_trace.json", "learn_ops.txt"))
    assert r["profile"] == [str(trace), str(table)]
    assert json.loads(trace.read_text())["traceEvents"] and "aten::convolution" in table.read_text()


def test_bench_learn_refuses_to_replace_a_profile_file_before_learning(tmp_path, capsys):
    (tmp_path / "learn_ops.txt").write_text("mine")
    assert main(["bench", "learn", "--photos", "2", "--epochs", "1", "--profile", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "learn_ops.txt").read_text() == "mine" and not (tmp_path / "learn_trace.json").exists()
