"""`p3mask evaluate` argument handling (the measurements themselves are tested in tests/evaluate)."""

from p3mask.cli.evaluate import run
from p3mask.cli.main import build_parser
from p3mask.evaluate.runner import EvalConfig, learning_config


def test_team_flag_fixes_every_users_team():
    args = build_parser().parse_args(["evaluate", "--out", "r", "--team", "sface", "--preset", "mid", "high"])
    assert args.team == "sface"
    config = EvalConfig(team=("sface",), presets=("mid", "high"), epochs=4)
    for preset in config.presets:
        learned = learning_config(config, preset)
        assert learned.team == ("sface",) and learned.epochs == 4 and learned.preset == preset


def test_team_defaults_to_focal_diversity_selection():
    assert build_parser().parse_args(["evaluate", "--out", "r"]).team == "auto"
    assert learning_config(EvalConfig(), "mid").team is None


def test_bad_team_is_a_usage_error_before_any_work(tmp_path, capsys):
    args = build_parser().parse_args(["evaluate", "--out", str(tmp_path / "r"), "--team", "sface,dlib"])
    assert run(args) == 2
    assert "held-out" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_unlink_weight_flag_reaches_learning():
    assert build_parser().parse_args(["evaluate", "--out", "r", "--unlink-weight", "1.5"]).unlink_weight == 1.5
    assert learning_config(EvalConfig(unlink_weight=1.5), "mid").unlink_weight == 1.5
    assert build_parser().parse_args(["evaluate", "--out", "r"]).unlink_weight is None
    assert learning_config(EvalConfig(), "mid").unlink_weight == 0.0  # the preset's: off


def test_flags_reach_the_evaluation(monkeypatch, tmp_path, capsys):
    seen = []

    def fake_run(config, progress=True):
        seen.append(config)
        raise ValueError("stopped before evaluating")

    monkeypatch.setattr("p3mask.evaluate.runner.run_evaluation", fake_run)
    args = build_parser().parse_args(["evaluate", "--out", str(tmp_path / "r"), "--dataset", "orl", "--users", "3",
                                      "--preset", "low", "high", "--epochs", "2", "--team", "sface", "--max-photos",
                                      "0", "--transforms", "jpeg75", "--no-adaptive", "--device", "cpu", "--no-cache"])
    assert run(args) == 2 and "stopped before evaluating" in capsys.readouterr().err
    (config,) = seen
    assert (config.dataset, config.users, config.presets, config.epochs, config.team) == ("orl", 3, ("low", "high"), 2,
                                                                                        ("sface",))
    assert config.max_photos is None and config.transforms == ("jpeg75",)  # --max-photos 0: no cap
    assert (config.adaptive, config.device, config.use_cache) == (False, "cpu", False)
