"""``p3mask demo``: the default main job, end to end on a built-in user.

Learns a key for a default user (an LFW identity with 30+ photos from the data folder: the first
20 photos train, the next 10 are held out), protects the held-out photos exactly as
``p3mask protect`` does, and prints and saves a before/after table of similarities per model, the
dlib ResNet (never trained against) included. Without LFW it falls back to the photos of one person
shipped in a registry package (the ``face_recognition==1.3.0`` sdist, pinned by sha256 below).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from p3mask.atomic import WriteError, check_writable, write_json, write_text
from p3mask.cli.options import add_device_argument, add_learning_arguments
from p3mask.cli.reporting import fail
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ARTEFACT_FOLDER_SUFFIX, load_image_with_info, save_image
from p3mask.models import available_models, load_model
from p3mask.models.thresholds import match_threshold
from p3mask.paths import data_root
from p3mask.protect.apply import protect_image
from p3mask.protect.config import get_config
from p3mask.protect.learning import learn, resolve_device
from p3mask.protect.visuals import LearnArtefacts
from p3mask.recognition import FacePipeline, largest_face
from p3mask.weights.archives import Archive, FetchError, extract_members

logger = logging.getLogger(__name__)

DEFAULT_USER = "Jennifer_Capriati"  # LFW identity with 42 photos
TRAIN_PHOTOS = 20  # photos the mask is learned from
HELD_OUT_PHOTOS = 10  # photos protected and measured, never seen in learning

# Fallback photos: one person's pictures in the face_recognition 1.3.0 sdist (MIT), pinned by sha256.
FALLBACK_ARCHIVE = Archive(
    "face-recognition", "pip-sdist", "face_recognition==1.3.0", "face_recognition-1.3.0.tar.gz",
    "5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec",
)
_FALLBACK_DIR = "face_recognition-1.3.0/tests/test_images/"
FALLBACK_TRAIN = ("obama.jpg", "obama2.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg")
FALLBACK_HELD_OUT = ("obama3.jpg",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="learn a key for a built-in user, protect held-out photos, show similarities before/after",
    )
    parser.add_argument("--user", default=DEFAULT_USER, help=f"LFW identity (default {DEFAULT_USER})")
    parser.add_argument("--out", default="p3mask-demo", metavar="DIR", help="output folder (default ./p3mask-demo)")
    add_learning_arguments(parser, team=False)
    add_device_argument(parser)
    parser.add_argument("--overwrite", action="store_true", help="replace the files of an earlier demo in DIR")
    parser.set_defaults(func=run)


def demo_photos(user: str, scratch: Path) -> tuple[str, list[Path], list[Path]]:
    """``(user, train, held_out)`` photo paths: LFW when present, else the registry fallback."""
    folder = data_root() / "lfw" / user
    photos = sorted(folder.glob("*.jpg")) if folder.is_dir() else []
    if len(photos) >= TRAIN_PHOTOS + 1:
        return user, photos[:TRAIN_PHOTOS], photos[TRAIN_PHOTOS:TRAIN_PHOTOS + HELD_OUT_PHOTOS]
    logger.warning("%s has no LFW folder with %d+ photos; using the registry fallback photos", folder, TRAIN_PHOTOS + 1)
    names = FALLBACK_TRAIN + FALLBACK_HELD_OUT
    files = extract_members(FALLBACK_ARCHIVE, [_FALLBACK_DIR + n for n in names], scratch)
    paths = [files[_FALLBACK_DIR + n] for n in names]
    return "Barack_Obama", paths[: len(FALLBACK_TRAIN)], paths[len(FALLBACK_TRAIN):]


@dataclass
class Row:
    """One model's line of the table."""

    model: str
    trained_against: bool
    threshold: float
    clean: list[float]
    protected: list[float]

    def as_dict(self) -> dict:
        n = max(len(self.clean), 1)
        return {
            "model": self.model, "in_team": self.trained_against, "threshold": round(self.threshold, 4),
            "cosine_clean": round(sum(self.clean) / n, 4), "cosine_protected": round(sum(self.protected) / n, 4),
            "matched_clean": sum(c >= self.threshold for c in self.clean) / n,
            "matched_protected": sum(c >= self.threshold for c in self.protected) / n,
        }


def _embed(pipeline: FacePipeline, image: torch.Tensor) -> dict[str, torch.Tensor] | None:
    """Every model's ``(D,)`` embedding of the largest face of ``image``; ``None`` without a face."""
    found, k = pipeline.locate(image, largest_face)
    if k is None:
        return None
    return {name: emb[0] for name, emb in pipeline.embed_at(image, found.landmarks[k:k + 1]).items()}


def _table(pipeline: FacePipeline, train: list[torch.Tensor], pairs, team) -> list[Row]:
    """Cosine of each held-out photo (clean / protected, re-detected) to the user's clean reference."""
    refs = [e for e in (_embed(pipeline, x) for x in train) if e is not None]
    held_out = [(a, b) for a, b in ((_embed(pipeline, x), _embed(pipeline, y)) for x, y in pairs)
                if a is not None and b is not None]
    rows = []
    for name in pipeline.models:
        reference = F.normalize(torch.stack([e[name] for e in refs]).mean(0), dim=0)
        clean = [float(a[name] @ reference) for a, _ in held_out]
        protected = [float(b[name] @ reference) for _, b in held_out]
        rows.append(Row(name, name in team, match_threshold(name), clean, protected))
    return rows


def format_table(rows: list[dict]) -> str:
    """Markdown table of the demo's similarities."""
    lines = ["| model | in team | threshold | cosine clean | cosine protected | matched clean | matched protected |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {'yes' if r['in_team'] else 'no'} | {r['threshold']:.3f} | "
                     f"{r['cosine_clean']:.3f} | {r['cosine_protected']:.3f} | {r['matched_clean']:.0%} | "
                     f"{r['matched_protected']:.0%} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    try:
        device = resolve_device(args.device)
        if out.exists() and not out.is_dir():
            raise ValueError(f"--out {out}: is a file, not a folder")
        for name in ("demo_table.json", "demo_table.md", "protected"):
            if (out / name).exists() and not args.overwrite:
                raise ValueError(f"{out / name}: already exists (an earlier demo?); not replaced (pass --overwrite)")
        check_writable(out)
    except (ValueError, WriteError) as exc:
        return fail("demo", exc)
    try:
        return _demo(args, out, device)
    except WriteError as exc:
        return fail("demo", exc, status=1)


def _demo(args: argparse.Namespace, out: Path, device) -> int:
    overwrite = args.overwrite
    with tempfile.TemporaryDirectory() as scratch:
        try:
            user, train, held_out = demo_photos(args.user, Path(scratch))
        except FetchError as exc:
            print(f"p3mask demo: no LFW data under {data_root()} and no fallback photos: {exc}", file=sys.stderr)
            return 1
        models = {n: load_model(n, device) for n in available_models()}
        config = get_config(args.preset, epochs=args.epochs)
        artefacts = LearnArtefacts(out / f"{user}{ARTEFACT_FOLDER_SUFFIX}", overwrite=overwrite)
        result = learn(train, config, user=user, device=device, seed=args.seed, out_dir=artefacts, models=models)
        key_path = result.key.save(out / f"{user}.p3m", overwrite=overwrite)
        detector = FaceDetector()
        pairs, train_images = [], [load_image_with_info(p)[0] for p in train]
        for path in held_out:
            image, info = load_image_with_info(path)
            protected, report = protect_image(result.key, image.to(device), detector=detector,
                                              matcher=models[result.key.match_model])
            if report.protected == 0:
                print(f"unprotected {path.name}: no face of {user} found", file=sys.stderr)
                continue
            written = save_image(protected, out / "protected" / path.name, like=info, overwrite=overwrite)
            pairs.append((image, load_image_with_info(written)[0]))  # measured as stored (8-bit, JPEG)
        pipeline = FacePipeline(models, detector, device)
        rows = [r.as_dict() for r in _table(pipeline, train_images, pairs, result.key.team)]
    table = format_table(rows)
    write_json({"user": user, "key": str(key_path), "held_out": len(pairs), "quality_min": result.key.quality_min,
                "learn_s": result.seconds, "rows": rows}, out / "demo_table.json", overwrite=overwrite)
    write_text(table + "\n", out / "demo_table.md", overwrite=overwrite)
    print(f"user {user}: key {key_path} learned from {result.key.photos} photos in {result.seconds:.1f} s "
          f"(team {','.join(result.key.team)}); {len(pairs)} held-out photos protected into {out / 'protected'}")
    print(table)
    return 0
