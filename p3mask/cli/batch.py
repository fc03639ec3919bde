"""``p3mask learn-many`` and ``p3mask protect-many``: many users and many photos in one run, on this
machine or on a Ray cluster (:mod:`p3mask.batch`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from p3mask.atomic import WriteError, check_target, write_json
from p3mask.cli.options import (
    add_command,
    add_copy_arguments,
    add_device_argument,
    add_face_choice_arguments,
    add_learning_arguments,
    parse_team,
    policy_from_args,
)
from p3mask.cli.reporting import fail
from p3mask.protect.config import get_config


def _add_backend(parser: argparse.ArgumentParser) -> None:
    from p3mask.batch.runner import BACKENDS

    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default="local",
        help="local: processes of this machine (default); ray: a Ray cluster (pip install 'p3mask[ray]')",
    )
    parser.add_argument(
        "--address",
        metavar="ADDR",
        help="with --backend ray: the cluster to join (default: start a local Ray of WORKERS x THREADS CPUs)",
    )
    parser.add_argument("--workers", type=int, metavar="N", help="workers at once (default: the CPUs / THREADS)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        metavar="T",
        help="torch and OpenCV threads per worker, a Ray task's or actor's CPU request (default 1)",
    )
    parser.add_argument("--gpus", type=float, default=0.0, metavar="G", help="GPUs per Ray task or actor (default 0)")
    add_device_argument(parser, default="cpu")
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="the summary JSON (default: OUT/<command>-<UTC time>.json)"
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    learn = add_command(subparsers, "learn-many", run_learn_many,
                        "learn one key per user folder (resumable; on this machine or Ray)")
    learn.add_argument("users", type=Path, metavar="USERS_DIR", help="one sub-folder of photos per user")
    learn.add_argument("--out", type=Path, required=True, metavar="KEYS_DIR", help="folder of the keys")
    add_learning_arguments(learn)
    learn.add_argument("--overwrite", action="store_true", help="learn every user again and replace their keys")
    _add_backend(learn)
    protect = add_command(subparsers, "protect-many", run_protect_many,
                          "protect many users' photos with their keys (resumable; on this machine or Ray)")
    protect.add_argument("photos", type=Path, metavar="PHOTOS", help="PHOTOS_DIR of user folders, or a manifest CSV")
    protect.add_argument("--keys", type=Path, required=True, metavar="KEYS_DIR", help="folder of the users' keys")
    protect.add_argument("--out", type=Path, required=True, metavar="OUT_DIR", help="folder of the protected copies")
    add_copy_arguments(protect)
    add_face_choice_arguments(protect, by_index=False)
    _add_backend(protect)


def backend_options(args: argparse.Namespace):
    """The :class:`BackendOptions` the flags ask for."""
    from p3mask.batch.runner import BackendOptions

    return BackendOptions(args.backend, args.workers, args.threads, args.address, args.gpus)


def summary_path(args: argparse.Namespace, folder: Path) -> Path:
    """``--json``, else ``<folder>/<command>-<UTC time>.json`` (a new name each run: nothing is replaced)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args.json or folder / f"{args.command}-{stamp}.json"


def _print_status(outcome, name: str, done: str, done_line: Callable[[], str], skipped: str, failed: str) -> None:
    """One line per user or photo as soon as it is done: done, skipped or not taken on stdout, failures on stderr.

    Args:
        outcome: a batch outcome (``status`` and ``error``).
        name: what the line is about (the user, or the photo's source).
        done: the status of success (``learned``, ``protected``); ``done_line()`` is then the whole line.
        skipped: why a skipped one needed no work.
        failed: the word a failure's line starts with.
    """
    lines = {"skipped": f"skipped {name}: {skipped}", "ignored": f"not taken {name}: {outcome.error}"}
    line = done_line() if outcome.status == done else lines.get(outcome.status)
    print(line or f"{failed} {name}: {outcome.error}", file=sys.stdout if line else sys.stderr, flush=True)


def print_user(outcome) -> None:
    """One line per user as soon as it is done (see :func:`_print_status`)."""
    _print_status(
        outcome, outcome.user, "learned",
        lambda: f"learned {outcome.user} -> {outcome.key} ({outcome.photos} photos, {outcome.seconds:.1f} s, team "
        f"{','.join(outcome.team)}, SSIMULACRA2 min {outcome.quality_min:.1f})",
        f"{outcome.key} is a valid key already", "failed",
    )


def print_photo(outcome) -> None:
    """One line per photo as soon as it is done (see :func:`_print_status`)."""
    def protected() -> str:
        faces = sum(f["protected"] for f in outcome.faces)
        notes = "".join(f"; {n}" for n in outcome.notes)
        return f"protected {outcome.source} -> {outcome.target} ({outcome.user}, {faces} face(s){notes})"

    skipped = f"{outcome.target} is there already"
    _print_status(outcome, outcome.source, "protected", protected, skipped, "not protected")


def _finish(command: str, outcomes, options, seconds: float, path: Path, **extra) -> int:
    from p3mask.batch.runner import exit_status, summary

    record = summary(command, outcomes, options, seconds, **extra)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(record["counts"].items())) or "nothing to do"
    print(f"{command}: {counts} in {seconds:.1f} s")
    try:
        print(f"wrote {write_json(record, path)}")
    except WriteError as exc:
        return fail(command, f"the summary could not be written: {exc}", status=1)
    return exit_status(outcomes)


def run_learn_many(args: argparse.Namespace) -> int:
    """Learn a key for each sub-folder of USERS_DIR (one user each, named by the folder) into KEYS_DIR/<user>.p3m, as
    `p3mask learn` would. Users whose valid key is there are skipped, so a run stopped midway is finished by
    running it again; a user that fails is reported and the others go on; a summary JSON lists every user's
    outcome. The exit status is 1 when any user failed.
    """
    from p3mask.batch.learner import LearnSettings
    from p3mask.batch.runner import learn_many

    start = time.perf_counter()
    try:
        settings = LearnSettings(
            get_config(args.preset, epochs=args.epochs, team=parse_team(args.team)), args.seed, args.device
        )
        options = backend_options(args)
        path = summary_path(args, args.out)
        check_target(path)
        outcomes = learn_many(args.users, args.out, settings, options, args.overwrite, on_outcome=print_user)
    except (ValueError, WriteError) as exc:
        return fail("learn-many", exc)
    return _finish(
        "learn-many",
        outcomes,
        options,
        time.perf_counter() - start,
        path,
        preset=args.preset,
        epochs=settings.config.epochs,
        seed=args.seed,
    )


def run_protect_many(args: argparse.Namespace) -> int:
    """Protect PHOTOS (PHOTOS_DIR/<user>/... or a manifest CSV with the header photo,user) into OUT_DIR/<user>/ with
    each user's key KEYS_DIR/<user>.p3m, as `p3mask protect` would. Copies already there are skipped (a run
    stopped midway is finished by running it again); every photo's outcome is printed and listed in the summary
    JSON. The exit status is 1 when any photo failed.
    """
    from p3mask.batch.protector import ProtectSettings
    from p3mask.batch.runner import protect_many

    start = time.perf_counter()
    try:
        settings = ProtectSettings(
            args.keys, policy_from_args(args), args.overwrite, args.keep_metadata, device=args.device
        )
        options = backend_options(args)
        path = summary_path(args, args.out)
        check_target(path)
        outcomes = protect_many(args.photos, args.out, settings, options, on_outcome=print_photo)
    except (ValueError, WriteError) as exc:
        return fail("protect-many", exc)
    return _finish("protect-many", outcomes, options, time.perf_counter() - start, path, choice=settings.policy.mode)
