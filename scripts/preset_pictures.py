"""Picture of what each preset does to one LFW user's held-out photo: clean | protected | change x4, at 2x.

Learns one key per preset on the user's first ``--photos`` photos (the product's default settings), protects
the next photo, prints the figures of each protected face and writes ``--out`` (PNG), refusing to replace it.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/preset_pictures.py --out docs/figures/presets_before_after.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from p3mask.evaluate.quality import photo_quality
from p3mask.face.image_io import load_image
from p3mask.paths import data_root
from p3mask.protect.apply import protect_image
from p3mask.protect.config import PRESETS, get_config
from p3mask.protect.learning import learn
from p3mask.protect.visuals import save_zoomed_png


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--user", default="Jennifer_Capriati", help="LFW identity (default Jennifer_Capriati)")
    parser.add_argument("--photos", type=int, default=10, help="photos to learn from (default 10)")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    photos = sorted((data_root() / "lfw" / args.user).glob("*.jpg"))
    if len(photos) <= args.photos:
        raise SystemExit(f"{args.user}: needs more than {args.photos} photos, has {len(photos)}")
    test = load_image(photos[args.photos])
    rows = []
    for preset in PRESETS:
        key = learn([str(p) for p in photos[:args.photos]], get_config(preset), user=args.user, progress=False).key
        protected, report = protect_image(key, test)
        face = next(f for f in report.faces if f.protected)
        q = photo_quality(test, protected, box=face.box)
        print(f"{preset}: SSIMULACRA2 {q.ssimulacra2_face:.1f} (face in context), Butteraugli max "
              f"{q.butteraugli_face:.2f}, CIEDE2000 {q.ciede2000_face:.2f}, face SSIM {face.ssim:.4f}, "
              f"strength {face.strength:.2f}, team {','.join(key.team)}")
        change = ((protected - test) * 4 + 0.5).clamp(0, 1)
        rows.append(torch.cat([test, protected, change], dim=2))
    save_zoomed_png(torch.cat(rows, dim=1), args.out)
    print(f"wrote {args.out} (rows: {', '.join(PRESETS)}; columns: clean, protected, change x4)")


if __name__ == "__main__":
    main()
