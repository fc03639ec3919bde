"""What a key must satisfy before it is applied: a content digest and a range check of every field.

A key file is data from outside (it may be damaged, edited or hostile): a zeroed mask protects
nothing while reporting success, a mask of +-1 destroys the face, a low match threshold or NaN
references mask every stranger, an edited user name carries terminal escapes. :func:`key_digest`
is the SHA-256 over the key's header and tensors that :meth:`P3Mask.save` stores and
:meth:`P3Mask.load` recomputes; :func:`check_key` checks each field against the preset tables of
:mod:`p3mask.protect.config` (so the bounds follow the presets when they change) and the
calibrated match thresholds of :mod:`p3mask.models.thresholds`. Each failure is a
:class:`KeyCheckError` naming the check.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import fields
from typing import TYPE_CHECKING

import torch

from p3mask.protect.config import HELD_OUT_MODELS, PRESETS, ChameleonConfig

if TYPE_CHECKING:
    from p3mask.protect.key import P3Mask

# Floors a key carries (every ``*_floor`` field of the learning config, so a new one is checked as soon
# as the key stores it) and the largest value each metric can take (a floor at it would let no change
# through). A key's floor must be at least its preset's: a key may be stricter, never looser.
FLOOR_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ChameleonConfig) if f.name.endswith("_floor"))
FLOOR_MAXIMUM: dict[str, float] = {"quality_floor": 100.0}
# How far a key's match threshold may lie from the calibrated FAR=1e-3 threshold of its match model
# (cosine): keys learned before a recalibration stay usable, a threshold far below would match strangers.
MATCH_THRESHOLD_TOLERANCE = 0.05
# How far a reference embedding's L2 norm may be from 1 (float32 round trip of a normalised vector).
NORM_TOLERANCE = 1e-3
# Relative slack on the preset's epsilon (float32 storage of a float64 value).
EPSILON_SLACK = 1e-6
MAX_USER_LENGTH = 128
MAX_FRAME_SIDE = 1024


class KeyCheckError(ValueError):
    """A key field is out of range; ``check`` names the failed check."""

    def __init__(self, check: str, problem: str) -> None:
        self.check = check
        super().__init__(f"failed check '{check}': {problem}")


def key_digest(metadata: Mapping[str, str], tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 (hex) over the header fields and every tensor (name, dtype, shape, bytes), in name order.

    Args:
        metadata: the safetensors header strings, without the digest itself.
        tensors: name -> tensor, as stored.
    """
    h = hashlib.sha256()
    for name in sorted(metadata):
        h.update(f"meta:{name}={metadata[name]}\0".encode())
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        h.update(f"tensor:{name}:{t.dtype}:{tuple(t.shape)}\0".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def _finite(check: str, value, low: float, high: float, what: str) -> None:
    if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value <= high:
        raise KeyCheckError(check, f"{what} {value!r} is not in [{low:g}, {high:g}]")


def _check_template(key: P3Mask) -> None:
    h, w = key.frame_size
    if not all(isinstance(v, int) and 16 <= v <= MAX_FRAME_SIDE for v in (h, w)):
        raise KeyCheckError("frame", f"frame size {key.frame_size} is not two sides in [16, {MAX_FRAME_SIDE}]")
    pts = key.template
    if len(pts) != 5 or not all(math.isfinite(c) for p in pts for c in p):
        raise KeyCheckError("template", "expected 5 finite landmarks")
    if not all(0 <= x <= w and 0 <= y <= h for x, y in pts):
        raise KeyCheckError("template", f"landmarks {pts} lie outside the {w}x{h} frame")
    (ex0, ey0), (ex1, ey1), (nx, ny), (mx0, my0), (mx1, my1) = pts
    if not (ex0 + 1 < ex1 and mx0 + 1 < mx1 and max(ey0, ey1) < ny < min(my0, my1)):
        raise KeyCheckError("template", "degenerate landmarks (expected eyes apart, above the nose, above the "
                                        "mouth corners, which are apart)")


def _check_references(key: P3Mask) -> None:
    from p3mask.models import MODELS

    for name, ref in key.references.items():
        if name not in MODELS:
            raise KeyCheckError("references", f"reference for unknown model {name!r}")
        dim = MODELS[name].embedding_dim
        if tuple(ref.shape) != (dim,):
            raise KeyCheckError("references",
                                f"{name} reference has shape {tuple(ref.shape)}, the model gives ({dim},)")
        if not torch.isfinite(ref).all():
            raise KeyCheckError("references", f"{name} reference has NaN or infinite values")
        norm = float(ref.float().norm())
        if abs(norm - 1.0) > NORM_TOLERANCE:
            raise KeyCheckError("references", f"{name} reference has norm {norm:.4f}, expected 1")


def _check_match(key: P3Mask) -> None:
    from p3mask.models.thresholds import match_threshold

    if key.match_model not in key.references:
        raise KeyCheckError("match model", f"no reference for the match model {key.match_model!r}")
    try:
        calibrated = match_threshold(key.match_model)
    except ValueError as exc:
        raise KeyCheckError("match threshold", str(exc)) from None
    low, high = calibrated - MATCH_THRESHOLD_TOLERANCE, min(calibrated + MATCH_THRESHOLD_TOLERANCE, 1.0)
    _finite("match threshold", key.match_threshold, low, high,
            f"threshold (calibrated {calibrated:.4f} for {key.match_model})")


def _check_mask(key: P3Mask) -> None:
    preset = PRESETS[key.preset]
    cap = preset.rgb_bound * (1 + EPSILON_SLACK)  # a key's epsilon is its mask's RGB bound
    if not math.isfinite(key.epsilon) or not 0.0 < key.epsilon <= cap:
        raise KeyCheckError("epsilon", f"epsilon {key.epsilon!r} is not in (0, {preset.rgb_bound:.6f}] "
                                       f"(the {key.preset} preset's cap)")
    mask = key.mask
    if not torch.isfinite(mask).all():
        raise KeyCheckError("mask", "NaN or infinite values")
    peak = float(mask.abs().max())
    if peak > key.epsilon * (1 + EPSILON_SLACK) + 1e-7:
        raise KeyCheckError("mask", f"values reach {peak:.6f}, beyond epsilon {key.epsilon:.6f}")
    if peak * 255.0 < 0.5:
        raise KeyCheckError("mask", "the mask is (almost) zero: it would change no pixel")


def check_key(key: P3Mask) -> None:
    """Raise :class:`KeyCheckError` naming the first field of ``key`` out of range.

    Checks: preset known; epsilon in (0, the preset's RGB bound]; mask finite, within epsilon, not zero;
    every floor (:data:`FLOOR_FIELDS`) in [the preset's floor, its metric's maximum); the SSIMULACRA2
    statistics finite and at most 100; frame and template non-degenerate; references of known models, of their
    embedding size, finite and unit-norm; the match threshold within
    :data:`MATCH_THRESHOLD_TOLERANCE` of the calibrated one; a team of known models without the
    held-out one; at least one photo; a printable user name.
    """
    from p3mask.models import MODELS

    if key.preset not in PRESETS:
        raise KeyCheckError("preset", f"unknown preset {key.preset!r}; known: {', '.join(PRESETS)}")
    _check_mask(key)
    preset = PRESETS[key.preset]
    for name in FLOOR_FIELDS:
        if hasattr(key, name):
            low, high = getattr(preset, name), FLOOR_MAXIMUM.get(name, math.inf)
            value = getattr(key, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not low <= value < high:
                raise KeyCheckError(name, f"{value!r} is not in [{low:g}, {high:g}) (the {key.preset} preset's range)")
    for name in ("quality_min", "quality_mean"):
        _finite(name, getattr(key, name), -math.inf, 100.0, "SSIMULACRA2")
    _check_template(key)
    _check_references(key)
    _check_match(key)
    if not key.team or any(m not in MODELS or m in HELD_OUT_MODELS for m in key.team):
        raise KeyCheckError("team",
                            f"team {list(key.team)} must name known models other than {', '.join(HELD_OUT_MODELS)}")
    if not isinstance(key.photos, int) or key.photos < 1:
        raise KeyCheckError("photos", f"{key.photos!r} photos; expected at least 1")
    check_user_name(key.user)


def check_user_name(user: str) -> None:
    """Raise :class:`KeyCheckError` unless ``user`` is 1-128 printable characters (no control codes)."""
    if not isinstance(user, str) or not 1 <= len(user) <= MAX_USER_LENGTH or not user.isprintable():
        raise KeyCheckError("user", f"the user name must be 1-{MAX_USER_LENGTH} printable characters, "
                                    f"got {ascii(user)[:80]}")
