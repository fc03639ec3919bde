"""Shared test settings for p3mask.protect."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_for_tiny_tensors(request):
    """Maths tests use tiny tensors: one thread avoids oversubscription on a busy 2-core machine.

    Slow tests (real models) keep the default thread count.
    """
    if "slow" in request.keywords:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
