"""``p3mask bench ...``: benchmarks that print figures and write them to a JSON file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from p3mask.atomic import atomic_path
from p3mask.models import MODELS


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks: verification accuracy, learning and protection speed")
    kinds = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    verify = kinds.add_parser("verify", help="LFW View 2 verification: accuracy, FAR=1e-3 threshold, faces/s")
    verify.add_argument("--dataset", choices=["lfw"], default="lfw", help="verification protocol (LFW View 2)")
    verify.add_argument("--root", type=Path, help="dataset folder (default: $P3MASK_DATA/lfw or ../shared/data/lfw)")
    verify.add_argument("--pairs", type=int, metavar="N", help="use only the first N pairs (quick check)")
    verify.add_argument("--models", nargs="+", choices=list(MODELS), metavar="NAME", help="models to test (default: all)")
    verify.add_argument("--json", type=Path, metavar="FILE", help="write the figures to FILE")
    verify.add_argument("--calibrate", action="store_true",
                        help="store the FAR=1e-3 thresholds as the package's match thresholds (full protocol only)")
    verify.set_defaults(func=run_verify_cmd)


def write_json(path: Path, payload: dict) -> None:
    """Write ``payload`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload, indent=2) + "\n")


def run_verify_cmd(args: argparse.Namespace) -> int:
    from p3mask.bench.verify import run_verify
    from p3mask.models.thresholds import write_thresholds

    if args.calibrate and args.pairs is not None:
        print("p3mask bench verify: --calibrate needs the full protocol (drop --pairs)", file=sys.stderr)
        return 2
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
    if args.calibrate:
        print(f"wrote thresholds to {write_thresholds(results, 'p3mask bench verify --dataset lfw --calibrate')}")
    return 0
