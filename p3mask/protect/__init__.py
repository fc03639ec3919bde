"""Learn one P3-Mask per user (Chameleon), protect any photo of that user instantly.

Example:
    >>> from p3mask.protect import P3Mask, learn_mask, protect_image
    >>> key = learn_mask(["photos/alice/"], user="alice")  # doctest: +SKIP
    >>> key.save("alice.p3m")  # doctest: +SKIP
    >>> protected, report = protect_image(P3Mask.load("alice.p3m"), image)  # doctest: +SKIP

Names are imported on first use, so ``import p3mask.protect.ssim`` stays light.
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "ChameleonConfig": "config",
    "PRESETS": "config",
    "get_config": "config",
    "P3Mask": "key",
    "KeyFileError": "key",
    "learn": "learning",
    "learn_mask": "learning",
    "LearnResult": "learning",
    "resolve_device": "learning",
    "protect_image": "apply",
    "protect_files": "apply",
    "ProtectReport": "apply",
    "FacePolicy": "face_choice",
    "FaceChoice": "face_choice",
    "choose_faces": "face_choice",
    "face_ssim": "ssim",
    "face_dssim": "ssim",
    "select_team": "focal",
    "team_focal_diversity": "focal",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'p3mask.protect' has no attribute {name!r}")
    return getattr(import_module(f"p3mask.protect.{_EXPORTS[name]}"), name)
