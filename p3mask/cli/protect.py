"""``p3mask protect``: apply a learned key to photos, protecting the user's face(s).

By default the choice fails safe (:mod:`p3mask.protect.face_choice`): when no face is a sure match
the most likely face is protected anyway. ``--strict-match`` protects sure matches only; ``--faces``
and ``--face`` name the faces to protect.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from p3mask.atomic import write_json
from p3mask.cli.reporting import fail
from p3mask.face.detect import FaceDetector
from p3mask.models import load_model
from p3mask.protect.apply import FaceOutcome, FileOutcome, protect_files
from p3mask.protect.chameleon import resolve_device
from p3mask.protect.face_choice import FacePolicy
from p3mask.protect.key import KeyFileError, P3Mask


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "protect",
        help="protect photos with a learned key",
        description="Detect the faces in each photo, mask the user's face(s) and write the result into DIR in "
        "the original's format; originals are never modified. When no face is a sure match, the most likely "
        "face is protected anyway (on doubt); a photo with several faces none of which is plausibly the user "
        "is reported and not written. Each face is reported with its number (as `p3mask faces` prints it), "
        "whether it was protected, why (match, doubt, flag, stranger) and its match score.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUTS", help="photos or folders of photos")
    parser.add_argument("--key", required=True, metavar="KEY.p3m", help="key file written by `p3mask learn`")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the protected photos")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to compute (default auto: CUDA when available)")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--strict-match", action="store_true",
                        help="protect only faces that surely match the key; leave photos without one unwritten")
    choice.add_argument("--faces", choices=["all", "largest"],
                        help="protect every face (others get the user's mask, weaker for them than their own "
                        "key) or only the largest, whatever the match")
    choice.add_argument("--face", type=int, action="append", metavar="INDEX",
                        help="protect face INDEX as numbered by `p3mask faces PHOTO` (repeatable)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write a summary of every file and face")
    parser.set_defaults(func=run)


def policy_from_args(args: argparse.Namespace) -> FacePolicy:
    """The :class:`FacePolicy` the flags ask for."""
    if args.face:
        if min(args.face) < 0:
            raise ValueError(f"--face takes face numbers >= 0 as `p3mask faces` prints them, got {min(args.face)}")
        return FacePolicy("index", tuple(args.face))
    if args.faces:
        return FacePolicy(args.faces)
    return FacePolicy("strict" if args.strict_match else "failsafe")


def describe_face(index: int, face: FaceOutcome) -> str:
    """``face 0 protected (match, score 0.612, SSIM 0.9712)`` or ``face 1 left (stranger, score 0.051)``."""
    if not face.protected:
        return f"face {index} left ({face.reason}, score {face.cosine:.3f})"
    weaker = f", mask at {face.strength:.0%} to hold the SSIM floor" if face.strength < 1.0 else ""
    return f"face {index} protected ({face.reason}, score {face.cosine:.3f}, SSIM {face.ssim:.4f}{weaker})"


def describe(outcome: FileOutcome) -> str:
    """One line about one file, naming each face found."""
    faces = "; ".join(describe_face(i, f) for i, f in enumerate(outcome.report.faces)) if outcome.report else ""
    if not outcome.ok:
        return f"unprotected {outcome.source}: {outcome.error}" + (f" [{faces}]" if faces else "")
    return f"protected {outcome.source} -> {outcome.output}: {faces}"


def summary(outcomes: list[FileOutcome], key: P3Mask, policy: FacePolicy) -> dict:
    """The JSON summary: every file, and every face with whether it was protected, why and its score."""
    files = []
    for o in outcomes:
        faces = [{"index": i, "box": list(f.box), "score": f.cosine, "protected": f.protected, "reason": f.reason,
                  "ssim": f.ssim, "strength": f.strength} for i, f in enumerate(o.report.faces if o.report else [])]
        files.append({"source": str(o.source), "output": str(o.output) if o.output else None, "error": o.error,
                      "faces": faces})
    return {"user": key.user, "match_model": key.match_model, "match_threshold": key.match_threshold,
            "choice": policy.mode, "face_indices": list(policy.indices),
            "protected": sum(o.ok for o in outcomes), "files": files}


def run(args: argparse.Namespace) -> int:
    try:
        policy = policy_from_args(args)
        if args.json is not None and args.json.exists():
            raise ValueError(f"{args.json} already exists; give a new file for --json")
        key = P3Mask.load(args.key)
    except (KeyFileError, ValueError) as exc:
        return fail("protect", exc)
    device = resolve_device(args.device)
    outcomes = protect_files(key, args.inputs, Path(args.out), detector=FaceDetector(),
                             matcher=load_model(key.match_model, device), policy=policy)
    for outcome in outcomes:
        print(describe(outcome), file=sys.stdout if outcome.ok else sys.stderr)
    done = sum(o.ok for o in outcomes)
    print(f"{done} of {len(outcomes)} photo(s) protected into {args.out}")
    if args.json is not None:
        print(f"wrote {write_json(summary(outcomes, key, policy), args.json)}")
    return 0 if outcomes and done == len(outcomes) else 1
