"""Authorised de-obfuscation: whoever holds a user's key removes the P3-Mask from protected photos.

A protected photo is ``x + paste(mask) * coverage``: the key's mask, warped from its canonical frame onto
the face (weakened on faces where the full mask would break the perceptual floor, clamped to [0, 1] and
stored in 8 bits). The holder of the key re-detects the face, re-aligns it into the key's frame,
measures how much of the mask the face carries (:func:`p3mask.protect.register.mask_strength`) and
subtracts that much of the mask pasted back. Detection on a protected photo is not
pixel-exact (the mask itself moves the detected landmarks by a few pixels), and a mask shifted by a
pixel does not cancel, so the face is first registered to the mask
(:func:`p3mask.protect.register.refine_matrices`: the alignment at which the face's fine detail
correlates best with the mask's). The peak correlation also tells whether a face carries this key's
mask at all.

A wrong user's key has an unrelated mask: subtracting it leaves the real mask in place (and adds a second
perturbation), so the face stays unrecognisable; the evaluation measures exactly that.

:func:`unlock_files` does it for files, with the guarantees of :func:`p3mask.protect.apply.protect_files`
(outputs planned first, nothing replaced unless asked, every copy read back, location and device metadata
removed, one outcome per file).

Example:
    >>> key = P3Mask.load("alice.p3m")  # doctest: +SKIP
    >>> result = unlock_image(load_image("protected.jpg"), key)  # doctest: +SKIP
    >>> result.image.shape, result.correlations  # doctest: +SKIP
    >>> outcomes = unlock_files(key, ["protected/"], "unlocked/")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from p3mask.atomic import WriteError
from p3mask.checks import check_photo
from p3mask.face.align import estimate_similarity, paste_from_crop
from p3mask.face.detect import FaceDetector
from p3mask.face.image_io import ImageLoadError, load_image_with_info, save_image
from p3mask.protect.apply import FileOutcome, copy_notes, process_files
from p3mask.protect.key import P3Mask
from p3mask.protect.register import REFINE_STEPS, mask_strength, refine_matrices

logger = logging.getLogger(__name__)

# Measured on LFW photos protected with mid keys: a face carrying the key's mask correlates 0.16-0.27
# with it after registration; strangers' faces and faces masked by another user's key 0.02-0.06.
MIN_CORRELATION = 0.1

def remove_mask(
    image: torch.Tensor, matrices: torch.Tensor, mask: torch.Tensor, strengths: torch.Tensor | None = None
) -> torch.Tensor:
    """Subtract ``mask`` pasted onto each face at ``matrices``; ``(3, H, W)`` in [0, 1].

    Args:
        image: ``(3, H, W)`` protected photo in [0, 1].
        matrices: ``(N, 2, 3)`` photo -> frame affines of the faces to unlock.
        mask: ``(3, h, w)`` mask in the frame.
        strengths: optional ``(N,)`` fraction of the mask to subtract on each face (default 1).
    """
    if matrices.shape[0] == 0:
        return image.clone()
    n = matrices.shape[0]
    pasted, weight = paste_from_crop(mask[None].float().expand(n, -1, -1, -1).contiguous(), matrices.float(),
                                     image.shape[-2:])
    if strengths is not None:
        pasted = pasted * strengths.float().reshape(n, 1, 1, 1)
    return (image - (pasted * weight).sum(0)).clamp(0.0, 1.0)


@dataclass(frozen=True)
class UnlockResult:
    """Outcome of :func:`unlock_image`.

    Attributes:
        image: ``(3, H, W)`` photo with the mask removed from the unlocked faces.
        unlocked: indices (into the detections, largest first) of the faces unlocked.
        correlations: ``(N,)`` mask correlation of every detected face after registration.
        strengths: ``(N,)`` measured fraction of the mask each face carries (what was subtracted).
        landmarks: ``(N, 5, 2)`` landmarks used.
    """

    image: torch.Tensor
    unlocked: list[int]
    correlations: torch.Tensor
    strengths: torch.Tensor
    landmarks: torch.Tensor


def unlock_image(
    image: torch.Tensor,
    key,
    detector: FaceDetector | None = None,
    landmarks: torch.Tensor | None = None,
    min_correlation: float | None = None,
    refine_steps: int = REFINE_STEPS,
    register: bool = True,
) -> UnlockResult:
    """Remove a key's mask from the faces of one photo.

    Args:
        image: ``(3, H, W)`` RGB in [0, 1].
        key: a :class:`p3mask.protect.key.P3Mask` (its ``mask``, ``template`` and ``frame_size`` are used).
        detector: face detector (default: a new YuNet :class:`FaceDetector`); unused with ``landmarks``.
        landmarks: optional ``(N, 5, 2)`` face landmarks instead of detecting.
        min_correlation: unlock only faces whose registered mask correlation reaches this (default
            ``None``: every detected face).
        refine_steps: gradient registration steps after the grid search (default none).
        register: register faces to the mask at all (default True; False trusts the landmarks).

    Returns:
        :class:`UnlockResult`; a photo without a face comes back unchanged with nothing unlocked.
    """
    check_photo(image, in_range=False)
    if landmarks is None:
        landmarks = (detector or FaceDetector()).detect(image).landmarks
    if landmarks.ndim != 3 or landmarks.shape[1:] != (5, 2):
        raise ValueError(f"landmarks: expected (N,5,2), got {tuple(landmarks.shape)}")
    image = image.float()
    if landmarks.shape[0] == 0:
        return UnlockResult(image.clone(), [], torch.zeros(0), torch.zeros(0), landmarks)
    mask = key.mask.float()
    matrices = estimate_similarity(landmarks.float(), torch.tensor(key.template, dtype=torch.float32))
    matrices, corr = refine_matrices(image, matrices, mask, refine_steps if register else 0, search=register)
    strengths = mask_strength(image, matrices, mask)
    chosen = [i for i, c in enumerate(corr.tolist()) if min_correlation is None or c >= min_correlation]
    out = remove_mask(image, matrices[chosen], mask, strengths[chosen])
    logger.debug("unlock: correlations %s, strengths %s, unlocked %s",
                 [round(c, 3) for c in corr.tolist()], [round(v, 3) for v in strengths.tolist()], chosen)
    return UnlockResult(out, chosen, corr, strengths, landmarks)


def unlock_file(
    key: P3Mask, source: Path, target: Path, detector: FaceDetector, min_correlation: float | None,
    overwrite: bool = False, keep_metadata: bool = False,
) -> FileOutcome:
    """Unlock one photo file into ``target``; every expected failure is an outcome, not an exception."""
    try:
        image, info = load_image_with_info(source)
    except ImageLoadError as exc:
        return FileOutcome(source, None, None, exc.problem)
    result = unlock_image(image, key, detector=detector, min_correlation=min_correlation)
    if not result.unlocked:
        found = len(result.correlations)
        why = "no face found" if not found else f"no face carries this key's mask ({found} detected)"
        return FileOutcome(source, None, None, f"nothing to unlock: {why}")
    try:
        save_image(result.image, target, like=info, overwrite=overwrite, keep_metadata=keep_metadata)
    except (WriteError, ValueError) as exc:
        return FileOutcome(source, None, None, f"not written: {exc}")
    corr = ", ".join(f"{c:.2f}" for c in result.correlations.tolist())
    detail = f"{len(result.unlocked)} face(s), mask correlation {corr}"
    return FileOutcome(source, target, None, notes=(detail, *copy_notes(info, keep_metadata)))


def unlock_files(
    key: P3Mask,
    inputs: Iterable[str | os.PathLike],
    out_dir: str | os.PathLike,
    detector: FaceDetector | None = None,
    min_correlation: float | None = MIN_CORRELATION,
    overwrite: bool = False,
    keep_metadata: bool = False,
    on_outcome: Callable[[FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """Unlock protected photo files (and folders of them) into ``out_dir``, one outcome per file.

    The counterpart of :func:`p3mask.protect.apply.protect_files`, with its guarantees: outputs are
    planned first (:func:`~p3mask.protect.apply.plan_outputs`) and the refused files reported before any
    work; each copy is written with :func:`save_image` (never over an existing file unless
    ``overwrite``; decoded again before it is reported) and reported through ``on_outcome`` as soon as it
    is done; failures (unreadable file, no face carrying the mask, full disk) are per file and the batch
    goes on; originals are never modified.

    Args:
        key: the user's key.
        inputs: protected photos and folders of them.
        out_dir: folder of the unlocked copies (created).
        detector: face detector (default: a YuNet :class:`FaceDetector`).
        min_correlation: unlock only faces whose registered mask correlation reaches this (default
            :data:`MIN_CORRELATION`, so strangers stay untouched; ``None``: every detected face).
        overwrite: replace outputs that already exist.
        keep_metadata: keep the EXIF location and device fields (default: removed).
        on_outcome: called with each outcome when it is known.

    Raises:
        ValueError: ``out_dir`` is a file.
    """
    def start() -> Callable[[Path, Path], FileOutcome]:
        found = detector or FaceDetector()
        return lambda source, target: unlock_file(key, source, target, found, min_correlation, overwrite,
                                                  keep_metadata)

    return process_files(inputs, out_dir, overwrite, start, on_outcome)
