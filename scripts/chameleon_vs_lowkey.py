"""Picture of Chameleon's mask beside LowKey's perturbation at the same SSIMULACRA2 on one LFW photo, at 2x.

Learns a key with ``--preset`` on the user's first ``--photos`` photos (the product's default settings),
protects the next photo, then runs LowKey (:class:`p3mask.methods.lowkey.LowKey`, set up on the same
photos) calibrated to the SSIMULACRA2 Chameleon reached on that face. Prints the figures of both and
writes ``--out`` (PNG; columns clean, Chameleon, LowKey; the face in context), refusing to replace it.

    OMP_NUM_THREADS=2 .venv/bin/python scripts/chameleon_vs_lowkey.py --out docs/figures/mid_chameleon_vs_lowkey.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from p3mask.evaluate.quality import photo_quality
from p3mask.face.image_io import load_image
from p3mask.methods import get_method
from p3mask.paths import data_root
from p3mask.protect.apply import protect_image
from p3mask.protect.config import DEFAULT_PRESET, PRESETS, get_config
from p3mask.protect.learning import learn
from p3mask.protect.visuals import save_zoomed_png
from p3mask.quality import face_in_context


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--user", default="Jennifer_Capriati", help="LFW identity (default Jennifer_Capriati)")
    parser.add_argument("--photos", type=int, default=10, help="photos to learn from (default 10)")
    parser.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help="Chameleon's preset")
    parser.add_argument("--out", type=Path, required=True, help="PNG to write")
    args = parser.parse_args()
    photos = sorted((data_root() / "lfw" / args.user).glob("*.jpg"))
    if len(photos) <= args.photos:
        raise SystemExit(f"{args.user}: needs more than {args.photos} photos, has {len(photos)}")
    train, test = [str(p) for p in photos[:args.photos]], load_image(photos[args.photos])

    key = learn(train, get_config(args.preset), user=args.user, progress=False).key
    chameleon, report = protect_image(key, test)
    box = next(f for f in report.faces if f.protected).box
    target = photo_quality(test, chameleon, box=box).ssimulacra2_face
    lowkey = get_method("lowkey", quality_target=target)
    lowkey.setup(train)
    columns = {"chameleon": chameleon, "lowkey": lowkey.protect(test)}
    for name, protected in columns.items():
        q = photo_quality(test, protected, box=box)
        print(f"{name}: SSIMULACRA2 {q.ssimulacra2_face:.1f} (face in context), Butteraugli max "
              f"{q.butteraugli_face:.2f}, CIEDE2000 {q.ciede2000_face:.2f}")

    y0, y1, x0, x1 = face_in_context(box, test.shape[1], test.shape[2])
    strip = torch.cat([img[:, y0:y1, x0:x1] for img in (test, *columns.values())], dim=2)
    save_zoomed_png(strip, args.out)
    print(f"wrote {args.out} (columns: clean, Chameleon {args.preset}, LowKey at the same SSIMULACRA2)")


if __name__ == "__main__":
    main()
