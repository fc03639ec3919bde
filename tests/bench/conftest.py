"""Shared fixtures of the speed benchmarks' tests: LFW photos and a quickly learned real key."""

import pytest
import torch

from p3mask.bench.learn import lfw_user_photos
from p3mask.bench.machine import thread_count
from p3mask.protect.config import get_config
from p3mask.protect.learning import learn

QUICK_TEAM = ("mobilefacenet", "mobileface")  # the two fastest recognisers: a real key in a few seconds


@pytest.fixture(scope="session")
def lfw_user():
    """``(user, photos)`` of the benchmarks' default LFW identity (its tests are marked `data`)."""
    return lfw_user_photos()


@pytest.fixture(scope="session")
def quick_key_file(lfw_user, tmp_path_factory):
    """A real key for the default user: 4 photos, 1 epoch, fixed two-model team, one thread."""
    user, photos = lfw_user
    with thread_count(1):
        torch.manual_seed(0)
        result = learn(photos[:4], get_config("mid", epochs=1, team=QUICK_TEAM), user=user, device="cpu",
                       progress=False)
    return result.key.save(tmp_path_factory.mktemp("key") / f"{user}.p3m")
