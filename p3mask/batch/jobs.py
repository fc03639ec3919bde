"""Planning a batch before any work: which users to learn, which photos to protect, what is done.

A batch is resumable because planning looks at what earlier runs left: a user whose key is there and
valid (:meth:`P3Mask.load` checks its digest and every field, and its user and preset are the ones
asked for) is skipped, and so is a photo whose protected copy is there and decodes. Every write of
p3mask is atomic (:mod:`p3mask.atomic`), so a file at a target is complete: a run killed midway
leaves finished files and, at most, hidden temporary files of the write it was in, which the next run
removes (:func:`p3mask.atomic.unfinished_writes`).

Layouts:

* users: ``USERS_DIR/<user>/`` holds the photos of one user (sub-folders included); the folder's name
  is the user's name and the key is ``KEYS_DIR/<user>.p3m``.
* photos: ``PHOTOS_DIR/<user>/...`` (the same layout), or a manifest CSV whose header is
  ``photo,user`` and whose photo paths are relative to the CSV's folder (or absolute). The copy of a
  photo goes to ``OUT_DIR/<user>/`` under its path inside the user's folder (folders) or its file
  name (manifest), as :func:`p3mask.protect.apply.plan_outputs` names them.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from p3mask.face.image_io import ImageLoadError, load_image
from p3mask.protect.apply import plan_outputs
from p3mask.protect.config import ChameleonConfig
from p3mask.protect.key import KEY_SUFFIX, KeyFileError, P3Mask
from p3mask.protect.key_checks import KeyCheckError, check_user_name

MANIFEST_HEADER = ("photo", "user")


@dataclass(frozen=True)
class UserJob:
    """One user to learn: the folder of their photos and where their key goes."""

    user: str
    photos: Path
    key: Path


@dataclass(frozen=True)
class PhotoJob:
    """One photo to protect with ``user``'s key into ``target``."""

    source: Path
    user: str
    target: Path


@dataclass(frozen=True)
class Refusal:
    """A user or photo not worked on, and why: ``state`` is ``"done"`` (finished by an earlier run),
    ``"ignored"`` (not a photo, a repeat: not a failure) or ``"failed"`` (refused)."""

    name: str  # the user (learning) or the photo (protecting)
    why: str
    state: str = "failed"
    user: str | None = None  # protecting: the photo's user
    target: Path | None = None  # the key or copy concerned


@dataclass
class Plan:
    """Jobs to run and what will not be run (each with why)."""

    jobs: list = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)


def key_path(keys_dir: str | os.PathLike, user: str) -> Path:
    """Where ``user``'s key lives in ``keys_dir``: ``<user>.p3m``."""
    return Path(keys_dir) / f"{user}{KEY_SUFFIX}"


def _user_folders(folder: Path, what: str) -> tuple[list[Path], list[Refusal]]:
    """Sub-folders of ``folder`` (sorted, hidden ones left out) and refusals for the files beside them."""
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder; expected one sub-folder of photos per user ({what})")
    entries = sorted(folder.iterdir())
    users = [p for p in entries if p.is_dir() and not p.name.startswith(".")]
    refused = [Refusal(str(p), "not in a user's folder; not taken", "ignored") for p in entries
               if p.is_file() and not p.name.startswith(".")]
    return users, refused


def _bad_name(user: str) -> str | None:
    try:
        check_user_name(user)
    except KeyCheckError as exc:
        return f"the folder name is not a user name ({exc})"
    return None if "/" not in user and user not in (".", "..") else "the user name cannot be a path"


def existing_key_state(path: Path, user: str, config: ChameleonConfig) -> tuple[bool, str]:
    """``(done, why)`` for a key file that is there: done when it loads and is ``user``'s ``config.preset`` key."""
    try:
        key = P3Mask.load(path)
    except KeyFileError as exc:
        return False, f"{exc}; not replaced (pass --overwrite to learn it again)"
    if key.user != user or key.preset != config.preset:
        return False, (f"{path} is a {key.preset} key of {key.user!r}, not a {config.preset} key of {user!r}; "
                       "not replaced (pass --overwrite)")
    return True, f"{path} is a valid key already; not learned again"


def plan_users(users_dir: str | os.PathLike, keys_dir: str | os.PathLike, config: ChameleonConfig,
               overwrite: bool = False) -> Plan:
    """One :class:`UserJob` per user folder of ``users_dir`` whose key is still to learn.

    Raises:
        ValueError: ``users_dir`` is not a folder, or ``keys_dir`` is a file.
    """
    keys_dir = Path(keys_dir)
    if keys_dir.exists() and not keys_dir.is_dir():
        raise ValueError(f"--out {keys_dir}: is a file, not a folder of keys")
    folders, refused = _user_folders(Path(users_dir), "learn-many USERS_DIR")
    plan = Plan(refusals=refused)
    for folder in folders:
        user, key = folder.name, key_path(keys_dir, folder.name)
        problem = _bad_name(user)
        if problem is None and key.exists() and not overwrite:
            done, problem = existing_key_state(key, user, config)
            if done:
                plan.refusals.append(Refusal(user, problem, "done", user=user, target=key))
                continue
        if problem is not None:
            plan.refusals.append(Refusal(user, problem, user=user, target=key))
            continue
        plan.jobs.append(UserJob(user, folder, key))
    return plan


def read_manifest(path: Path) -> dict[str, list[Path]]:
    """The photos of each user listed in a ``photo,user`` CSV (paths relative to its folder).

    Raises:
        ValueError: the file cannot be read, lacks the header, or a row is not two non-empty fields;
            the message names the file and the line.
    """
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: cannot read the manifest ({exc})") from None
    if not rows or tuple(c.strip().lower() for c in rows[0]) != MANIFEST_HEADER:
        raise ValueError(f"{path}: the manifest must start with the header line 'photo,user'")
    photos: dict[str, list[Path]] = defaultdict(list)
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise ValueError(f"{path}, line {number}: expected 'photo,user', got {','.join(row)!r}")
        photo = Path(row[0].strip())
        photos[row[1].strip()].append(photo if photo.is_absolute() else path.parent / photo)
    return dict(photos)


def _done_copy(target: Path) -> tuple[bool, str]:
    """``(done, why)`` for a copy that is there: done when it decodes as a photo."""
    try:
        load_image(target)
    except ImageLoadError as exc:
        return False, f"{target} exists and is not a readable photo ({exc.problem}); not replaced (pass --overwrite)"
    return True, f"{target} is there already; not protected again"


def plan_photos(photos: str | os.PathLike, out_dir: str | os.PathLike, overwrite: bool = False) -> Plan:
    """One :class:`PhotoJob` per photo of ``photos`` (a folder of user folders, or a manifest CSV)
    whose copy in ``out_dir`` is still to write.

    Raises:
        ValueError: ``photos`` is neither, the manifest is malformed, or ``out_dir`` is a file.
    """
    photos, out_dir = Path(photos), Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"--out {out_dir}: is a file, not a folder")
    if photos.is_file():
        inputs, plan = read_manifest(photos), Plan()
    else:
        folders, refused = _user_folders(photos, "protect-many PHOTOS_DIR, or a manifest CSV photo,user")
        inputs, plan = {folder.name: [folder] for folder in folders}, Plan(refusals=refused)
    for user, paths in inputs.items():
        problem = _bad_name(user)
        if problem is not None:
            plan.refusals += [Refusal(str(p), problem, user=user) for p in paths]
            continue
        outputs = plan_outputs(paths, out_dir / user, overwrite=True)
        for refused in outputs.refused:
            state = "ignored" if refused.ignored else "failed"
            plan.refusals.append(Refusal(str(refused.source), refused.error or refused.ignored, state, user=user))
        for source, target in outputs.jobs:
            if target.exists() and not overwrite:
                done, why = _done_copy(target)
                plan.refusals.append(Refusal(str(source), why, "done" if done else "failed", user=user, target=target))
                continue
            plan.jobs.append(PhotoJob(source, user, target))
    return plan
