"""Command-line options that several commands share, so that each means one thing everywhere."""

from __future__ import annotations

import argparse
import re

DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")
DEVICE_HELP = "where the models run: auto (CUDA when available, else the CPU), cpu, cuda or cuda:N (default auto)"


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


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` (default ``auto``) to a command."""
    parser.add_argument("--device", type=device_name, default="auto", metavar="auto|cpu|cuda[:N]", help=DEVICE_HELP)
