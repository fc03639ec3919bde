"""The one check of the library's image convention: float RGB tensors in [0, 1], a photo ``(3, H, W)``
(:func:`check_photo`) or a batch of crops ``(B, 3, H, W)`` (:func:`check_image_batch`).

Every public function that takes a photo checks it here, so that a wrong input is refused with the same
words everywhere (what was expected, what was got, and which argument it was).

Example:
    >>> import torch
    >>> check_photo(torch.rand(3, 8, 8))
    >>> check_photo(torch.zeros(1, 3, 8, 8), "photo 2")
    Traceback (most recent call last):
    ...
    ValueError: photo 2: expected (3,H,W) RGB in [0,1], got (1, 3, 8, 8)
"""

from __future__ import annotations

import torch


def _check_float_tensor(x: torch.Tensor, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor in [0,1], got dtype {x.dtype}")


def check_photo(
    image: torch.Tensor, name: str = "image", *, in_range: bool = True, tolerance: float = 0.0, min_side: int = 1
) -> None:
    """Raise unless ``image`` is a float ``(3, H, W)`` RGB tensor (in [0, 1] when ``in_range``).

    Args:
        image: the tensor to check.
        name: what to call it in the message (an argument name, ``"photo 3"``, a file name).
        in_range: also require finite values in ``[-tolerance, 1 + tolerance]`` (default True; a full
            pass over the pixels).
        tolerance: round-off allowed outside [0, 1] (default 0).
        min_side: smallest height and width accepted (default 1).

    Raises:
        TypeError: not a tensor, or not a floating-point one.
        ValueError: another shape, a side under ``min_side``, or values outside the range.
    """
    _check_float_tensor(image, name)
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(f"{name}: expected (3,H,W) RGB in [0,1], got {tuple(image.shape)}")
    if min(image.shape[1:]) < min_side:
        raise ValueError(f"{name}: expected an image at least {min_side}x{min_side}, got {tuple(image.shape)}")
    if in_range and image.numel():
        x = image.detach()
        if not torch.isfinite(x).all():
            raise ValueError(f"{name}: expected finite values in [0,1], got NaN or inf")
        lo, hi = float(x.min()), float(x.max())
        if lo < -tolerance or hi > 1.0 + tolerance:
            raise ValueError(f"{name}: expected values in [0,1], got [{lo:.4g}, {hi:.4g}]")


def check_image_batch(x: torch.Tensor, size: tuple[int, int] | None = None, name: str = "input") -> None:
    """Raise ``ValueError``/``TypeError`` unless ``x`` is a float ``(B, 3, H, W)`` batch in [0, 1].

    Args:
        x: the tensor to check (values are not read: a model's input may be any float batch).
        size: expected ``(H, W)``, or ``None`` for any size.
        name: what to call it in the message.
    """
    _check_float_tensor(x, name)
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"{name}: expected (B,3,H,W) RGB in [0,1], got {tuple(x.shape)}")
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        raise ValueError(f"{name}: expected (B,3,{size[0]},{size[1]}), got {tuple(x.shape)}")
