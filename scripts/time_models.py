"""Time one learning step per recogniser: forward + backward to the input for a batch of aligned crops.

Usage (from the repository root):
    OMP_NUM_THREADS=1 python scripts/time_models.py --models facenet sface w600k_mbf --batch 4 --repeats 5

Inputs are uniform random crops of each model's input size (the cost does not depend on the pixels).
Prints, per model, the median and minimum seconds over ``--repeats`` timed steps after one warm-up and
the step's GFLOP (``torch.utils.flop_counter``, independent of the machine's load);
``--json FILE`` also writes them.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from p3mask.atomic import write_json
from p3mask.models import available_models, load_model


def time_step(name: str, batch: int, repeats: int) -> dict[str, float]:
    """Median and minimum seconds of ``model(x)`` + ``backward`` to ``x`` for a ``(batch, 3, H, W)`` input."""
    model = load_model(name)
    x0 = torch.rand(batch, 3, *model.input_size, generator=torch.Generator().manual_seed(0))
    times = []
    for i in range(repeats + 1):
        x = x0.clone().requires_grad_(True)
        start = time.perf_counter()
        model(x).sum().backward()
        elapsed = time.perf_counter() - start
        if i:  # the first step is a warm-up
            times.append(elapsed)
    x = x0.clone().requires_grad_(True)
    with FlopCounterMode(display=False) as counter:  # load-independent cost of the same step
        model(x).sum().backward()
    if not times:
        times = [float("nan")]
    return {"median_s": statistics.median(times), "min_s": min(times), "gflop": counter.get_total_flops() / 1e9}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=available_models(), choices=available_models())
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)  # 0: FLOP count only
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {}
    for name in args.models:
        results[name] = time_step(name, args.batch, args.repeats)
        print(f"{name:<14} median {results[name]['median_s'] * 1000:7.1f} ms   min "
              f"{results[name]['min_s'] * 1000:7.1f} ms"
              f"   {results[name]['gflop']:6.2f} GFLOP")
    if args.json:
        write_json({"batch": args.batch, "threads": args.threads, "repeats": args.repeats, "models": results},
                   args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
