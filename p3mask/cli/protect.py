"""``p3mask protect``: apply a learned key to photos, protecting the user's face(s).

By default the choice fails safe (:mod:`p3mask.protect.face_choice`): when no face is a sure match
the most likely face is protected anyway. ``--strict-match`` protects sure matches only; ``--faces``
and ``--face`` name the faces to protect.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from p3mask.atomic import WriteError, check_target, write_json
from p3mask.cli.options import (
    add_command,
    add_copy_arguments,
    add_device_argument,
    add_face_choice_arguments,
    policy_from_args,
)
from p3mask.cli.reporting import fail, finish_files, print_outcome
from p3mask.protect.apply import FaceOutcome, FileOutcome
from p3mask.protect.face_choice import FacePolicy
from p3mask.protect.key import KeyFileError, P3Mask
from p3mask.video.command import add_video_arguments, protect_video_inputs, split_inputs


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "protect", run, "protect photos with a learned key")
    parser.add_argument("inputs", nargs="+", metavar="INPUTS", help="photos, folders of photos, or videos")
    parser.add_argument("--key", required=True, metavar="KEY.p3m", help="key file written by `p3mask learn`")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the protected photos")
    add_device_argument(parser)
    add_copy_arguments(parser)
    add_face_choice_arguments(parser, by_index=True)
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write a summary of every file and face")
    add_video_arguments(parser)


def describe_face(index: int, face: FaceOutcome) -> str:
    """``face 0 protected (match, score 0.612, SSIMULACRA2 72.3, SSIM 0.9712)`` or
    ``face 1 left (stranger, score 0.051)``."""
    if not face.protected:
        return f"face {index} left ({face.reason}, score {face.cosine:.3f})"
    weaker = f", mask at {face.strength:.0%} to hold the perceptual floor" if face.strength < 1.0 else ""
    return (f"face {index} protected ({face.reason}, score {face.cosine:.3f}, SSIMULACRA2 {face.quality:.1f}, "
            f"SSIM {face.ssim:.4f}{weaker})")


def describe(outcome: FileOutcome) -> str:
    """The faces of one file: ``face 0 protected (match, ...); face 1 left (stranger, ...)``."""
    return "; ".join(describe_face(i, f) for i, f in enumerate(outcome.report.faces)) if outcome.report else ""


def report_outcome(outcome: FileOutcome) -> None:
    """Print one file's line as soon as it is done; a file left unwritten names its faces too."""
    if not outcome.ok and outcome.report is not None and outcome.report.faces:
        outcome = replace(outcome, error=f"{outcome.error} [{describe(outcome)}]")
    print_outcome(outcome, "protected", describe)


def summary(outcomes: list[FileOutcome], key: P3Mask, policy: FacePolicy) -> dict:
    """The JSON summary: every file, and every face with whether it was protected, why and its score."""
    files = []
    for o in outcomes:
        faces = [{"index": i, "box": list(f.box), "score": f.cosine, "protected": f.protected, "reason": f.reason,
                  "ssimulacra2": f.quality, "ssim": f.ssim, "strength": f.strength}
                 for i, f in enumerate(o.report.faces if o.report else [])]
        files.append({"source": str(o.source), "output": str(o.output) if o.output else None, "error": o.error,
                      "faces": faces})
    return {"user": key.user, "match_model": key.match_model, "match_threshold": key.match_threshold,
            "choice": policy.mode, "face_indices": list(policy.indices),
            "protected": sum(o.ok for o in outcomes), "files": files}


def run(args: argparse.Namespace) -> int:
    """Detect the faces in each photo, mask the user's face(s) (strangers are left untouched) and write the result into
    DIR in the original's format. Originals are never modified and no existing file is replaced (unless
    --overwrite): clashes are reported per file before any work. Each copy is read back before it is reported;
    GPS location and camera/device EXIF fields are removed (unless --keep-metadata). When no face is a sure
    match, the most likely face is protected anyway (on doubt); a photo with several faces none of which is
    plausibly the user is reported and not written. Each face is reported with its number (as `p3mask faces`
    prints it), whether it was protected, why (match, doubt, flag, stranger) and its match score.
    """
    from p3mask.face.detect import FaceDetector
    from p3mask.models import load_model
    from p3mask.protect.apply import protect_files
    from p3mask.protect.learning import resolve_device

    try:
        policy = policy_from_args(args)
        if args.json is not None:
            check_target(args.json, args.overwrite)
        key = P3Mask.load(args.key)
        device = resolve_device(args.device)
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out {args.out}: is a file, not a folder")
    except (KeyFileError, ValueError, WriteError) as exc:
        return fail("protect", exc)
    device = resolve_device(args.device)
    detector, matcher = FaceDetector(), load_model(key.match_model, device)
    videos, photos = split_inputs(args.inputs)
    videos_done = protect_video_inputs(args, key, videos, detector, matcher)
    if not photos:
        return 0 if videos_done == len(videos) else 1
    outcomes = protect_files(key, photos, Path(args.out), detector=detector, matcher=matcher, overwrite=args.overwrite,
                             keep_metadata=args.keep_metadata, on_outcome=report_outcome, policy=policy)
    status = finish_files(outcomes, "protected", Path(args.out))
    if args.json is not None:
        print(f"wrote {write_json(summary(outcomes, key, policy), args.json, overwrite=args.overwrite)}")
    return status if videos_done == len(videos) else 1
