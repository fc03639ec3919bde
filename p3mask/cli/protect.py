"""``p3mask protect``: apply a learned key to photos, protecting only the user's face(s)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from p3mask.cli.reporting import fail
from p3mask.face.detect import FaceDetector
from p3mask.models import load_model
from p3mask.protect.apply import FileOutcome, protect_files
from p3mask.protect.chameleon import resolve_device
from p3mask.protect.key import KeyFileError, P3Mask
from p3mask.video.command import add_video_arguments, protect_video_inputs, split_inputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "protect",
        help="protect photos with a learned key",
        description="Detect the faces in each photo, mask the user's face(s) (strangers are left untouched) "
        "and write the result into DIR in the original's format; originals are never modified. Photos "
        "without the user's face are reported and not written.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUTS", help="photos, folders of photos, or videos")
    parser.add_argument("--key", required=True, metavar="KEY.p3m", help="key file written by `p3mask learn`")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the protected photos")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to compute (default auto: CUDA when available)")
    add_video_arguments(parser)
    parser.set_defaults(func=run)


def describe(outcome: FileOutcome) -> str:
    """One line about one file."""
    if not outcome.ok:
        return f"unprotected {outcome.source}: {outcome.error}"
    report = outcome.report
    faces = [f for f in report.faces if f.protected]
    ssim = min(f.ssim for f in faces)
    weaker = [f.strength for f in faces if f.strength < 1.0]
    note = f", mask at {min(weaker):.0%} to hold the SSIM floor" if weaker else ""
    return (f"protected {outcome.source} -> {outcome.output} ({report.protected} face(s) of the user, "
            f"{report.left} other(s) left, SSIM {ssim:.4f}{note})")


def run(args: argparse.Namespace) -> int:
    try:
        key = P3Mask.load(args.key)
    except KeyFileError as exc:
        return fail("protect", exc)
    device = resolve_device(args.device)
    detector, matcher = FaceDetector(), load_model(key.match_model, device)
    videos, photos = split_inputs(args.inputs)
    videos_done = protect_video_inputs(args, key, videos, detector, matcher)
    if not photos:
        return 0 if videos_done == len(videos) else 1
    outcomes = protect_files(key, photos, Path(args.out), detector=detector, matcher=matcher)
    for outcome in outcomes:
        print(describe(outcome), file=sys.stdout if outcome.ok else sys.stderr)
    done = sum(o.ok for o in outcomes)
    print(f"{done} of {len(outcomes)} photo(s) protected into {args.out}")
    return 0 if outcomes and done == len(outcomes) and videos_done == len(videos) else 1
