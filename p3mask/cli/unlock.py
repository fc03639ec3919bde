"""``p3mask unlock``: remove a user's P3-Mask from protected photos with their key (authorised use)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from p3mask.cli.reporting import fail
from p3mask.face.image_io import ImageLoadError, iter_image_files, load_image_with_info, save_image

# Measured on LFW photos protected with mid keys: a face carrying the key's mask correlates 0.16-0.27
# with it after registration; strangers' faces and faces masked by another user's key 0.02-0.06.
MIN_CORRELATION = 0.1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("unlock", help="remove the mask from protected photos with the user's key")
    parser.add_argument("--key", type=Path, required=True, metavar="KEY.p3m", help="the user's key file")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where unlocked photos are written")
    parser.add_argument("--min-correlation", type=float, default=MIN_CORRELATION,
                        help="unlock only faces whose fine detail correlates with the key's mask at least this "
                             f"much, so strangers stay untouched (default {MIN_CORRELATION}; -1 unlocks every face)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from p3mask.evaluate.unlock import unlock_image
    from p3mask.face.detect import FaceDetector
    from p3mask.protect.key import KeyFileError, P3Mask

    try:
        key = P3Mask.load(args.key)
    except KeyFileError as exc:
        return fail("unlock", exc)
    missing = [p for p in args.inputs if not p.exists()]
    for path in missing:
        print(f"{path}: file not found", file=sys.stderr)
    files = iter_image_files([p for p in args.inputs if p.exists()])
    detector = FaceDetector()
    failed = 0
    for path in files:
        try:
            image, info = load_image_with_info(path)
            result = unlock_image(image, key, detector=detector, min_correlation=args.min_correlation)
            if not result.unlocked:
                found = len(result.correlations)
                why = "no face found" if not found else f"no face carries this key's mask ({found} detected)"
                raise LookupError(f"{path}: nothing to unlock: {why}")
            out = save_image(result.image, args.out / path.name, like=info)
            corr = ", ".join(f"{c:.2f}" for c in result.correlations.tolist())
            print(f"{path}: unlocked {len(result.unlocked)} face(s) (mask correlation {corr}) -> {out}")
        except (ImageLoadError, LookupError, ValueError) as exc:
            print(exc, file=sys.stderr)
            failed += 1
    print(f"{len(files) - failed} of {len(files)} photos unlocked", file=sys.stderr)
    return 1 if failed or missing else 0
