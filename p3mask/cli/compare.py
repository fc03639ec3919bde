"""``p3mask compare``: Chameleon and the baselines (Fawkes, LowKey, OPOM) side by side at equal face SSIM;
writes compare.json, compare_details.json, compare.md and compare.png."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.cli.options import add_device_argument
from p3mask.cli.reporting import run_report_command
from p3mask.datasets import DATASETS
from p3mask.protect.config import PRESETS


def _methods(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("compare", help="compare Chameleon with Fawkes, LowKey and OPOM at equal face SSIM")
    parser.add_argument("--dataset", choices=list(DATASETS), default="lfw", help="benchmark dataset (default lfw)")
    parser.add_argument("--root", type=Path, help="dataset folder (required for 'folder')")
    parser.add_argument("--users", type=int, default=3, help="number of users (default 3)")
    parser.add_argument("--methods", type=_methods, default=("chameleon", "fawkes", "lowkey", "opom"),
                        help="comma-separated methods (default chameleon,fawkes,lowkey,opom)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the comparison goes")
    parser.add_argument("--preset", choices=list(PRESETS), default="mid",
                        help="Chameleon preset whose face SSIM the baselines are matched to (default mid)")
    parser.add_argument("--seed", type=int, default=0,
                        help="draws users, splits and distractors; seeds methods (default 0)")
    parser.add_argument("--min-photos", type=int, default=10, help="users need this many photos (default 10)")
    parser.add_argument("--max-photos", type=int, default=10,
                        help="cap each user's photos at this many (seeded draw; 0 = no cap; default 10: 7 to set up, 3 "
                             "to protect)")
    parser.add_argument("--quality-target", type=float, metavar="SSIMULACRA2",
                        help="SSIMULACRA2 (face in context) the baselines are calibrated to (default: Chameleon's "
                             "measured mean)")
    parser.add_argument("--gallery-identities", type=int, metavar="K",
                        help="gallery of the users plus K drawn identities (default: the whole dataset)")
    parser.add_argument("--epochs", type=int, help="override Chameleon's epochs")
    parser.add_argument("--fawkes-steps", type=int, help="Adam steps per photo for Fawkes (default 20)")
    parser.add_argument("--lowkey-steps", type=int, help="signed-gradient steps per photo for LowKey (default 15)")
    parser.add_argument("--opom-epochs", type=int, help="epochs of OPOM's mask learning (default 8)")
    parser.add_argument("--opom-hull", choices=("affine", "convex", "center"),
                        help="OPOM's subspace model (default affine)")
    add_device_argument(parser)
    parser.add_argument("--no-cache", action="store_true", help="embed the gallery again instead of using the cache")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace report files already in --out (default: refuse)")
    parser.set_defaults(func=run)


def _options(args: argparse.Namespace) -> dict[str, dict]:
    flags = {"fawkes": {"steps": args.fawkes_steps}, "lowkey": {"steps": args.lowkey_steps},
             "opom": {"epochs": args.opom_epochs, "hull": args.opom_hull}}
    return {m: {k: v for k, v in kw.items() if v is not None} for m, kw in flags.items()}


def run(args: argparse.Namespace) -> int:
    from p3mask.compare import CompareConfig, run_compare, summary, write_report
    from p3mask.compare.report import REPORT_FILES

    def compare() -> dict:
        return run_compare(CompareConfig(
            dataset=args.dataset, root=args.root, users=args.users, methods=args.methods, preset=args.preset,
            seed=args.seed, min_photos=args.min_photos, max_photos=args.max_photos or None,
            quality_target=args.quality_target, gallery_identities=args.gallery_identities, epochs=args.epochs,
            method_options=_options(args), device=args.device, use_cache=not args.no_cache,
        ))

    return run_report_command("compare", compare, write_report, summary, args.out, REPORT_FILES, args.overwrite)
