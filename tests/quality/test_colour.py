"""CIEDE2000 against the 34 published test pairs of Sharma, Wu and Dalal (2005), Table 1."""

import pytest
import torch

from p3mask.quality.colour import blur3, ciede2000, colour_report, srgb_to_lab

# (L1, a1, b1, L2, a2, b2, dE00) -- Sharma et al. 2005, Table 1
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_sharma_pairs():
    table = torch.tensor(SHARMA, dtype=torch.float64)
    got = ciede2000(table[:, 0:3], table[:, 3:6])
    torch.testing.assert_close(got, table[:, 6], rtol=0, atol=1e-4)
    torch.testing.assert_close(ciede2000(table[:, 3:6], table[:, 0:3]), got, rtol=0, atol=1e-10)  # symmetric


def test_lab_of_known_colours():
    rgb = torch.tensor([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    lab = srgb_to_lab(rgb.view(4, 3, 1, 1)).view(4, 3)
    expected = torch.tensor([[100.0, 0.0, 0.0], [0.0, 0.0, 0.0], [53.24, 80.09, 67.20], [32.30, 79.19, -107.86]],
                            dtype=torch.float64)
    torch.testing.assert_close(lab, expected, rtol=0, atol=0.02)


def test_identical_zero_and_report():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 20, 30, generator=g)
    assert float(ciede2000(srgb_to_lab(x), srgb_to_lab(x)).max()) == 0.0
    report = colour_report(x, x)
    assert (report.mean_de00, report.share_over_3, report.pixels) == (0.0, 0.0, 600)


def test_report_region_and_threshold():
    x = torch.full((1, 3, 20, 20), 0.5)
    y = x.clone()
    y[:, 0, :, 10:] += 0.1  # a clear red cast on the right half
    right = colour_report(x, y, region=(0, 20, 12, 20))  # away from the blurred seam
    left = colour_report(x, y, region=(0, 20, 0, 8))
    assert right.share_over_3 == 1.0 and right.mean_de00 > 3.0 and right.pixels == 160
    assert left.share_over_3 == 0.0 and left.mean_de00 == 0.0
    with pytest.raises(ValueError, match="outside"):
        colour_report(x, y, region=(0, 21, 0, 5))


def test_blur3_is_a_box_mean():
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 2, 2] = 9.0
    out = blur3(x)
    assert torch.equal(out[0, 0, 1:4, 1:4], torch.ones(3, 3)) and float(out.sum()) == 9.0


def test_bad_shapes():
    with pytest.raises(ValueError, match="Lab"):
        ciede2000(torch.zeros(2, 3), torch.zeros(3, 3))
    with pytest.raises(ValueError, match=r"\(B,3,H,W\)"):
        srgb_to_lab(torch.zeros(3, 4, 4))
