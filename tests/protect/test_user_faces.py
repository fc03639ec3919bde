"""Choosing the user's face by majority identity, on seeded embeddings."""

import pytest
import torch
import torch.nn.functional as F

from p3mask.protect.user_faces import choose_user_faces


def _ids(k: int, d: int = 16, seed: int = 0) -> torch.Tensor:
    return F.normalize(torch.randn(k, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def _noisy(v: torch.Tensor, seed: int, amount: float = 0.2) -> torch.Tensor:
    return F.normalize(v + amount * torch.randn(v.shape, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_majority_identity_wins_over_larger_strangers():
    user, s1, s2 = _ids(3)
    photos = [
        torch.stack([_noisy(s1, 1), _noisy(user, 2)]),  # a stranger's face is larger (listed first)
        _noisy(user, 3)[None],
        torch.stack([_noisy(s2, 4), _noisy(user, 5)]),
        _noisy(s1, 6)[None],  # only a stranger
        torch.zeros(0, 16),  # no face
    ]
    out = choose_user_faces(photos, threshold=0.5)
    assert out.indices == [1, 0, 1, None, None]
    assert float(out.reference @ user) > 0.9
    assert all(c >= 0.5 for c in out.cosines[:3])


def test_single_photo_takes_its_largest_face():
    user, other = _ids(2, seed=1)
    out = choose_user_faces([torch.stack([user, other])], threshold=0.5)
    assert out.indices == [0]


def test_rejects_no_faces_and_bad_shapes():
    with pytest.raises(ValueError):
        choose_user_faces([torch.zeros(0, 8), torch.zeros(0, 8)], threshold=0.5)
    with pytest.raises(ValueError):
        choose_user_faces([torch.zeros(1, 8), torch.zeros(1, 4)], threshold=0.5)
