"""Shared material of the video tests: clips made at test time, and keys."""

import pytest
import torch
from video_clips import grey_frames

from p3mask.models.base import ARCFACE_112
from p3mask.models.thresholds import match_threshold
from p3mask.protect.key import P3Mask
from p3mask.video.synthetic import write_clip


@pytest.fixture(autouse=True)
def _one_thread(request):
    """Small clips: one torch thread avoids oversubscription on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def stranger_key():
    """A key whose reference is random (cosine near 0 with every real face): every face is a stranger's."""
    g = torch.Generator().manual_seed(0)
    ref = torch.nn.functional.normalize(torch.randn(192, generator=g), dim=0)
    mask = (torch.rand(3, 112, 112, generator=g) * 2 - 1) * 0.05  # a real change: keys with a zero mask are refused
    return P3Mask(mask=mask, epsilon=0.05, frame_size=(112, 112), template=ARCFACE_112,
                  team=("mobileface",), quality_floor=70.0, quality_min=100.0, quality_mean=100.0, preset="mid",
                  user="nobody", references={"mobilefacenet": ref}, match_model="mobilefacenet",
                  match_threshold=match_threshold("mobilefacenet"), photos=1)


@pytest.fixture()
def faceless_clip(tmp_path):
    """A 1 s 128x96 25 fps H.264 clip with an AAC tone and no face."""
    return write_clip(tmp_path / "in" / "still.mp4", grey_frames(25), fps=25)
