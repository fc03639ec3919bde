"""`p3mask bench scale`: the throughput arithmetic on made-up outcomes, and a short real run."""

import json

import pytest

from p3mask.batch.protector import STAGES, PhotoOutcome
from p3mask.bench.scale import cost_split, rates
from p3mask.cli.main import main


def _photo(worker, started, finished, cpu, **seconds):
    return PhotoOutcome(
        "a.jpg",
        "alice",
        "out/a.jpg",
        "protected",
        seconds=seconds,
        worker=worker,
        started=started,
        finished=finished,
        cpu_seconds=cpu,
    )


def test_rates_from_worker_timestamps():
    outcomes = [
        _photo("w1", 10.0, 11.0, 0.5),
        _photo("w1", 11.0, 12.0, 0.5),
        _photo("w2", 10.5, 14.0, 1.0),
        PhotoOutcome("b.jpg", "alice", None, "skipped"),
    ]  # not worked on: not counted
    r = rates(outcomes, wall=8.0)
    assert r["items"] == 3 and r["per_second_wall"] == pytest.approx(3 / 8)
    assert r["steady_span_seconds"] == pytest.approx(4.0) and r["per_second_steady"] == pytest.approx(0.75)
    assert r["per_worker"]["w1"] == {"items": 2, "busy_seconds": 2.0, "per_second_busy": 1.0}
    assert r["per_second_per_worker"] == pytest.approx((1.0 + 1 / 3.5) / 2)
    assert r["cpu_share_while_busy"] == pytest.approx(2.0 / 5.5)
    # every worker at work from 10.5 (w2's first start) to 12.0 (w1's last end): only w1's second photo
    assert r["all_busy_seconds"] == pytest.approx(1.5) and r["all_busy_items"] == 1
    assert r["per_second_all_busy"] == pytest.approx(1 / 1.5)


def test_cost_split_means_each_stage_over_the_photos_that_reached_it():
    split = cost_split([_photo("w", 0, 1, 1, decode=0.002, detect=0.01), _photo("w", 0, 1, 1, decode=0.004)])
    assert split["ms_per_photo"]["decode"] == pytest.approx(3.0) and split["ms_per_photo"]["detect"] == pytest.approx(
        10.0
    )
    assert split["ms_per_photo"]["apply"] is None and set(split["ms_per_photo"]) == set(STAGES)
    assert split["total_ms_per_photo"] == pytest.approx(13.0)


@pytest.mark.slow
def test_bench_scale_cli_short_run(tmp_path, capsys):
    out = tmp_path / "scale.json"
    assert (
        main(
            [
                "bench",
                "scale",
                "--users",
                "2",
                "--photos",
                "2",
                "--train-photos",
                "2",
                "--epochs",
                "1",
                "--team",
                "mobilefacenet,mobileface",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    r = json.loads(out.read_text())
    assert r["learn"]["local"]["learned"] == 2 and r["learn"]["local"]["failed"] == []
    for run, workers in (("local_1", 1), ("local", 2)):
        block = r["protect"][run]
        assert block["protected"] == 4 and block["workers"] == workers
        # the workers take photos as they become free: on a busy machine one may take all four
        assert 1 <= len(block["per_worker"]) <= workers
        assert sum(w["items"] for w in block["per_worker"].values()) == 4
        assert all(block["ms_per_photo"][s] > 0 for s in STAGES)
    assert r["speedup"]["steady"] == pytest.approx(
        r["protect"]["local"]["per_second_steady"] / r["protect"]["local_1"]["per_second_steady"]
    )
    assert "2 workers vs 1" in capsys.readouterr().out


@pytest.mark.slow  # spawns two processes that import torch
def test_core_probe_counts_the_cores_busy_processes_got():
    from p3mask.bench.scale import core_probe

    probe = core_probe(2, cpu_seconds=0.2)
    assert probe["workers"] == 2 and len(probe["wall_seconds"]) == 2
    assert 0.0 < probe["cores_given"] <= 2.0 + 1e-6  # CPU time never runs ahead of the wall clock
