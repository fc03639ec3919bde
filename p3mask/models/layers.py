"""A layer more than one port needs: the frozen per-channel affine of folded batch norms."""

from __future__ import annotations

import torch
from torch import nn


class Affine(nn.Module):
    """Per-channel ``scale[c] * x + shift[c]`` on dim 1: an inference-mode batch norm, statistics folded in.

    Args:
        channels: size of dim 1 of the input.
        names: the parameters' names, as the source checkpoint calls them (dlib's ``affine_`` layers:
            ``("gamma", "beta")``; a folded TF BatchNorm: ``("weight", "bias")``), so that the converter's
            name map stays one-to-one.
    """

    def __init__(self, channels: int, names: tuple[str, str] = ("weight", "bias")) -> None:
        super().__init__()
        self.names = names
        self.register_parameter(names[0], nn.Parameter(torch.ones(channels)))
        self.register_parameter(names[1], nn.Parameter(torch.zeros(channels)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` or ``(B, C, H, W)`` -> same shape."""
        shape = (-1,) + (1,) * (x.dim() - 2)
        scale, shift = (getattr(self, n).view(shape) for n in self.names)
        return x * scale + shift
