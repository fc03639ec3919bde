"""Reference figures for the perceptual measures (docs/notes/ssim2.md).

  python scripts/quality_reference.py table  [--photos 10]   SSIMULACRA2 and Butteraugli max of ordinary
                                                             degradations of LFW photos (whole photo)
  python scripts/quality_reference.py timing [--threads 2]   time of SSIMULACRA2Reference.score
  python scripts/quality_reference.py agreement [--photos 10] largest gap to ssimulacra2==0.3.0 (float64
                                                             and float32) over the table's pairs

Run from the project root with the project's venv; OMP_NUM_THREADS is set from --threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def lfw_photos(count: int) -> list[Path]:
    """The first photo of each of the first ``count`` LFW people (sorted by name)."""
    from p3mask.paths import data_root

    people = sorted(p for p in (data_root() / "lfw").iterdir() if p.is_dir())
    photos = [sorted(person.glob("*.jpg"))[0] for person in people if any(person.glob("*.jpg"))]
    return photos[:count]


def _summary(values: list[float], digits: int) -> str:
    return f"{statistics.median(values):.{digits}f} [{min(values):.{digits}f}, {max(values):.{digits}f}]"


def table(count: int) -> str:

    from p3mask.face.image_io import load_image
    from p3mask.quality import butteraugli, ssimulacra2
    from p3mask.quality.degrade import DEGRADATIONS

    names = ["jpeg75", "jpeg50", "noise4", "noise8", "colour_shift"]
    ssim2: dict[str, list[float]] = {n: [] for n in names}
    butter: dict[str, list[float]] = {n: [] for n in names}
    photos = lfw_photos(count)
    for path in photos:
        photo = load_image(path)
        for name in names:
            distorted = DEGRADATIONS[name](photo)
            ssim2[name].append(float(ssimulacra2(photo[None].double(), distorted[None].double())))
            score = butteraugli(photo, distorted)
            if score is not None:
                butter[name].append(score.max_distance)
    lines = [
        f"{len(photos)} LFW photos (first photo of the first {count} people by name), whole 250x250 photo, "
        "median [range]",
        "",
        "| | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
        "| SSIMULACRA2 | " + " | ".join(_summary(ssim2[n], 1) for n in names) + " |",
        "| Butteraugli max | "
        + " | ".join(_summary(butter[n], 2) if butter[n] else "not installed" for n in names) + " |",
    ]
    return "\n".join(lines)


def agreement(count: int) -> str:
    import tempfile

    import torch
    from PIL import Image
    from ssimulacra2 import compute_ssimulacra2

    from p3mask.evaluate.transforms import to_uint8
    from p3mask.face.image_io import load_image
    from p3mask.quality import ssimulacra2
    from p3mask.quality.degrade import DEGRADATIONS

    gaps = {torch.float64: 0.0, torch.float32: 0.0}
    pairs = 0
    with tempfile.TemporaryDirectory() as folder:
        a, b = Path(folder) / "a.png", Path(folder) / "b.png"
        for path in lfw_photos(count):
            photo = load_image(path)
            Image.fromarray(to_uint8(photo)).save(a)
            for name in sorted(DEGRADATIONS):
                distorted = DEGRADATIONS[name](photo)
                Image.fromarray(to_uint8(distorted)).save(b)
                expected = compute_ssimulacra2(str(a), str(b))
                for dtype in gaps:
                    got = float(ssimulacra2(photo[None].to(dtype), distorted[None].to(dtype)))
                    gaps[dtype] = max(gaps[dtype], abs(got - expected))
                pairs += 1
    return (f"{pairs} pairs ({count} LFW photos x {len(DEGRADATIONS)} degradations): largest |torch - "
            f"ssimulacra2==0.3.0| = {gaps[torch.float64]:.2e} points in float64, {gaps[torch.float32]:.2e} in float32")


def timing(threads: int, repeats: int = 20) -> str:
    import torch

    torch.set_num_threads(threads)
    from p3mask.quality import SSIMULACRA2Reference

    g = torch.Generator().manual_seed(0)
    lines = [
        f"SSIMULACRA2Reference.score under torch.no_grad, float32, CPU, {threads} thread(s); "
        f"median of {repeats} calls (wall ms / process CPU ms); setup = the constructor",
        "",
        "| side | setup ms | 1 candidate | 4 candidates |",
        "|---|---|---|---|",
    ]
    for side in (128, 200, 300):
        ref = torch.rand(1, 3, side, side, generator=g)
        start = time.perf_counter()
        measure = SSIMULACRA2Reference(ref)
        setup = (time.perf_counter() - start) * 1e3
        cells = []
        for batch in (1, 4):
            x = (ref + 0.02 * torch.randn(batch, 3, side, side, generator=g)).clamp(0, 1)
            wall, cpu = [], []
            with torch.no_grad():
                for _ in range(3):
                    measure.score(x)
                for _ in range(repeats):
                    w0, c0 = time.perf_counter(), time.process_time()
                    measure.score(x)
                    wall.append((time.perf_counter() - w0) * 1e3)
                    cpu.append((time.process_time() - c0) * 1e3)
            cells.append(f"{statistics.median(wall):.1f} / {statistics.median(cpu):.1f}")
        lines.append(f"| {side}x{side} | {setup:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["table", "timing", "agreement"])
    parser.add_argument("--photos", type=int, default=10, help="LFW photos in the table (default 10)")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads for timing (default 2)")
    args = parser.parse_args()
    if args.what == "table":
        print(table(args.photos))
    elif args.what == "agreement":
        print(agreement(args.photos))
    else:
        print(timing(args.threads))
        print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
