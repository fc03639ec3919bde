"""How the subcommands report an expected failure, and the run-write-summarise sequence of the
report commands (``p3mask evaluate``, ``p3mask compare``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from p3mask.atomic import WriteError, check_target

Report = TypeVar("Report")

# Exit status of a command stopped before doing anything by a bad argument or input (argparse's own).
EXIT_BAD_INPUT = 2
# What the report commands catch and report as a bad argument or input: a bad setting, a missing dataset.
REPORT_ERRORS: tuple[type[Exception], ...] = (ValueError, FileNotFoundError)


def fail(command: str, exc: Exception, status: int = EXIT_BAD_INPUT) -> int:
    """Report an expected failure of ``p3mask <command>``: print ``p3mask <command>: <exc>`` on stderr.

    Args:
        command: the subcommand as typed, e.g. ``"protect"`` or ``"bench learn"``.
        exc: the error; its message is printed, without a traceback.
        status: exit status to return (default 2, a bad argument or input).

    Returns:
        ``status``, for the caller to return.
    """
    print(f"p3mask {command}: {exc}", file=sys.stderr)
    return status


def run_report_command(
    command: str,
    make_report: Callable[[], Report],
    write_report: Callable[[Report, Path], list[Path]],
    summary: Callable[[Report], str],
    out: Path,
    files: Sequence[str] = (),
    overwrite: bool = False,
) -> int:
    """Build a report, write its files into ``out``, print its summary and the paths written.

    Args:
        command: the subcommand, for the error line.
        make_report: builds the configuration and runs it; a :data:`REPORT_ERRORS` error it raises is
            reported with :func:`fail`.
        write_report: writes the report's files into a folder and returns their paths.
        summary: the lines printed for the report.
        out: the folder.
        files: names of the files ``write_report`` may write into ``out``; each is checked before the
            report is made, so that an existing one stops the command before hours of work.
        overwrite: replace those files when they exist (``--overwrite``).

    Returns:
        The exit status: 0, 2 when ``make_report`` failed or an output exists, 1 when writing failed.
    """
    try:
        for name in files:
            check_target(Path(out) / name, overwrite)
        if Path(out).exists() and not Path(out).is_dir():
            raise WriteError(f"{out}: is a file, not a folder")
    except WriteError as exc:
        return fail(command, exc)
    try:
        report = make_report()
    except REPORT_ERRORS as exc:
        return fail(command, exc)
    try:
        paths = write_report(report, out, overwrite)
    except WriteError as exc:
        return fail(command, exc, status=1)
    print(summary(report))
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0
