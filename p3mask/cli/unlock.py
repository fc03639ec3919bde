"""``p3mask unlock``: remove a user's P3-Mask from protected photos with their key (authorised use)."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.cli.options import add_command, add_copy_arguments
from p3mask.cli.reporting import fail, finish_files, print_outcome
from p3mask.protect.key import KeyFileError, P3Mask
from p3mask.protect.unlock import MIN_CORRELATION, unlock_files


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "unlock", run, "remove the mask from protected photos with the user's key")
    parser.add_argument("--key", type=Path, required=True, metavar="KEY.p3m", help="the user's key file")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where unlocked photos are written")
    parser.add_argument("--min-correlation", type=float, default=MIN_CORRELATION,
                        help="unlock only faces whose fine detail correlates with the key's mask at least this "
                             f"much, so strangers stay untouched (default {MIN_CORRELATION}; -1 unlocks every face)")
    add_copy_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Write an unlocked copy of each protected photo into DIR (same names and layout as protect). No existing file is
    replaced unless --overwrite; each copy is read back before it is reported; GPS location and camera/device
    EXIF fields are removed unless --keep-metadata.
    """
    try:
        key = P3Mask.load(args.key)
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out {args.out}: is a file, not a folder")
    except (KeyFileError, ValueError) as exc:
        return fail("unlock", exc)
    outcomes = unlock_files(key, args.inputs, args.out, min_correlation=args.min_correlation,
                            overwrite=args.overwrite, keep_metadata=args.keep_metadata,
                            on_outcome=lambda outcome: print_outcome(outcome, "unlocked", lambda o: ""))
    return finish_files(outcomes, "unlocked", args.out)
