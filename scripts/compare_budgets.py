"""Plot held-out PSR against SSIMULACRA2 for every method over several `p3mask compare` runs.

Each run is one budget (Chameleon's preset, the baselines matched to its measured SSIMULACRA2):

    for p in low mid high; do p3mask compare --dataset lfw --users 10 --gallery-identities 200 \\
        --preset $p --out cmp10_$p; done
    .venv/bin/python scripts/compare_budgets.py cmp10_low cmp10_mid cmp10_high --out psr_vs_ssimulacra2.png
"""

import argparse
import json
import sys
from pathlib import Path

from p3mask.compare.report import plot_budgets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="folders written by p3mask compare (compare.json)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    args = parser.parse_args()
    tables = []
    for run in args.runs:
        try:
            tables.append(json.loads((run / "compare.json").read_text()))
        except (OSError, ValueError) as exc:
            print(f"{run / 'compare.json'}: cannot read ({exc})", file=sys.stderr)
            return 1
    print(plot_budgets(tables, args.out, args.overwrite))
    return 0


if __name__ == "__main__":
    sys.exit(main())
