"""``p3mask faces``: find the faces in photos, one line per file; optionally save aligned crops.

Faces are numbered from 0 in the order ``p3mask protect`` sees them (largest box first, the same
detector at its default threshold), so ``p3mask protect --face INDEX`` names the face shown here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from p3mask.face.align import align_faces
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ImageLoadError, iter_image_files, load_image, save_image
from p3mask.models import MODELS, FaceRecognizer


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("faces", help="detect faces in photos (one line per file)")
    parser.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    parser.add_argument("--out", type=Path, metavar="DIR", help="write each face's aligned crop here as PNG")
    parser.add_argument("--frame", choices=list(MODELS), default="sface",
                        help="model whose canonical crop --out writes (default: sface, 112x112)")
    parser.add_argument("--threshold", type=float, default=0.6,
                        help="detector score threshold (default 0.6, as `p3mask protect` uses: another value "
                        "may number the faces differently from protect's --face)")
    parser.set_defaults(func=run)


def describe(path: Path, detector: FaceDetector, out: Path | None, frame: FaceRecognizer) -> str:
    """One report line for ``path``; raises ImageLoadError for unreadable files, LookupError for no face."""
    image = load_image(path)
    detections = detector.detect(image)
    if detections.is_empty:
        raise LookupError(f"{path}: no face found ({image.shape[2]}x{image.shape[1]} pixels)")
    boxes = ", ".join(
        f"face {i} [{int(b[0])},{int(b[1])},{int(b[2])},{int(b[3])}] score {s:.2f}"
        for i, (b, s) in enumerate(zip(detections.boxes.tolist(), detections.scores.tolist()))
    )
    if out is not None:
        crops, _ = align_faces(image, detections.landmarks, frame.template, frame.input_size)
        for i, crop in enumerate(crops):
            save_image(crop, out / f"{path.stem}_face{i}.png")
    return f"{path}: {len(detections)} face(s), largest first: {boxes}"


def run(args: argparse.Namespace) -> int:
    missing = [p for p in args.inputs if not p.exists()]
    for path in missing:
        print(f"{path}: file not found", file=sys.stderr)
    files = iter_image_files([p for p in args.inputs if p.exists()])
    detector = FaceDetector(score_threshold=args.threshold)
    frame = MODELS[args.frame].build()  # architecture only: its template and input size define the crop
    failed = 0
    for path in files:
        try:
            print(describe(path, detector, args.out, frame))
        except (ImageLoadError, LookupError) as exc:
            print(exc, file=sys.stderr)
            failed += 1
    print(f"{len(files) - failed} of {len(files)} photos with faces", file=sys.stderr)
    return 1 if failed or missing else 0
