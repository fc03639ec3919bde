import pytest

from p3mask.quality.context import face_in_context


def test_inside_the_photo():
    # 40 x 60 box centred at (60, 80): a 120-pixel square, x from 0 to 120, y from 20 to 140
    assert face_in_context((40, 50, 80, 110), height=250, width=250) == (20, 140, 0, 120)
    assert face_in_context((100, 100, 150, 150), height=250, width=250) == (75, 175, 75, 175)


def test_fractional_box_rounds_outwards():
    assert face_in_context((100.5, 100.5, 149.5, 149.5), height=250, width=250) == (76, 174, 76, 174)


def test_clipped_at_every_edge():
    assert face_in_context((0, 0, 30, 30), height=100, width=100) == (0, 45, 0, 45)
    assert face_in_context((80, 70, 100, 100), height=100, width=100) == (55, 100, 60, 100)
    assert face_in_context((-10, -10, 200, 200), height=100, width=100) == (0, 100, 0, 100)


def test_non_square_photo_and_scale():
    assert face_in_context((10, 10, 20, 30), height=40, width=200, scale=1.0) == (10, 30, 5, 25)


@pytest.mark.parametrize(
    "box, match",
    [((10, 10, 10, 20), "x1 < x2"), ((0, 0, 1), "x1, y1, x2, y2"), ((300, 300, 320, 320), "outside")],
)
def test_bad_boxes(box, match):
    with pytest.raises(ValueError, match=match):
        face_in_context(box, height=100, width=100)
