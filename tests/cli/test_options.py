"""--device means one thing in every command that runs models."""

import argparse

import pytest

from p3mask.cli.main import build_parser, main

# Every command (and bench) that loads recognisers: the one --device option, default auto.
DEVICE_COMMANDS = [["learn", "x.jpg", "--out", "k.p3m"], ["protect", "--key", "k.p3m", "x.jpg", "--out", "o"],
                   ["demo"], ["evaluate", "--out", "o"], ["compare", "--out", "o"], ["bench", "learn"],
                   ["bench", "verify"], ["bench", "calibrate"]]


def _subparser(parser: argparse.ArgumentParser, path: list[str]) -> argparse.ArgumentParser:
    for name in path:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[name]
    return parser


@pytest.mark.parametrize("argv", DEVICE_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_device_has_one_meaning(argv):
    parser = build_parser()
    command = argv[:2] if argv[0] == "bench" else argv[:1]
    (action,) = [a for a in _subparser(parser, command)._actions if "--device" in a.option_strings]
    assert action.default == "auto" and action.choices is None
    assert "CUDA when available" in action.help
    assert parser.parse_args([*argv, "--device", "cuda:1"]).device == "cuda:1"
    with pytest.raises(SystemExit):
        parser.parse_args([*argv, "--device", "gpu"])


@pytest.mark.parametrize("bench", ["verify", "calibrate"])
def test_cuda_without_cuda_is_one_line_before_any_work(bench, monkeypatch, capsys):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setattr(f"p3mask.bench.{bench}.run_{bench}", lambda *a, **k: pytest.fail("ran without a device"))
    assert main(["bench", bench, "--device", "cuda"]) == 2
    assert capsys.readouterr().err.strip() == f"p3mask bench {bench}: device 'cuda' requested but CUDA is not available"
