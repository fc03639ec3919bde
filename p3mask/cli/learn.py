"""``p3mask learn``: learn a user's P3-Mask key from their photos (Chameleon)."""

from __future__ import annotations

import argparse
from pathlib import Path

from p3mask.atomic import WriteError, check_writable
from p3mask.cli.options import add_command, add_device_argument, add_learning_arguments, parse_team
from p3mask.cli.reporting import fail
from p3mask.face.image_io import ARTEFACT_FOLDER_SUFFIX, ImageLoadError
from p3mask.protect.config import get_config
from p3mask.protect.key_checks import check_user_name
from p3mask.protect.learning import LearnResult, learn, resolve_device
from p3mask.protect.visuals import LearnArtefacts


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "learn", run, "learn one protection mask (key) from a user's photos")
    parser.add_argument("photos", nargs="+", metavar="PHOTOS_OR_DIRS", help="photos of the user, or folders of them")
    parser.add_argument("--out", required=True, metavar="KEY.p3m", help="key file to write")
    parser.add_argument("--user", help="the user's name (default: the key file's name)")
    add_learning_arguments(parser)
    add_device_argument(parser)
    parser.add_argument("--save-epochs", action="store_true",
                        help="also write each epoch's exact mask as KEY.learn/npy/epoch_NNNN.npy, owner-only "
                             "(each is as secret as the key: a key can be rebuilt from it)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing key and its artefacts")


def artefacts_folder(key_path: Path) -> Path:
    """Where ``p3mask learn`` puts a key's learning artefacts: ``<key name without suffix>.learn`` beside it."""
    return key_path.with_name(key_path.stem + ARTEFACT_FOLDER_SUFFIX)


# The probe written before learning: a key's size with a 128x128 mask and five references is ~200 kB.
_KEY_PROBE_BYTES = 256 * 1024


def check_outputs(out: Path, photos: list[str], overwrite: bool) -> Path:
    """Before learning: the key and its artefacts folder can be written and replace nothing unasked.

    Returns:
        The artefacts folder.

    Raises:
        ValueError: ``out`` is a folder or exists, the artefacts folder exists or lies inside a
            folder of photos given.
        WriteError: the folder cannot be written to, or has no room for a key.
    """
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; give the key file to write, e.g. {out / 'user.p3m'}")
    if out.exists() and not overwrite:
        raise ValueError(f"--out {out}: already exists; not replaced (pass --overwrite)")
    artefacts = artefacts_folder(out)
    if artefacts.exists() and not artefacts.is_dir():
        raise ValueError(f"{artefacts}: is a file; the key's artefacts go to that folder")
    if artefacts.exists() and any(artefacts.iterdir()) and not overwrite:
        raise ValueError(f"{artefacts}: the artefacts of an earlier run are there; not replaced (pass --overwrite "
                         "or write the key elsewhere)")
    for folder in map(Path, photos):
        if folder.is_dir() and artefacts.resolve().is_relative_to(folder.resolve()):
            raise ValueError(f"the key's artefacts ({artefacts}) would go into the photo folder {folder}; "
                             "write the key outside it")
    check_writable(out.parent, size=_KEY_PROBE_BYTES)
    return artefacts


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
        lines.append(f"  {name:<14} cosine to the user: clean {float(before.mean()):.3f} -> protected "
                     f"{float(after.mean()):.3f}")
    lines += [f"not used {name}: {why}" for name, why in result.skipped]
    lines += [f"warning: {w}" for w in result.warnings]
    return lines


def run(args: argparse.Namespace) -> int:
    """Learn one universal P3-Mask for a user from all of their photos (Chameleon, ECCV 2024). Pictures of the mask per
    epoch and a before/after sheet go to KEY.learn/ next to the key (never into a photo folder; never read back
    as photos); the exact masks (npy) only with --save-epochs. Where the key and its artefacts go is checked
    before learning; nothing existing is replaced unless --overwrite.
    """
    out = Path(args.out)
    user = args.user or out.stem
    try:
        check_user_name(user)
        config = get_config(args.preset, epochs=args.epochs, team=parse_team(args.team))
        resolve_device(args.device)
        folder = check_outputs(out, args.photos, args.overwrite)
    except (ValueError, WriteError) as exc:
        return fail("learn", exc)
    artefacts = LearnArtefacts(folder, save_npy=args.save_epochs, overwrite=args.overwrite)
    try:
        result = learn(args.photos, config, user=user, device=args.device, seed=args.seed, out_dir=artefacts)
    except (ValueError, ImageLoadError, WriteError) as exc:
        return fail("learn", exc, status=1)
    try:
        result.key.save(out, overwrite=args.overwrite)
    except WriteError as exc:
        return fail("learn", f"the learned key could not be saved: {exc}", status=1)
    print("\n".join(summary(result, out)))
    return 0
