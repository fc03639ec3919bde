"""Entry point of the ``p3mask`` command.

Each subcommand lives in its own module exposing ``add_parser(subparsers)``; the parser it adds sets
``func`` to a callable ``(args) -> int`` that returns the exit status.
"""

from __future__ import annotations

import argparse
import logging
import sys
from importlib import import_module

from p3mask import __version__

# Subcommand modules, in the order `p3mask --help` lists them.
COMMANDS = (
    "models", "faces", "learn", "protect", "unlock", "serve", "batch", "demo", "evaluate", "compare", "bench",
)


def build_parser() -> argparse.ArgumentParser:
    """The full ``p3mask`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="p3mask",
        description="Personalized privacy protection masks against unauthorized face recognition (Chameleon).",
    )
    parser.add_argument("--version", action="version", version=f"p3mask {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log diagnostics to stderr")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        import_module(f"p3mask.cli.{name}").add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run ``p3mask`` with ``argv`` (default: ``sys.argv[1:]``) and return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
