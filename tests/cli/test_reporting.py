"""The shared ending of the subcommands: expected failures and the report commands' sequence."""

from pathlib import Path

import pytest

from p3mask.cli.reporting import fail, run_report_command


def test_fail_prints_the_command_and_the_error_and_returns_the_status(capsys):
    assert fail("bench learn", ValueError("no photos")) == 2
    assert fail("learn", OSError("disk full"), status=1) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "p3mask bench learn: no photos\np3mask learn: disk full\n"


def test_report_command_writes_then_prints_summary_and_paths(tmp_path, capsys):
    def write(report: dict, out: Path, overwrite: bool) -> list[Path]:
        return [out / f"{report['name']}.json", out / f"{report['name']}.md"]

    code = run_report_command("compare", lambda: {"name": "r"}, write, lambda r: f"summary of {r['name']}", tmp_path)
    assert code == 0
    assert capsys.readouterr().out == f"summary of r\nwrote {tmp_path / 'r.json'}, {tmp_path / 'r.md'}\n"


@pytest.mark.parametrize("error", [ValueError("bad users"), FileNotFoundError("no dataset")])
def test_report_command_reports_bad_input_with_status_2(error, tmp_path, capsys):
    def make():
        raise error

    def write(report, out, overwrite):  # never reached
        raise AssertionError("write_report called after a failure")

    assert run_report_command("evaluate", make, write, str, tmp_path) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == f"p3mask evaluate: {error}\n"


def test_report_command_lets_unexpected_errors_through(tmp_path):
    def make():
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        run_report_command("compare", make, lambda r, o, w: [], str, tmp_path)


def test_report_command_refuses_an_existing_report_before_the_work(tmp_path, capsys):
    (tmp_path / "report.json").write_text("mine")

    def make():
        raise AssertionError("the report was made although its file exists")

    assert run_report_command("evaluate", make, lambda r, o, w: [], str, tmp_path, ["report.json"]) == 2
    assert "report.json: already exists" in capsys.readouterr().err
    assert (tmp_path / "report.json").read_text() == "mine"
    written = []
    code = run_report_command("evaluate", lambda: {}, lambda r, o, w: written.append(w) or [], str, tmp_path,
                              ["report.json"], overwrite=True)
    assert code == 0 and written == [True]
