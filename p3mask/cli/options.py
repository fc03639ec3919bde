"""Command-line options that several commands share, so that each means one thing everywhere."""

from __future__ import annotations

import argparse
import inspect
import re
from collections.abc import Callable

from p3mask.models import available_models
from p3mask.protect.config import DEFAULT_PRESET, HELD_OUT_MODELS, PRESET_HELP, PRESETS
from p3mask.protect.face_choice import FacePolicy

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_HELP = "where the models run: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N (default auto)"
# What ``--team auto`` means, for every command that learns masks.
TEAM_AUTO_HELP = ("'auto' (default): the team of the highest focal diversity from the pool, which is the whole "
                  "default pool of four")


def add_command(
    subparsers: argparse._SubParsersAction, name: str, run: Callable[[argparse.Namespace], int], summary: str
) -> argparse.ArgumentParser:
    """Add subcommand ``name``: ``summary`` in ``p3mask --help``, ``run``'s docstring as its own ``--help``
    description, and ``run`` as the ``func`` that :func:`p3mask.cli.main.main` calls."""
    parser = subparsers.add_parser(name, help=summary, description=inspect.getdoc(run))
    parser.set_defaults(func=run)
    return parser


def device_name(text: str) -> str:
    """``--device`` value check: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; resolved when the command runs
    (:func:`p3mask.protect.learning.resolve_device`), so that a missing GPU is a one-line error."""
    if not DEVICE_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError(f"expected auto, cpu, cuda or cuda:N, got {text!r}")
    return text


def add_copy_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--overwrite`` and ``--keep-metadata`` to a command that writes copies of photos into a folder."""
    parser.add_argument("--overwrite", action="store_true", help="replace files that already exist in DIR")
    parser.add_argument("--keep-metadata", action="store_true",
                        help="keep the EXIF location (GPS) and camera/device fields (default: removed)")


def add_device_argument(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """Add ``--device`` to a command (default ``auto``; the batch commands' workers default to ``cpu``)."""
    parser.add_argument("--device", type=device_name, default=default, metavar="auto|cpu|cuda[:N]",
                        help=DEVICE_HELP.replace("(default auto)", f"(default {default})"))


def add_learning_arguments(parser: argparse.ArgumentParser, team: bool = True) -> None:
    """Add ``--preset``, ``--epochs``, ``--team`` (unless ``team`` is false) and ``--seed``: how a key is learned."""
    parser.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET,
                        help="strength against visibility: "
                        + "; ".join(f"{name}: {PRESET_HELP[name]}" for name in PRESETS)
                        + f" (default {DEFAULT_PRESET})")
    parser.add_argument("--epochs", type=int, metavar="N", help="passes over the photos (default: the preset's)")
    if team:
        parser.add_argument("--team", default="auto", metavar="auto|NAME,NAME,...",
                            help=f"models to optimise against; {TEAM_AUTO_HELP}")
    parser.add_argument("--seed", type=int, default=0, help="random seed of learning (default 0)")


def parse_team(text: str) -> tuple[str, ...] | None:
    """``--team``: ``"auto"`` -> ``None``; ``"a,b"`` -> ``("a", "b")`` after checking the names."""
    if text.strip().lower() == "auto":
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ValueError("--team: expected 'auto' or model names separated by commas")
    unknown = [n for n in names if n not in available_models()]
    if unknown:
        raise ValueError(f"--team: unknown model(s) {', '.join(unknown)}; valid: {', '.join(available_models())}")
    held = [n for n in names if n in HELD_OUT_MODELS]
    if held:
        raise ValueError(f"--team: {held[0]!r} is a held-out recogniser and never a team member")
    return names


def add_face_choice_arguments(parser: argparse.ArgumentParser, by_index: bool) -> None:
    """Add ``--strict-match``, ``--faces`` and (when ``by_index``) ``--face``: which faces get the mask."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--strict-match", action="store_true",
                        help="protect only faces that surely match the key; leave photos without one unwritten")
    choice.add_argument("--faces", choices=["all", "largest"],
                        help="protect every face (others get the user's mask, weaker for them than their own "
                        "key) or only the largest, whatever the match")
    if by_index:
        choice.add_argument("--face", type=int, action="append", metavar="INDEX",
                            help="protect face INDEX as numbered by `p3mask faces PHOTO` (repeatable)")
    else:
        parser.set_defaults(face=None)


def policy_from_args(args: argparse.Namespace) -> FacePolicy:
    """The :class:`FacePolicy` the flags of :func:`add_face_choice_arguments` ask for."""
    if args.face:
        if min(args.face) < 0:
            raise ValueError(f"--face takes face numbers >= 0 as `p3mask faces` prints them, got {min(args.face)}")
        return FacePolicy("index", tuple(args.face))
    if args.faces:
        return FacePolicy(args.faces)
    return FacePolicy("strict" if args.strict_match else "failsafe")
