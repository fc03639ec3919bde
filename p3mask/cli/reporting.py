"""How the subcommands report an expected failure, the per-file lines and summary of the per-file
commands (``protect``, ``unlock``), and the run-write-summarise sequence of the report commands
(``p3mask evaluate``, ``p3mask compare``)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from p3mask.atomic import WriteError, check_target

if TYPE_CHECKING:
    from p3mask.protect.apply import FileOutcome

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


def print_outcome(outcome: FileOutcome, verb: str, detail: Callable[[FileOutcome], str]) -> None:
    """Print one file's line as soon as it is known, once: written files on stdout
    (``<verb> SOURCE -> OUTPUT (detail; notes)``), failures on stderr (``not <verb> SOURCE: why``),
    files not taken on stdout (``not taken SOURCE: why``)."""
    if outcome.ok:
        extra = "; ".join(x for x in (detail(outcome), *outcome.notes) if x)
        print(f"{verb} {outcome.source} -> {outcome.output}" + (f" ({extra})" if extra else ""), flush=True)
    elif outcome.ignored:
        print(f"not taken {outcome.source}: {outcome.ignored}", flush=True)
    else:
        print(f"not {verb} {outcome.source}: {outcome.error}", file=sys.stderr, flush=True)


def finish_files(outcomes: list[FileOutcome], verb: str, out: Path) -> int:
    """Print the summary line of a per-file command and return its exit status: 0 when every file
    meant to be processed was written (and there was one), else 1."""
    written = sum(o.ok for o in outcomes)
    failed = sum(o.failed for o in outcomes)
    ignored = len(outcomes) - written - failed
    line = f"{written} of {written + failed} photo(s) {verb} into {out}"
    if failed:
        line += f"; {failed} not (listed above)"
    if ignored:
        line += f"; {ignored} file(s) not taken (listed above)"
    print(line, flush=True)
    return 0 if written and not failed else 1


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
