"""``p3mask bench choice``: the pasting helpers on small tensors, and (slow) a small real run."""

import pytest
import torch

from p3mask.bench.choice import face_in_tile, run_choice_bench, side_by_side
from p3mask.cli.bench import choice_summary
from p3mask.face.detect import Detections


def test_side_by_side_pads_and_offsets():
    a, b = torch.rand(3, 4, 5), torch.rand(3, 2, 3)
    photo, offsets = side_by_side([a, b])
    assert photo.shape == (3, 4, 8) and offsets == [0, 5]
    assert torch.equal(photo[:, :, :5], a) and torch.equal(photo[:, :2, 5:], b) and not photo[:, 2:, 5:].any()


def test_face_in_tile_picks_the_face_centred_in_the_tile():
    boxes = torch.tensor([[10.0, 10, 40, 40], [60, 20, 90, 50], [110, 0, 120, 10], [260, 10, 290, 40]])
    dets = Detections(boxes, torch.zeros(4, 5, 2), torch.ones(4))
    assert face_in_tile(dets, 50, 100, 60) == 1  # the face at x 75 is nearer the tile centre (100, 30) than 115
    assert face_in_tile(dets, 0, 50, 60) == 0
    assert face_in_tile(dets, 150, 100, 60) is None


@pytest.mark.slow
@pytest.mark.data
@pytest.mark.weights
def test_small_run_counts_every_photo():
    r = run_choice_bench(users=2, others=1)
    for where in ("plain", "composite"):
        part = r[where]
        assert part["photos"] > 0
        assert part["failsafe.user_left"] <= part["strict.user_left"]  # fail-safe never leaves more users bare
        assert part["strict.strangers_masked"] <= part["failsafe.strangers_masked"] <= part["stranger_faces"]
    assert r["composite"]["stranger_faces"] > r["plain"]["stranger_faces"]  # the pasted strangers are found
    assert len(choice_summary(r)) == 5
