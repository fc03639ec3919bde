"""Which of a user's several masks a photo takes (``p3mask evaluate --masks K``)."""

from pathlib import Path

import pytest
import torch

from p3mask.evaluate.runner import EvalConfig
from p3mask.evaluate.users import ProtectedPhoto, UserCase, mask_for


def _photo(mask: int) -> ProtectedPhoto:
    image = torch.zeros(3, 4, 4)
    return ProtectedPhoto(Path("x.jpg"), 0, image, image, torch.zeros(5, 2), 1.0, mask=mask)


def test_mask_for_is_fixed_by_the_bytes(tmp_path):
    paths = []
    for i in range(60):
        path = tmp_path / f"photo_{i}.jpg"
        path.write_bytes(f"photo bytes {i}".encode())
        paths.append(path)
    chosen = [mask_for(p, 3) for p in paths]
    assert chosen == [mask_for(p, 3) for p in paths]  # same photo, same mask
    assert set(chosen) == {0, 1, 2}  # 60 photos reach every mask
    assert max(chosen.count(k) for k in range(3)) <= 30
    copy = tmp_path / "renamed.jpg"
    copy.write_bytes(paths[7].read_bytes())
    assert mask_for(copy, 3) == chosen[7]  # the content decides, not the name
    assert all(mask_for(p, 1) == 0 for p in paths)


def test_key_of_returns_the_key_that_protected_the_photo():
    keys = ["key0", "key1", "key2"]  # stand-ins: key_of only indexes
    case = UserCase(0, "user", 0, keys[0], 0.0, keys=keys)
    assert [case.key_of(_photo(k)) for k in range(3)] == keys
    assert UserCase(0, "user", 0, "only", 0.0).key_of(_photo(0)) == "only"


def test_masks_must_be_positive():
    with pytest.raises(ValueError, match="masks must be >= 1"):
        EvalConfig(masks=0)
