"""``p3mask evaluate``: measure protection (PSR per model), quality, the key, robustness and adaptive
adversaries on a benchmark dataset; writes report.json, report.md and PNG plots."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.cli.options import TEAM_AUTO_HELP, add_device_argument, parse_team
from p3mask.cli.reporting import fail, run_report_command
from p3mask.datasets import DATASETS
from p3mask.evaluate.transforms import TRANSFORMS
from p3mask.models import MODELS
from p3mask.protect.config import PRESETS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate",
                                   help="evaluate protection: PSR, quality, key, robustness, adaptive attacks")
    parser.add_argument("--dataset", choices=list(DATASETS), default="lfw", help="benchmark dataset (default lfw)")
    parser.add_argument("--root", type=Path, help="dataset folder (required for 'folder')")
    parser.add_argument("--users", type=int, default=5, help="number of users evaluated (default 5)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the report goes")
    parser.add_argument("--preset", nargs="+", choices=list(PRESETS), default=["mid"], dest="presets",
                        help="presets; the first gets the full evaluation, all go into PSR-vs-SSIMULACRA2 (default "
                             "mid)")
    parser.add_argument("--gallery-identities", type=int, metavar="K",
                        help="gallery of the users plus K seeded other identities (default: the whole dataset)")
    parser.add_argument("--seed", type=int, default=0, help="draws users and photo splits, seeds learning (default 0)")
    parser.add_argument("--epochs", type=int, help="override the preset's learning epochs")
    parser.add_argument("--team", default="auto", metavar="auto|NAME,NAME,...",
                        help=f"models every mask is learned against; {TEAM_AUTO_HELP}")
    parser.add_argument("--masks", type=int, default=1, metavar="K",
                        help="masks per user, learned with K seeds, one per photo by its bytes (an experiment "
                             "of the several-masks key; default 1)")
    parser.add_argument("--unlink-weight", type=float, metavar="W",
                        help="weight of the unlinkability term in learning (default: the preset's, 0 = off)")
    parser.add_argument("--min-photos", type=int, default=10, help="users need this many photos (default 10)")
    parser.add_argument("--max-photos", type=int, default=30,
                        help="cap each user's photos at this many (seeded draw; 0 = no cap; default 30)")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME",
                        help="recognisers to evaluate (default: the whole zoo)")
    parser.add_argument("--transforms", nargs="+", choices=list(TRANSFORMS), default=list(TRANSFORMS), metavar="NAME",
                        help=f"scraper-side transforms (default: all of {', '.join(TRANSFORMS)})")
    parser.add_argument("--no-adaptive", action="store_true", help="skip the adaptive adversaries")
    add_device_argument(parser)
    parser.add_argument("--no-cache", action="store_true", help="embed the gallery again instead of using the cache")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace report files already in --out (default: refuse)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from p3mask.evaluate.report import REPORT_FILES, summary, write_report
    from p3mask.evaluate.runner import EvalConfig, run_evaluation

    try:
        team = parse_team(args.team)
    except ValueError as exc:
        return fail("evaluate", exc)

    def evaluate() -> dict:
        return run_evaluation(EvalConfig(
            dataset=args.dataset, root=args.root, users=args.users, presets=tuple(args.presets), seed=args.seed,
            min_photos=args.min_photos, max_photos=args.max_photos or None, epochs=args.epochs, team=team,
            unlink_weight=args.unlink_weight, masks=args.masks, gallery_identities=args.gallery_identities,
            models=tuple(args.models) if args.models else None, transforms=tuple(args.transforms),
            adaptive=not args.no_adaptive, device=args.device, use_cache=not args.no_cache,
        ))

    return run_report_command("evaluate", evaluate, write_report, summary, args.out, REPORT_FILES, args.overwrite)
