"""What a timing depends on: thread counts and how busy the machine was, recorded beside each figure."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import torch


@contextmanager
def thread_count(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` threads in torch and in OpenCV (YuNet), then restore both.

    ``None`` leaves the libraries' defaults alone.

    Raises:
        ValueError: ``threads`` is not a positive integer.
    """
    if threads is None:
        yield
        return
    if int(threads) < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    before = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(int(threads))
    cv2.setNumThreads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def machine_info() -> dict:
    """Cores, load average (1, 5, 15 min), thread counts and library versions, as plain JSON values."""
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "load_average": load,
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "torch_version": torch.__version__,
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }
