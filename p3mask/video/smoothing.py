"""Landmark smoothing through time: the One-Euro filter.

Casiez, Roussel and Vogel, "1 Euro Filter: A Simple Speed-based Low-pass Filter for Noisy Input in
Interactive Systems", CHI 2012. Each coordinate goes through a first-order low-pass filter whose
cutoff rises with the signal's (itself low-passed) speed: a still face is smoothed hard (the
detector's jitter goes), a moving one lightly (little lag). With ``tau = 1 / (2 pi f)`` and
``alpha(f, dt) = 1 / (1 + tau / dt)``::

    dx_hat = alpha(d_cutoff, dt) * (x - x_hat_prev) / dt + (1 - alpha) * dx_hat_prev
    f      = min_cutoff + beta * |dx_hat|
    x_hat  = alpha(f, dt) * x + (1 - alpha(f, dt)) * x_hat_prev

:func:`one_euro_filter` filters a whole signal; :class:`OneEuroFilter` holds the state and takes one
sample at a time (a video's frames as they are decoded).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class OneEuroConfig:
    """Parameters of the One-Euro filter (units: seconds and the signal's own units, here pixels)."""

    min_cutoff: float = 1.0  # Hz: cutoff of a still signal (lower: smoother, more lag)
    beta: float = 0.05  # Hz per (unit/s): how fast the cutoff rises with speed (higher: less lag)
    d_cutoff: float = 1.0  # Hz: cutoff of the speed estimate

    def __post_init__(self) -> None:
        if not (self.min_cutoff > 0 and self.d_cutoff > 0 and self.beta >= 0):
            raise ValueError(
                f"expected min_cutoff > 0, d_cutoff > 0, beta >= 0, got {self.min_cutoff}, {self.d_cutoff}, {self.beta}"
            )


def _alpha(cutoff: torch.Tensor | float, dt: float) -> torch.Tensor | float:
    """Smoothing factor of a first-order low-pass filter at ``cutoff`` Hz for a step of ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def one_euro_step(
    x: torch.Tensor, dt: float, x_prev: torch.Tensor, dx_prev: torch.Tensor, config: OneEuroConfig
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the filter: ``(x_hat, dx_hat)`` from the new sample ``x`` taken ``dt`` s after the last.

    Args:
        x: the new sample, any shape (e.g. ``(5, 2)`` landmarks in pixels).
        dt: seconds since the previous sample, > 0.
        x_prev: the previous filtered value, shape of ``x``.
        dx_prev: the previous filtered speed (units per second), shape of ``x``.
        config: the filter's :class:`OneEuroConfig`.
    """
    if not dt > 0:
        raise ValueError(f"dt must be > 0 (samples in increasing time), got {dt}")
    a_d = _alpha(config.d_cutoff, dt)
    dx = a_d * (x - x_prev) / dt + (1.0 - a_d) * dx_prev
    a = _alpha(config.min_cutoff + config.beta * dx.abs(), dt)
    return a * x + (1.0 - a) * x_prev, dx


def one_euro_filter(signal: torch.Tensor, times: torch.Tensor, config: OneEuroConfig = OneEuroConfig()) -> torch.Tensor:
    """Filter a sampled signal with the One-Euro filter.

    Args:
        signal: ``(T, ...)`` samples (each coordinate filtered on its own).
        times: ``(T,)`` sample times in seconds, strictly increasing.
        config: filter parameters.

    Returns:
        ``(T, ...)`` filtered signal, float; the first sample passes unchanged.

    Example:
        >>> t = torch.arange(30) / 30.0
        >>> one_euro_filter(torch.ones(30, 5, 2), t).shape
        torch.Size([30, 5, 2])
    """
    if not isinstance(signal, torch.Tensor) or signal.ndim < 1:
        raise ValueError(f"signal: expected a (T, ...) tensor, got {type(signal).__name__}")
    times = torch.as_tensor(times, dtype=torch.float64)
    if times.shape != signal.shape[:1]:
        raise ValueError(f"times: expected ({signal.shape[0]},), got {tuple(times.shape)}")
    filt = OneEuroFilter(config)
    return torch.stack([filt(x, float(t)) for x, t in zip(signal, times)]) if len(signal) else signal.float()


class OneEuroFilter:
    """The One-Euro filter with its state, fed one sample at a time (see :func:`one_euro_filter`).

    Args:
        config: filter parameters.

    Example:
        >>> f = OneEuroFilter()
        >>> smooth = [f(torch.tensor([1.0, 2.0]), t / 30.0) for t in range(3)]
    """

    def __init__(self, config: OneEuroConfig = OneEuroConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next sample passes unchanged (a face lost and found again)."""
        self._x: torch.Tensor | None = None
        self._dx: torch.Tensor | None = None
        self._t: float | None = None

    def __call__(self, x: torch.Tensor, t: float) -> torch.Tensor:
        """The filtered value of sample ``x`` taken at time ``t`` seconds (later than the last sample)."""
        x = x.detach().to(torch.float32)
        if self._x is None:
            self._x, self._dx = x.clone(), torch.zeros_like(x)
        else:
            if x.shape != self._x.shape:
                raise ValueError(f"expected a sample of shape {tuple(self._x.shape)}, got {tuple(x.shape)}")
            self._x, self._dx = one_euro_step(x, t - self._t, self._x, self._dx, self.config)
        self._t = float(t)
        return self._x.clone()


__all__ = ["OneEuroConfig", "OneEuroFilter", "one_euro_filter", "one_euro_step"]
