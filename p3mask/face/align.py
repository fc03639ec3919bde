"""Five-point face alignment and its inverse, as differentiable warps.

A face is aligned by the similarity transform (rotation, uniform scale, translation) that maps
its five landmarks onto a template in least squares (Umeyama, "Least-squares estimation of
transformation parameters between two point patterns", TPAMI 1991). The crop is sampled with
``F.grid_sample`` so gradients flow back to the photo, and :func:`paste_from_crop` maps a crop
(for example a protection mask in the aligned frame) back into photo pixels.

All coordinates follow ``cv2.warpAffine``: the centre of pixel ``(row i, column j)`` is the point
``(x=j, y=i)``; a matrix ``M`` (2x3) maps photo points to crop points, ``crop(p) = photo(M^-1 p)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from p3mask.checks import check_photo


def _check_points(name: str, pts: torch.Tensor, ndims: tuple[int, ...]) -> None:
    if not isinstance(pts, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(pts).__name__}")
    if pts.ndim not in ndims or pts.shape[-1] != 2:
        want = " or ".join("(" + ",".join(["N", "K", "2"][-d:]) + ")" for d in ndims)
        raise ValueError(f"{name}: expected {want} points, got {tuple(pts.shape)}")


def estimate_similarity(src: torch.Tensor, dst: torch.Tensor) -> torch.Tensor:
    """Least-squares similarity transforms mapping ``src`` points onto ``dst`` points.

    For two dimensions Umeyama's solution (rotation without reflection, uniform scale,
    translation) has the closed form ``A = [[a, -b], [b, a]]`` with
    ``a = sum(s . d) / sum|s|^2`` and ``b = sum(s x d) / sum|s|^2`` over centred points, which
    is what is computed here (differentiable, no SVD).

    Args:
        src: ``(N, K, 2)`` points ``(x, y)`` in pixels, ``K >= 2`` (5 landmarks for faces).
        dst: ``(K, 2)`` shared target points or ``(N, K, 2)``.

    Returns:
        ``(N, 2, 3)`` matrices ``M`` with ``dst ~= M @ [x, y, 1]``, in ``src``'s dtype.

    Raises:
        ValueError: bad shapes, or all ``src`` points of a set coincide.
    """
    _check_points("src", src, (3,))
    _check_points("dst", dst, (2, 3))
    if not src.is_floating_point():
        raise TypeError(f"src: expected a float tensor, got dtype {src.dtype}")
    dst = dst.to(src.device, src.dtype)
    if dst.ndim == 2:
        dst = dst.expand(src.shape[0], -1, -1)
    if dst.shape != src.shape or src.shape[1] < 2:
        raise ValueError(f"expected src and dst with the same K >= 2 points, got {tuple(src.shape)} and "
                         f"{tuple(dst.shape)}")
    mu_s, mu_d = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
    s, d = src - mu_s, dst - mu_d
    spread = (s * s).sum((1, 2))
    if src.shape[0] and bool((spread <= 1e-12 * (1 + mu_s.abs().amax((1, 2)) ** 2)).any()):
        raise ValueError("src: all points of a set coincide; no transform is defined")
    a = (s * d).sum((1, 2)) / spread
    b = (s[..., 0] * d[..., 1] - s[..., 1] * d[..., 0]).sum(1) / spread
    linear = torch.stack([torch.stack([a, -b], -1), torch.stack([b, a], -1)], 1)  # (N, 2, 2)
    shift = mu_d.transpose(1, 2) - linear @ mu_s.transpose(1, 2)  # (N, 2, 1)
    return torch.cat([linear, shift], 2)


def _homogeneous(m: torch.Tensor) -> torch.Tensor:
    """``(B, 2, 3)`` -> ``(B, 3, 3)`` with last row ``0, 0, 1``."""
    row = torch.zeros_like(m[:, :1, :])
    row[:, 0, 2] = 1
    return torch.cat([m, row], 1)


def invert_affine(m: torch.Tensor) -> torch.Tensor:
    """Inverse of ``(B, 2, 3)`` affine matrices (differentiable)."""
    inv = torch.linalg.inv(m[:, :, :2])
    return torch.cat([inv, -inv @ m[:, :, 2:]], 2)


def _to_normalized(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """``(3, 3)`` map from pixel coords to ``grid_sample`` coords (``align_corners=False``)."""
    return torch.tensor(
        [[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]],
        dtype=like.dtype, device=like.device,
    )


def _sample(src: torch.Tensor, out_to_src: torch.Tensor, out_hw: tuple[int, int], padding: str) -> torch.Tensor:
    """Bilinear ``out(p) = src(out_to_src @ p)`` for pixel-coordinate affines ``(B, 2, 3)``."""
    h_in, w_in = src.shape[-2:]
    h, w = out_hw
    theta = _to_normalized(h_in, w_in, src) @ _homogeneous(out_to_src) @ torch.linalg.inv(
        _to_normalized(h, w, src)
    )
    grid = F.affine_grid(theta[:, :2], [src.shape[0], src.shape[1], h, w], align_corners=False)
    return F.grid_sample(src, grid, mode="bilinear", padding_mode=padding, align_corners=False)


def _check_warp_args(x: torch.Tensor, matrices: torch.Tensor, size: Sequence[int], name: str) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or not isinstance(matrices, torch.Tensor):
        raise TypeError(f"expected torch.Tensors, got {type(x).__name__} and {type(matrices).__name__}")
    if not x.is_floating_point() or x.ndim != 4:
        raise ValueError(f"{name}: expected a float (B,C,H,W) tensor, got {tuple(x.shape)} {x.dtype}")
    if matrices.ndim != 3 or matrices.shape[1:] != (2, 3):
        raise ValueError(f"matrices: expected (B,2,3), got {tuple(matrices.shape)}")
    if len(size) != 2 or min(int(s) for s in size) < 1:
        raise ValueError(f"size: expected (h, w) positive, got {tuple(size)}")
    return int(size[0]), int(size[1])


def warp_to_crop(
    images: torch.Tensor,
    matrices: torch.Tensor,
    size: Sequence[int],
    image_index: torch.Tensor | None = None,
) -> torch.Tensor:
    """Sample aligned crops from photos (bilinear, zeros outside; like ``cv2.warpAffine``).

    Args:
        images: ``(B, 3, H, W)`` float RGB in [0, 1] (any channel count works).
        matrices: ``(B', 2, 3)`` photo -> crop pixel affines.
        size: crop ``(h, w)``.
        image_index: optional ``(B',)`` long tensor: crop ``i`` comes from ``images[image_index[i]]``
            (several faces of one photo without repeating it); default: ``B' == B``, one each.

    Returns:
        ``(B', 3, h, w)`` crops, differentiable w.r.t. ``images`` and ``matrices``.
    """
    h, w = _check_warp_args(images, matrices, size, "images")
    if image_index is not None:
        images = images.index_select(0, image_index.to(images.device, torch.long))
    if images.shape[0] != matrices.shape[0]:
        raise ValueError(f"expected one matrix per image, got {images.shape[0]} images, {matrices.shape[0]} matrices")
    m = matrices.to(images.device, images.dtype)
    return _sample(images, invert_affine(m), (h, w), "zeros")


def _paste_window(
    m_inv: torch.Tensor, crop_hw: tuple[int, int], photo_hw: tuple[int, int]
) -> tuple[int, int, int, int]:
    """Photo rows/cols ``(y0, y1, x0, x1)`` that the crops (plus a 1-pixel border) can reach."""
    h, w = crop_hw
    corners = torch.tensor([[-1.0, -1.0, w, w], [-1.0, h, -1.0, h], [1.0, 1.0, 1.0, 1.0]], dtype=m_inv.dtype)
    pts = m_inv.detach().cpu() @ corners  # (B, 2, 4)
    lo = pts.amin((0, 2)).floor() - 1
    hi = pts.amax((0, 2)).ceil() + 2
    big_h, big_w = photo_hw
    x0, y0 = int(lo[0].clamp(0, big_w)), int(lo[1].clamp(0, big_h))
    x1, y1 = int(hi[0].clamp(0, big_w)), int(hi[1].clamp(0, big_h))
    return y0, y1, x0, x1


def paste_from_crop(
    crops: torch.Tensor, matrices: torch.Tensor, size: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Warp crops back into photo pixels: the inverse of :func:`warp_to_crop`.

    Composite with ``photo * (1 - weight) + pasted * weight``.

    Args:
        crops: ``(B, C, h, w)`` float tensors in the aligned frame (crops, masks, perturbations).
        matrices: ``(B, 2, 3)`` photo -> crop pixel affines (as returned by :func:`align_faces`).
        size: photo ``(H, W)``.

    Returns:
        ``(pasted, weight)``: ``(B, C, H, W)`` crop content in photo pixels (0 where the crop does
        not reach) and ``(B, 1, H, W)`` coverage in [0, 1]: 1 inside the warped crop, 0 outside,
        a bilinear ramp one crop pixel wide at its edge. Both differentiable.
    """
    big_h, big_w = _check_warp_args(crops, matrices, size, "crops")
    if crops.shape[0] != matrices.shape[0]:
        raise ValueError(f"expected one matrix per crop, got {crops.shape[0]} crops, {matrices.shape[0]} matrices")
    m = matrices.to(crops.device, crops.dtype)
    crop_hw = (crops.shape[-2], crops.shape[-1])
    b = crops.shape[0]
    pasted = crops.new_zeros(b, crops.shape[1], big_h, big_w)
    weight = crops.new_zeros(b, 1, big_h, big_w)
    if b == 0:
        return pasted, weight
    y0, y1, x0, x1 = _paste_window(invert_affine(m), crop_hw, (big_h, big_w))
    if y1 <= y0 or x1 <= x0:
        return pasted, weight
    # Only the window the crops can reach is sampled (cheap on large photos), then padded.
    shift = torch.tensor([[1.0, 0.0, x0], [0.0, 1.0, y0]], dtype=m.dtype, device=m.device)
    window_to_crop = m @ _homogeneous(shift.expand(b, 2, 3))
    content = _sample(crops, window_to_crop, (y1 - y0, x1 - x0), "border")
    cover = _sample(crops.new_ones(b, 1, *crop_hw), window_to_crop, (y1 - y0, x1 - x0), "zeros")
    content = content * (cover > 0)
    pad = (x0, big_w - x1, y0, big_h - y1)
    return F.pad(content, pad), F.pad(cover, pad)


def _as_template(template: Sequence[Sequence[float]] | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(template, dtype=like.dtype, device=like.device)
    if t.ndim != 2 or t.shape[1] != 2:
        raise ValueError(f"template: expected (K,2) points, got {tuple(t.shape)}")
    return t


def _antialiased_crops(image: torch.Tensor, matrices: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crops where faces shrunk more than 2x come from a box-filtered copy of the photo.

    A face with photo->crop scale ``s < 1/2`` is sampled from the photo average-pooled by
    ``k = floor(1/s)``, leaving a bilinear step of scale ``s * k`` in (1/2, 1]; the matrix is
    adjusted for the pooled pixel centres (``x = k * x' + (k - 1) / 2``).
    """
    scale = torch.linalg.det(matrices[:, :, :2].detach()).abs().sqrt()
    factors = torch.floor(1.0 / scale.clamp(min=1e-6)).clamp(min=1).long()
    crops = image.new_zeros(matrices.shape[0], image.shape[0], *size)
    for k in sorted(set(factors.tolist())):
        sel = (factors == k).nonzero().flatten()
        src = image[None]
        m = matrices[sel]
        if k > 1:
            src = F.avg_pool2d(src, k, k, ceil_mode=True)
            offset = (k - 1) / 2
            pooled_to_photo = torch.tensor([[k, 0.0, offset], [0.0, k, offset]], dtype=m.dtype, device=m.device)
            m = m @ _homogeneous(pooled_to_photo.expand(len(sel), 2, 3))
        crops = crops.index_copy(0, sel.to(crops.device), warp_to_crop(src.expand(len(sel), -1, -1, -1), m, size))
    return crops


def align_faces(
    image: torch.Tensor,
    landmarks: torch.Tensor,
    template: Sequence[Sequence[float]] | torch.Tensor,
    size: Sequence[int],
    antialias: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned crops of every face in one photo.

    Args:
        image: ``(3, H, W)`` float RGB in [0, 1].
        landmarks: ``(N, 5, 2)`` detected landmarks ``(x, y)`` in photo pixels.
        template: 5 reference points ``(x, y)`` in crop pixels, same order as the landmarks
            (e.g. :data:`p3mask.models.base.ARCFACE_112`).
        size: crop ``(h, w)``.
        antialias: box-filter the photo before sampling faces shrunk more than 2x (default
            ``True``); ``False`` is plain bilinear, exactly ``cv2.warpAffine``.

    Returns:
        ``(crops, matrices)``: ``(N, 3, h, w)`` crops (differentiable w.r.t. ``image``) and
        ``(N, 2, 3)`` photo -> crop matrices for :func:`paste_from_crop`.

    Example:
        >>> crops, m = align_faces(img, faces.landmarks, ARCFACE_112, (112, 112))  # doctest: +SKIP
    """
    check_photo(image, in_range=False)
    _check_points("landmarks", landmarks, (3,))
    h, w = int(size[0]), int(size[1])
    tmpl = _as_template(template, image)
    if landmarks.shape[0] == 0:
        return image.new_zeros(0, 3, h, w), image.new_zeros(0, 2, 3)
    matrices = estimate_similarity(landmarks.to(image.device, image.dtype), tmpl)
    if antialias:
        return _antialiased_crops(image, matrices, (h, w)), matrices
    batch = image[None].expand(matrices.shape[0], -1, -1, -1)
    return warp_to_crop(batch, matrices, (h, w)), matrices


class FaceAligner(nn.Module):
    """Module form of :func:`align_faces`, storing the template and crop size.

    Args:
        template: 5 reference points ``(x, y)`` in crop pixels.
        size: crop ``(h, w)``.
        antialias: see :func:`align_faces` (default ``True``).

    Example:
        >>> aligner = FaceAligner(ARCFACE_112, (112, 112))  # doctest: +SKIP
        >>> crops, matrices = aligner(image, detections.landmarks)  # doctest: +SKIP
        >>> pasted, weight = aligner.paste(crops, matrices, image.shape[-2:])  # doctest: +SKIP
    """

    def __init__(
        self, template: Sequence[Sequence[float]] | torch.Tensor, size: Sequence[int], antialias: bool = True
    ) -> None:
        super().__init__()
        self.register_buffer("template", _as_template(template, torch.zeros(0)), persistent=False)
        self.size = (int(size[0]), int(size[1]))
        self.antialias = bool(antialias)

    def extra_repr(self) -> str:
        return f"size={self.size}, antialias={self.antialias}"

    def forward(self, image: torch.Tensor, landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(3, H, W)`` photo and ``(N, 5, 2)`` landmarks -> ``(N, 3, h, w)`` crops, ``(N, 2, 3)`` matrices."""
        return align_faces(image, landmarks, self.template, self.size, self.antialias)

    @staticmethod
    def paste(crops: torch.Tensor, matrices: torch.Tensor, size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """:func:`paste_from_crop`: crops back into a photo of ``size`` ``(H, W)``."""
        return paste_from_crop(crops, matrices, size)


__all__ = ["FaceAligner", "align_faces", "estimate_similarity", "invert_affine", "paste_from_crop", "warp_to_crop"]
