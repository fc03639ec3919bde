"""Distances from feature vectors to a person's feature subspace, as OPOM models it.

OPOM (Zhong & Deng, "OPOM: Customized Invisible Cloak towards Face Privacy Protection", TPAMI 2022)
approximates the subspace of a person's face features by one of:

* the **class centre**: the mean ``mu`` of the person's features; distance ``|z - mu|``;
* the **affine hull** ``{sum_i w_i a_i : sum_i w_i = 1}`` of the features ``a_i``: the distance is the
  norm of the component of ``z - mu`` orthogonal to ``span{a_i - mu}`` (an orthonormal basis comes from
  the SVD of the centred features; directions with singular value below ``rtol`` x the largest are
  dropped, so duplicated features do not make the projection ill-conditioned);
* the **convex hull** ``{sum_i w_i a_i : w_i >= 0, sum_i w_i = 1}``: the nearest point is found by
  projected gradient descent on the simplex (accelerated, FISTA), and the distance is ``|z - A^T w*|``
  with ``w*`` held fixed, whose gradient in ``z`` is the true gradient of the distance (Danskin's
  theorem), so the optimiser can back-propagate through it.

All functions take ``z`` as ``(B, D)`` and the person's features as ``(N, D)`` and return ``(B,)``.

Example:
    >>> import torch
    >>> pts = torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    >>> float(affine_hull_distance(torch.tensor([[5.0, 5.0, 2.0]]), pts)[0])
    2.0
    >>> round(float(convex_hull_distance(torch.tensor([[2.0, 2.0, 0.0]]), pts)[0]), 4)
    2.1213
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from p3mask.registries import entry


def _check(z: torch.Tensor, points: torch.Tensor) -> None:
    for name, t in (("z", z), ("points", points)):
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            raise TypeError(f"{name}: expected a float torch.Tensor, got {type(t).__name__}")
    if z.ndim != 2 or points.ndim != 2 or z.shape[1] != points.shape[1] or points.shape[0] < 1:
        raise ValueError(f"expected z (B, D) and points (N>=1, D), got {tuple(z.shape)} and {tuple(points.shape)}")


def center_distance(z: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Distance of each row of ``z`` ``(B, D)`` to the mean of ``points`` ``(N, D)``; ``(B,)``."""
    _check(z, points)
    return (z - points.mean(dim=0)).norm(dim=1)


def affine_basis(points: torch.Tensor, rtol: float = 1e-5) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and orthonormal basis ``(D, k)`` of the affine hull of ``points`` ``(N, D)``.

    ``k <= N - 1``; singular directions below ``rtol`` x the largest singular value are dropped.
    """
    mean = points.mean(dim=0)
    centred = points - mean
    if points.shape[0] < 2:
        return mean, points.new_zeros(points.shape[1], 0)
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    keep = s > rtol * s.max().clamp_min(torch.finfo(points.dtype).tiny)
    return mean, vh[keep].T


def affine_hull_distance(z: torch.Tensor, points: torch.Tensor, rtol: float = 1e-5) -> torch.Tensor:
    """Distance of each row of ``z`` ``(B, D)`` to the affine hull of ``points`` ``(N, D)``; ``(B,)``.

    Differentiable in ``z``; ``points`` are treated as constants (pass detached features).
    """
    _check(z, points)
    mean, basis = affine_basis(points.detach().to(z.dtype), rtol)
    r = z - mean
    return (r - (r @ basis) @ basis.T).norm(dim=1)


def project_simplex(v: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row of ``v`` ``(B, N)`` onto the probability simplex.

    Sort-based algorithm (Held, Wolfe & Crowder 1974; Duchi et al., ICML 2008).
    """
    n = v.shape[1]
    u = v.sort(dim=1, descending=True).values
    css = u.cumsum(dim=1) - 1.0
    k = torch.arange(1, n + 1, device=v.device, dtype=v.dtype)
    rho = ((u - css / k) > 0).to(v.dtype).mul(k).argmax(dim=1, keepdim=True)  # last index that stays positive
    theta = css.gather(1, rho) / (rho + 1).to(v.dtype)
    return (v - theta).clamp_min(0.0)


@torch.no_grad()
def convex_weights(z: torch.Tensor, points: torch.Tensor, iters: int = 200) -> torch.Tensor:
    """Simplex weights ``(B, N)`` of the point of conv(``points``) nearest each row of ``z``.

    Minimises ``|z - w A|^2`` over the simplex by accelerated projected gradient (FISTA) with step
    ``1 / L``, ``L = 2 * sigma_max(A)^2``.
    """
    a = points.to(z.dtype)
    gram = a @ a.T  # (N, N)
    lipschitz = 2.0 * torch.linalg.eigvalsh(gram).max().clamp_min(1e-12)
    za = z @ a.T  # (B, N)
    w = torch.full((z.shape[0], a.shape[0]), 1.0 / a.shape[0], dtype=z.dtype, device=z.device)
    y, t = w.clone(), 1.0
    for _ in range(iters):
        grad = 2.0 * (y @ gram - za)
        w_next = project_simplex(y - grad / lipschitz)
        t_next = (1.0 + (1.0 + 4.0 * t * t) ** 0.5) / 2.0
        y = w_next + ((t - 1.0) / t_next) * (w_next - w)
        w, t = w_next, t_next
    return w


def convex_hull_distance(z: torch.Tensor, points: torch.Tensor, iters: int = 200) -> torch.Tensor:
    """Distance of each row of ``z`` ``(B, D)`` to the convex hull of ``points`` ``(N, D)``; ``(B,)``.

    Differentiable in ``z`` (the nearest-point weights are held fixed, see the module docstring).
    """
    _check(z, points)
    a = points.detach().to(z.dtype)
    w = convex_weights(z.detach(), a, iters)
    return (z - w @ a).norm(dim=1)


# The subspace models OPOM studies: name -> distance of z (B, D) to the hull of points (N, D).
HULLS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "affine": affine_hull_distance, "convex": convex_hull_distance, "center": center_distance,
}


def hull_distance(z: torch.Tensor, points: torch.Tensor, hull: str = "affine") -> torch.Tensor:
    """Distance of ``z`` ``(B, D)`` to the subspace of ``points`` ``(N, D)`` modelled by ``hull``.

    Args:
        hull: ``"affine"`` (default), ``"convex"`` or ``"center"``.
    """
    return entry(HULLS, hull, "hull")(z, points)
