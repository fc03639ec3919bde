"""The P3-Mask key: a learned mask plus everything needed to apply it to new photos.

On disk a key is a safetensors file (never pickle) with a JSON header::

    tensors:  "mask"             (3, h, w) float32, the mask in the canonical frame, |mask| <= epsilon
              "reference.<name>" (D,) float32, the user's clean reference embedding for model <name>
    metadata: "format"  = "p3mask-key"
              "version" = "2"
              "meta"    = JSON: epsilon, frame_size, template (the frame's 5 landmarks), team, quality_floor,
                          quality_min, quality_mean (SSIMULACRA2 of the face in context), preset,
                          user, match_model, match_threshold, photos, p3mask_version
              "sha256"  = :func:`p3mask.protect.key_checks.key_digest` of the other three fields and all tensors

Keys are written atomically with owner-only permissions (0o600), never over an existing file unless
asked, and read back before the rename: a key is personal and expensive to learn. Every load
recomputes the digest (a flipped byte, a negated mask or an edited field is refused) and range-checks
every field (:func:`p3mask.protect.key_checks.check_key`). A file that is truncated, not safetensors,
safetensors of something else, of another version, changed since it was written or out of range is
rejected with :class:`KeyFileError` naming the file and the failed check.

Applying a key to photos is :func:`p3mask.protect.apply.protect_image` (which builds on this module).

Example:
    >>> key = P3Mask.load("alice.p3m")  # doctest: +SKIP
    >>> protected, report = protect_image(key, image)  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_bytes

from p3mask import __version__
from p3mask.atomic import atomic_path
from p3mask.protect.key_checks import KeyCheckError, check_key, key_digest

FORMAT_NAME = "p3mask-key"
FORMAT_VERSION = 2  # 2: a perceptual (SSIMULACRA2) floor and the "sha256" content digest; version 1 keys are refused
KEY_SUFFIX = ".p3m"
_META_FIELDS = (
    "epsilon", "frame_size", "template", "team", "quality_floor", "quality_min", "quality_mean", "preset", "user",
    "match_model", "match_threshold", "photos",
)
# Float slack when checking |mask| <= epsilon after a float32 round trip.
_EPS_SLACK = 1e-6


class KeyFileError(ValueError):
    """A key file is missing, truncated, foreign or inconsistent."""


@dataclass(frozen=True, eq=False)
class P3Mask:
    """A user's learned protection mask and how to apply it.

    Attributes:
        mask: ``(3, h, w)`` float32 perturbation in the canonical frame, each value in ``[-epsilon, epsilon]``.
        epsilon: L-inf bound of the mask in [0, 1] image units.
        frame_size: ``(h, w)`` of the canonical frame.
        template: five landmarks ``(x, y)`` in frame pixels (eye smaller x, eye larger x, nose,
            mouth smaller x, mouth larger x).
        team: models the mask was optimised against at the end of learning.
        quality_floor: SSIMULACRA2 (face in context) every protected photo must keep; :meth:`apply`
            weakens the mask on a face where it would fall below.
        quality_min: lowest SSIMULACRA2 over the training photos.
        quality_mean: mean SSIMULACRA2 over the training photos.
        preset: preset name the mask was learned with.
        user: the user's name.
        references: model name -> ``(D,)`` L2-normalised clean reference embedding of the user.
        match_model: model used to recognise the user's face in new photos (a key of ``references``).
        match_threshold: cosine at or above which a face is the user's, for ``match_model``.
        photos: number of photos the mask was learned from.
    """

    mask: torch.Tensor
    epsilon: float
    frame_size: tuple[int, int]
    template: tuple[tuple[float, float], ...]
    team: tuple[str, ...]
    quality_floor: float
    quality_min: float
    quality_mean: float
    preset: str
    user: str
    references: dict[str, torch.Tensor] = field(repr=False)
    match_model: str
    match_threshold: float
    photos: int

    def __post_init__(self) -> None:
        mask = self.mask
        if not isinstance(mask, torch.Tensor) or not mask.is_floating_point():
            raise TypeError(f"mask: expected a float tensor, got {type(mask).__name__}")
        if mask.shape != (3, *self.frame_size):
            raise ValueError(f"mask: expected (3,{self.frame_size[0]},{self.frame_size[1]}), got {tuple(mask.shape)}")
        if not torch.isfinite(mask).all() or float(mask.abs().max()) > self.epsilon + _EPS_SLACK:
            raise ValueError(f"mask: values must be finite and within +-epsilon={self.epsilon:.6f}")
        if len(self.template) != 5:
            raise ValueError(f"template: expected 5 landmarks, got {len(self.template)}")
        if self.match_model not in self.references:
            raise ValueError(f"references lack the match model {self.match_model!r}")

    @property
    def meta(self) -> dict:
        """The JSON-serialisable metadata (everything but the tensors)."""
        out = {name: getattr(self, name) for name in _META_FIELDS}
        out["frame_size"] = list(self.frame_size)
        out["team"] = list(self.team)
        out["template"] = [list(p) for p in self.template]
        return out

    def save(self, path: str | os.PathLike, overwrite: bool = False) -> Path:
        """Write the key with permissions 0o600 (see :func:`p3mask.atomic.atomic_path`); return its path.

        The written file is loaded back (digest and checks) before it replaces anything.

        Raises:
            p3mask.atomic.WriteError: ``path`` exists (without ``overwrite``), the disk is full, or
                the file did not read back.
        """
        path = Path(path)
        tensors = {"mask": self.mask.detach().to("cpu", torch.float32).contiguous()}
        for name, ref in self.references.items():
            tensors[f"reference.{name}"] = ref.detach().to("cpu", torch.float32).reshape(-1).contiguous()
        metadata = {
            "format": FORMAT_NAME,
            "version": str(FORMAT_VERSION),
            "meta": json.dumps({**self.meta, "p3mask_version": __version__}, sort_keys=True),
        }
        metadata["sha256"] = key_digest(metadata, tensors)
        data = save_bytes(tensors, metadata=metadata)  # in memory: a failed write is then a plain OSError
        with atomic_path(path, mode=0o600, overwrite=overwrite, verify=P3Mask.load) as tmp:
            tmp.write_bytes(data)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> P3Mask:
        """Read a key written by :meth:`save`.

        Raises:
            KeyFileError: the file is missing, truncated, foreign, of another format version, changed
                since it was written (digest), or a field is out of range (the message names the check).
        """
        path = Path(path)
        if not path.is_file():
            raise KeyFileError(f"{path}: no such key file")
        try:
            with safe_open(str(path), framework="pt") as fh:
                header = fh.metadata() or {}
                _check_header(path, header)
                tensors = {name: fh.get_tensor(name) for name in fh.keys()}
        except (SafetensorError, OSError) as exc:
            raise KeyFileError(f"{path}: not a p3mask key (truncated or foreign file: {exc})") from None
        stored = header.get("sha256")
        if stored != key_digest({k: v for k, v in header.items() if k != "sha256"}, tensors):
            raise KeyFileError(f"{path}: refused: failed check 'digest': the key's content does not match its "
                               "SHA-256 (changed or damaged after it was written)")
        key = _from_parts(path, header, tensors)
        try:
            check_key(key)
        except KeyCheckError as exc:
            raise KeyFileError(f"{path}: refused: {exc}") from None
        return key


def _check_header(path: Path, header: dict[str, str]) -> None:
    if header.get("format") != FORMAT_NAME:
        raise KeyFileError(f"{path}: not a p3mask key (safetensors file without the {FORMAT_NAME!r} header)")
    if header.get("version") == "1":
        raise KeyFileError(f"{path}: a version 1 p3mask key, which has no integrity digest; learn the key "
                           f"again with `p3mask learn` (this p3mask reads version {FORMAT_VERSION})")
    if header.get("version") != str(FORMAT_VERSION):
        raise KeyFileError(
            f"{path}: p3mask key format version {header.get('version')!r}, this p3mask reads version {FORMAT_VERSION}"
            + ("; version 1 keys held an SSIM floor: learn the key again" if header.get("version") == "1" else "")
        )


def _from_parts(path: Path, header: dict[str, str], tensors: dict[str, torch.Tensor]) -> P3Mask:
    try:
        meta = json.loads(header["meta"])
        missing = [name for name in _META_FIELDS if name not in meta]
        if missing or "mask" not in tensors:
            raise KeyError(", ".join(missing) or "mask tensor")
        references = {
            name.removeprefix("reference."): t for name, t in tensors.items() if name.startswith("reference.")
        }
        return P3Mask(
            mask=tensors["mask"],
            epsilon=float(meta["epsilon"]),
            frame_size=(int(meta["frame_size"][0]), int(meta["frame_size"][1])),
            template=tuple((float(x), float(y)) for x, y in meta["template"]),
            team=tuple(str(m) for m in meta["team"]),
            quality_floor=float(meta["quality_floor"]),
            quality_min=float(meta["quality_min"]),
            quality_mean=float(meta["quality_mean"]),
            preset=str(meta["preset"]),
            user=str(meta["user"]),
            references=references,
            match_model=str(meta["match_model"]),
            match_threshold=float(meta["match_threshold"]),
            photos=int(meta["photos"]),
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise KeyFileError(f"{path}: damaged p3mask key ({type(exc).__name__}: {exc})") from None
