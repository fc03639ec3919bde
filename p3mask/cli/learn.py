"""``p3mask learn``: learn a user's P3-Mask key from their photos (Chameleon)."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.cli.reporting import fail
from p3mask.face.image_io import ImageLoadError
from p3mask.models import available_models
from p3mask.protect.chameleon import LearnResult, learn
from p3mask.protect.config import DEFAULT_PRESET, HELD_OUT_MODEL, PRESETS, get_config


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "learn",
        help="learn one protection mask (key) from a user's photos",
        description="Learn one universal P3-Mask for a user from all of their photos (Chameleon, ECCV 2024). "
        "Per-epoch masks go to OUT_DIR/<user>/jpg|npy/ next to the key, with a before/after picture.",
    )
    parser.add_argument("photos", nargs="+", metavar="PHOTOS_OR_DIRS", help="photos of the user, or folders of them")
    parser.add_argument("--out", required=True, metavar="KEY.p3m", help="key file to write")
    parser.add_argument("--user", help="the user's name (default: the key file's name)")
    parser.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET,
                        help=f"strength against visibility (default {DEFAULT_PRESET})")
    parser.add_argument("--epochs", type=int, metavar="N", help="passes over the photos (default: the preset's)")
    parser.add_argument("--team", default="auto", metavar="auto|NAME,NAME,...",
                        help="models to optimise against; 'auto' selects them by focal diversity (default)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                        help="where to compute (default auto: CUDA when available)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.set_defaults(func=run)


def parse_team(text: str) -> tuple[str, ...] | None:
    """``"auto"`` -> ``None``; ``"a,b"`` -> ``("a", "b")`` after checking the names."""
    if text.strip().lower() == "auto":
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    if not names:
        raise ValueError("--team: expected 'auto' or model names separated by commas")
    unknown = [n for n in names if n not in available_models()]
    if unknown:
        raise ValueError(f"--team: unknown model(s) {', '.join(unknown)}; valid: {', '.join(available_models())}")
    if HELD_OUT_MODEL in names:
        raise ValueError(f"--team: {HELD_OUT_MODEL!r} is the held-out recogniser and never a team member")
    return names


def summary(result: LearnResult, path: Path) -> list[str]:
    """Lines printed after learning."""
    key, fit = result.key, result.fit
    lines = [
        f"key written to {path} ({key.photos} photos, {result.seconds:.1f} s, team {','.join(key.team)})",
        f"SSIMULACRA2 (face in context) on the training photos: min {key.quality_min:.1f}, mean "
        f"{key.quality_mean:.1f} (floor {key.quality_floor:.0f}; mask strength mean {float(fit.strength.mean()):.2f}, "
        f"min {float(fit.strength.min()):.2f})",
    ]
    for name in fit.protected_cosine:
        before, after = fit.clean_cosine[name], fit.protected_cosine[name]
        lines.append(f"  {name:<14} cosine to the user: clean {float(before.mean()):.3f} -> protected {float(after.mean()):.3f}")
    lines += [f"skipped {name}: {why}" for name, why in result.skipped]
    return lines


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    user = args.user or out.stem
    try:
        config = get_config(args.preset, epochs=args.epochs, team=parse_team(args.team))
    except ValueError as exc:
        return fail("learn", exc)
    try:
        result = learn(args.photos, config, user=user, device=args.device, seed=args.seed, out_dir=out.parent)
    except (ValueError, ImageLoadError, OSError) as exc:
        return fail("learn", exc, status=1)
    result.key.save(out)
    print("\n".join(summary(result, out)))
    return 0
