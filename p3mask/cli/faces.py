"""``p3mask faces``: find the faces in photos, one line per file; optionally save aligned crops.

Faces are numbered from 0 in the order ``p3mask protect`` sees them (largest box first, the same
detector at its default threshold), so ``p3mask protect --face INDEX`` names the face shown here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from p3mask.atomic import WriteError
from p3mask.cli.reporting import fail
from p3mask.face.align import align_faces
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ImageLoadError, load_image, save_image, scan_inputs
from p3mask.models import MODELS, FaceRecognizer


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("faces", help="detect faces in photos (one line per file)")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write each face's aligned crop here as "
                        "PHOTO_faceN.png (never over an existing file unless --overwrite)")
    parser.add_argument("--frame", choices=list(MODELS), default="sface",
                        help="model whose canonical crop --out writes (default: sface, 112x112)")
    parser.add_argument("--threshold", type=float, default=0.6,
                        help="detector score threshold (default 0.6, as `p3mask protect` uses: another value "
                        "may number the faces differently from protect's --face)")
    parser.add_argument("--overwrite", action="store_true", help="replace crops that already exist in DIR")
    parser.set_defaults(func=run)


def crop_prefix(path: Path) -> str:
    """Crops of ``path`` are named ``<prefix><i>.png``."""
    return f"{path.stem}_face"


def plan_crops(files: list[Path], out: Path | None, overwrite: bool) -> tuple[list[Path], list[tuple[Path, str]]]:
    """``(files to do, (file, why) refused)``: a file is refused when another input already uses its crop
    names, or when crops of its name are already in ``out`` (unless ``overwrite``)."""
    if out is None:
        return files, []
    todo, refused, claimed = [], [], {}
    for path in files:
        prefix = crop_prefix(path)
        existing = sorted(out.glob(f"{prefix}[0-9]*.png")) if out.is_dir() else []
        if prefix in claimed:
            refused.append((path, f"its crops {prefix}N.png would clash with those of {claimed[prefix]}; skipped"))
        elif existing and not overwrite:
            refused.append((path, f"{existing[0]} already exists; not replaced (pass --overwrite)"))
        else:
            claimed[prefix] = path
            todo.append(path)
    return todo, refused


def describe(path: Path, detector: FaceDetector, out: Path | None, frame: FaceRecognizer,
             overwrite: bool = False) -> str:
    """One report line for ``path``; raises ImageLoadError for unreadable files, LookupError for no face,
    WriteError when a crop cannot be written."""
    image = load_image(path)
    detections = detector.detect(image)
    if detections.is_empty:
        raise LookupError(f"{path}: no face found ({image.shape[2]}x{image.shape[1]} pixels)")
    boxes = ", ".join(
        f"face {i} [{int(b[0])},{int(b[1])},{int(b[2])},{int(b[3])}] score {s:.2f}"
        for i, (b, s) in enumerate(zip(detections.boxes.tolist(), detections.scores.tolist()))
    )
    line = f"{path}: {len(detections)} face(s), largest first: {boxes}"
    if out is not None:
        crops, _ = align_faces(image, detections.landmarks, frame.template, frame.input_size)
        written = [save_image(crop, out / f"{crop_prefix(path)}{i}.png", overwrite=overwrite)
                   for i, crop in enumerate(crops)]
        line += f" -> {', '.join(p.name for p in written)}"
    return line


def run(args: argparse.Namespace) -> int:
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        return fail("faces", ValueError(f"--out {args.out}: is a file, not a folder"))
    scan = scan_inputs(args.inputs)
    for path in scan.missing:
        print(f"{path}: file not found", file=sys.stderr)
    for path, why in scan.skipped:
        print(f"not taken {path}: {why}")
    files, refused = plan_crops([f for _, f in scan.files], args.out, args.overwrite)
    for path, why in refused:
        print(f"{path}: {why}", file=sys.stderr)
    detector = FaceDetector(score_threshold=args.threshold)
    frame = MODELS[args.frame].build()  # architecture only: its template and input size define the crop
    failed = 0
    for path in files:
        try:
            print(describe(path, detector, args.out, frame, args.overwrite), flush=True)
        except (ImageLoadError, LookupError, WriteError, ValueError) as exc:
            print(f"{path}: {exc}" if isinstance(exc, WriteError) else exc, file=sys.stderr, flush=True)
            failed += 1
    total = len(files) + len(refused)
    print(f"{len(files) - failed} of {total} photos with faces", file=sys.stderr)
    return 1 if failed or refused or scan.missing or not total else 0
