"""``p3mask protect``: apply a learned key to photos, protecting only the user's face(s)."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.cli.reporting import fail, finish_files, print_outcome
from p3mask.protect.apply import FileOutcome
from p3mask.protect.key import KeyFileError, P3Mask


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "protect",
        help="protect photos with a learned key",
        description="Detect the faces in each photo, mask the user's face(s) (strangers are left untouched) "
        "and write the result into DIR in the original's format. Originals are never modified and no "
        "existing file is replaced (unless --overwrite): clashes are reported per file before any work. "
        "Each copy is read back before it is reported; GPS location and camera/device EXIF fields are "
        "removed (unless --keep-metadata). Photos without the user's face are reported and not written.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUTS", help="photos or folders of photos")
    parser.add_argument("--key", required=True, metavar="KEY.p3m", help="key file written by `p3mask learn`")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for the protected photos")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to compute (default auto: CUDA when available)")
    parser.add_argument("--overwrite", action="store_true", help="replace files that already exist in DIR")
    parser.add_argument("--keep-metadata", action="store_true",
                        help="keep the EXIF location (GPS) and camera/device fields (default: removed)")
    parser.set_defaults(func=run)


def describe(outcome: FileOutcome) -> str:
    """What the line of a protected file says about its faces."""
    report = outcome.report
    faces = [f for f in report.faces if f.protected]
    quality, ssim = min(f.quality for f in faces), min(f.ssim for f in faces)
    weaker = [f.strength for f in faces if f.strength < 1.0]
    note = f", mask at {min(weaker):.0%} to hold the perceptual floor" if weaker else ""
    return (f"{report.protected} face(s) of the user, {report.left} other(s) left, "
            f"SSIMULACRA2 {quality:.1f}, SSIM {ssim:.4f}{note}")


def run(args: argparse.Namespace) -> int:
    from p3mask.face.detect import FaceDetector
    from p3mask.models import load_model
    from p3mask.protect.apply import protect_files
    from p3mask.protect.chameleon import resolve_device

    try:
        key = P3Mask.load(args.key)
        device = resolve_device(args.device)
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise ValueError(f"--out {args.out}: is a file, not a folder")
    except (KeyFileError, ValueError) as exc:
        return fail("protect", exc)
    outcomes = protect_files(key, args.inputs, Path(args.out), detector=FaceDetector(),
                             matcher=load_model(key.match_model, device), overwrite=args.overwrite,
                             keep_metadata=args.keep_metadata,
                             on_outcome=lambda o: print_outcome(o, "protected", describe))
    return finish_files(outcomes, "protected", Path(args.out))
