"""``p3mask bench ...``: benchmarks that print figures and write them to a JSON file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from p3mask.atomic import atomic_path
from p3mask.models import MODELS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks: LFW verification accuracy and match-threshold calibration")
    kinds = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    verify = kinds.add_parser("verify", help="LFW View 2 verification: accuracy, FAR=1e-3 threshold, faces/s")
    verify.add_argument("--dataset", choices=["lfw"], default="lfw", help="verification protocol (LFW View 2)")
    verify.add_argument("--root", type=Path, help="dataset folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    verify.add_argument("--pairs", type=int, metavar="N", help="use only the first N pairs (quick check)")
    verify.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME", help="models to test (default: all)")
    verify.add_argument("--json", type=Path, metavar="FILE", help="write the figures to FILE")
    verify.set_defaults(func=run_verify_cmd)
    calibrate = kinds.add_parser("calibrate", help="match thresholds at FAR=1e-3 from LFW impostor pairs")
    calibrate.add_argument("--root", type=Path, help="LFW folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    calibrate.add_argument("--identities", type=int, default=400, help="one photo each of N people (default 400)")
    calibrate.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME", help="default: all")
    calibrate.add_argument("--json", type=Path, metavar="FILE", help="also write the figures to FILE")
    calibrate.set_defaults(func=run_calibrate_cmd)


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def run_verify_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.verify import run_verify

    results = run_verify(args.root, args.pairs, args.models)
    print(f"{'model':<14}{'accuracy':>18}{'thr@FAR1e-3':>13}{'faces/s':>10}{'pairs':>7}")
    for name, r in results.items():
        acc = f"{r['accuracy']:.4f} +- {r['accuracy_std']:.4f}"
        print(f"{name:<14}{acc:>18}{r['threshold_far1e-3']:>13.4f}{r['faces_per_s']:>10.1f}{r['pairs_used']:>7}")
    first = next(iter(results.values()))
    print(f"skipped {first['pairs_skipped']} pairs naming absent images; "
          f"{first['fallback_alignments']} photos without a detected face were aligned with median landmarks")
    if args.json:
        write_json(args.json, results)
        print(f"wrote {args.json}")
    return 0


def run_calibrate_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.calibrate import run_calibrate
    from p3mask.models.thresholds import write_thresholds

    results = run_calibrate(args.root, args.identities, args.models)
    for name, r in results.items():
        print(f"{name:<14} threshold at FAR=1e-3: {r['threshold_far1e-3']:.4f}  ({r['impostor_pairs']} impostor pairs)")
    if args.json:
        write_json(args.json, results)
    command = "p3mask bench calibrate" + (f" --identities {args.identities}" if args.identities != 400 else "")
    print(f"wrote thresholds to {write_thresholds(results, command)}")
    return 0
