"""The one photo check: the words of each refusal, and what it lets through."""

import pytest
import torch

from p3mask.checks import check_photo


def test_accepts_a_photo_and_names_the_argument_in_each_refusal():
    check_photo(torch.rand(3, 4, 5))
    check_photo(torch.rand(3, 4, 5, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"^photo 3: expected a torch.Tensor, got ndarray"):
        check_photo(torch.rand(3, 4, 5).numpy(), "photo 3")
    with pytest.raises(TypeError, match=r"^image: expected a float tensor in \[0,1\], got dtype torch.uint8"):
        check_photo(torch.zeros(3, 4, 5, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"^x: expected \(3,H,W\) RGB in \[0,1\], got \(1, 3, 4, 5\)"):
        check_photo(torch.rand(1, 3, 4, 5), "x")
    with pytest.raises(ValueError, match=r"expected \(3,H,W\)"):
        check_photo(torch.rand(4, 4, 5))


def test_range_is_checked_unless_asked_not_to_with_round_off_tolerance():
    high = torch.full((3, 2, 2), 1.00005)
    with pytest.raises(ValueError, match=r"expected values in \[0,1\], got \[1, 1\]"):
        check_photo(high)
    check_photo(high, tolerance=1e-4)
    check_photo(torch.full((3, 2, 2), -3.0), in_range=False)
    nan = torch.rand(3, 2, 2)
    nan[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        check_photo(nan)
    check_photo(torch.zeros(3, 0, 0), min_side=0)


def test_min_side():
    check_photo(torch.rand(3, 2, 2), min_side=2)
    with pytest.raises(ValueError, match="at least 2x2"):
        check_photo(torch.rand(3, 1, 5), min_side=2)
    with pytest.raises(ValueError, match="at least 1x1"):
        check_photo(torch.rand(3, 0, 5))
