"""``p3mask unlock``: remove a user's P3-Mask from protected photos with their key (authorised use)."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.atomic import WriteError
from p3mask.cli.reporting import fail, finish_files, print_outcome
from p3mask.face.image_io import ImageLoadError, load_image_with_info, save_image
from p3mask.protect.apply import FileOutcome, copy_notes, plan_outputs

# Measured on LFW photos protected with mid keys: a face carrying the key's mask correlates 0.16-0.27
# with it after registration; strangers' faces and faces masked by another user's key 0.02-0.06.
MIN_CORRELATION = 0.1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "unlock", help="remove the mask from protected photos with the user's key",
        description="Write an unlocked copy of each protected photo into DIR (same names and layout as "
        "protect). No existing file is replaced unless --overwrite; each copy is read back before it is "
        "reported; GPS location and camera/device EXIF fields are removed unless --keep-metadata.")
    parser.add_argument("--key", type=Path, required=True, metavar="KEY.p3m", help="the user's key file")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where unlocked photos are written")
    parser.add_argument("--min-correlation", type=float, default=MIN_CORRELATION,
                        help="unlock only faces whose fine detail correlates with the key's mask at least this "
                             f"much, so strangers stay untouched (default {MIN_CORRELATION}; -1 unlocks every face)")
    parser.add_argument("--overwrite", action="store_true", help="replace files that already exist in DIR")
    parser.add_argument("--keep-metadata", action="store_true",
                        help="keep the EXIF location (GPS) and camera/device fields (default: removed)")
    parser.set_defaults(func=run)


def unlock_one(source: Path, target: Path, key, detector, min_correlation: float = MIN_CORRELATION,
               overwrite: bool = False, keep_metadata: bool = False) -> FileOutcome:
    """Unlock one photo into ``target``; every expected failure is an outcome, not an exception.

    The arguments after ``detector`` are the flags ``--min-correlation``, ``--overwrite`` and
    ``--keep-metadata`` (the web page calls this too).
    """
    from p3mask.evaluate.unlock import unlock_image

    try:
        image, info = load_image_with_info(source)
    except ImageLoadError as exc:
        return FileOutcome(source, None, None, exc.problem)
    result = unlock_image(image, key, detector=detector, min_correlation=min_correlation)
    if not result.unlocked:
        found = len(result.correlations)
        why = "no face found" if not found else f"no face carries this key's mask ({found} detected)"
        return FileOutcome(source, None, None, f"nothing to unlock: {why}")
    try:
        save_image(result.image, target, like=info, overwrite=overwrite, keep_metadata=keep_metadata)
    except (WriteError, ValueError) as exc:
        return FileOutcome(source, None, None, f"not written: {exc}")
    corr = ", ".join(f"{c:.2f}" for c in result.correlations.tolist())
    detail = f"{len(result.unlocked)} face(s), mask correlation {corr}"
    return FileOutcome(source, target, None, notes=(detail, *copy_notes(info, keep_metadata)))


def run(args: argparse.Namespace) -> int:
    from p3mask.face.detect import FaceDetector
    from p3mask.protect.key import KeyFileError, P3Mask

    try:
        key = P3Mask.load(args.key)
        plan = plan_outputs(args.inputs, args.out, args.overwrite)
    except (KeyFileError, ValueError) as exc:
        return fail("unlock", exc)
    outcomes = list(plan.refused)
    for outcome in outcomes:
        print_outcome(outcome, "unlocked", lambda o: "")
    detector = FaceDetector() if plan.jobs else None
    for source, target in plan.jobs:
        outcome = unlock_one(source, target, key, detector, args.min_correlation, args.overwrite, args.keep_metadata)
        print_outcome(outcome, "unlocked", lambda o: "")
        outcomes.append(outcome)
    return finish_files(outcomes, "unlocked", args.out)
