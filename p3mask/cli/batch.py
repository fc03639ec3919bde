"""``p3mask learn-many`` and ``p3mask protect-many``: many users and many photos in one run, on this
machine or on a Ray cluster (:mod:`p3mask.batch`)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from p3mask.atomic import WriteError, check_target, write_json
from p3mask.cli.learn import parse_team
from p3mask.cli.protect import policy_from_args
from p3mask.cli.reporting import fail
from p3mask.protect.config import DEFAULT_PRESET, PRESETS, get_config


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
    parser.add_argument(
        "--device", default="cpu", choices=["auto", "cpu", "cuda"], help="where each worker computes (default cpu)"
    )
    parser.add_argument(
        "--json", type=Path, metavar="FILE", help="the summary JSON (default: OUT/<command>-<UTC time>.json)"
    )


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    learn = subparsers.add_parser(
        "learn-many",
        help="learn one key per user folder (resumable; on this machine or Ray)",
        description="Learn a key for each sub-folder of USERS_DIR (one user each, named by the folder) into "
        "KEYS_DIR/<user>.p3m, as `p3mask learn` would. Users whose valid key is there are skipped, so a run "
        "stopped midway is finished by running it again; a user that fails is reported and the others go "
        "on; a summary JSON lists every user's outcome. The exit status is 1 when any user failed.",
    )
    learn.add_argument("users", type=Path, metavar="USERS_DIR", help="one sub-folder of photos per user")
    learn.add_argument("--out", type=Path, required=True, metavar="KEYS_DIR", help="folder of the keys")
    learn.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help=f"default {DEFAULT_PRESET}")
    learn.add_argument("--epochs", type=int, metavar="N", help="passes over the photos (default: the preset's)")
    learn.add_argument("--team", default="auto", metavar="auto|NAME,NAME,...", help="as for `p3mask learn`")
    learn.add_argument("--seed", type=int, default=0, help="every user's learning seed (default 0, as `p3mask learn`)")
    learn.add_argument("--overwrite", action="store_true", help="learn every user again and replace their keys")
    _add_backend(learn)
    learn.set_defaults(func=run_learn_many)
    protect = subparsers.add_parser(
        "protect-many",
        help="protect many users' photos with their keys (resumable; on this machine or Ray)",
        description="Protect PHOTOS (PHOTOS_DIR/<user>/... or a manifest CSV with the header photo,user) into "
        "OUT_DIR/<user>/ with each user's key KEYS_DIR/<user>.p3m, as `p3mask protect` would. Copies already "
        "there are skipped (a run stopped midway is finished by running it again); every photo's outcome is "
        "printed and listed in the summary JSON. The exit status is 1 when any photo failed.",
    )
    protect.add_argument("photos", type=Path, metavar="PHOTOS", help="PHOTOS_DIR of user folders, or a manifest CSV")
    protect.add_argument("--keys", type=Path, required=True, metavar="KEYS_DIR", help="folder of the users' keys")
    protect.add_argument("--out", type=Path, required=True, metavar="OUT_DIR", help="folder of the protected copies")
    protect.add_argument("--overwrite", action="store_true", help="replace copies that exist")
    protect.add_argument("--keep-metadata", action="store_true", help="keep the EXIF location and device fields")
    choice = protect.add_mutually_exclusive_group()
    choice.add_argument("--strict-match", action="store_true", help="protect only faces that surely match the key")
    choice.add_argument("--faces", choices=["all", "largest"], help="protect every face, or only the largest")
    protect.set_defaults(func=run_protect_many, face=None)
    _add_backend(protect)


def backend_options(args: argparse.Namespace):
    """The :class:`BackendOptions` the flags ask for."""
    from p3mask.batch.runner import BackendOptions

    return BackendOptions(args.backend, args.workers, args.threads, args.address, args.gpus)


def summary_path(args: argparse.Namespace, folder: Path) -> Path:
    """``--json``, else ``<folder>/<command>-<UTC time>.json`` (a new name each run: nothing is replaced)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return args.json or folder / f"{args.command}-{stamp}.json"


def print_user(outcome) -> None:
    """One line per user as soon as it is done: learned/skipped on stdout, failures on stderr."""
    if outcome.status == "learned":
        print(
            f"learned {outcome.user} -> {outcome.key} ({outcome.photos} photos, {outcome.seconds:.1f} s, team "
            f"{','.join(outcome.team)}, SSIMULACRA2 min {outcome.quality_min:.1f})",
            flush=True,
        )
    elif outcome.status == "skipped":
        print(f"skipped {outcome.user}: {outcome.key} is a valid key already", flush=True)
    elif outcome.status == "ignored":
        print(f"not taken {outcome.user}: {outcome.error}", flush=True)
    else:
        print(f"failed {outcome.user}: {outcome.error}", file=sys.stderr, flush=True)


def print_photo(outcome) -> None:
    """One line per photo as soon as it is done: protected/skipped on stdout, failures on stderr."""
    if outcome.status == "protected":
        faces = sum(f["protected"] for f in outcome.faces)
        notes = "".join(f"; {n}" for n in outcome.notes)
        print(f"protected {outcome.source} -> {outcome.target} ({outcome.user}, {faces} face(s){notes})", flush=True)
    elif outcome.status == "skipped":
        print(f"skipped {outcome.source}: {outcome.target} is there already", flush=True)
    elif outcome.status == "ignored":
        print(f"not taken {outcome.source}: {outcome.error}", flush=True)
    else:
        print(f"not protected {outcome.source}: {outcome.error}", file=sys.stderr, flush=True)


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
