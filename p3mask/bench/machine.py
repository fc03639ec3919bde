"""What a timing depends on: thread counts and how busy the machine was, recorded beside each figure."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import torch
import torch.nn.functional as F


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


def cpu_model() -> str | None:
    """The CPU's model as Linux reports it (``model name``, and family/model numbers, which tell apart
    generations a virtual machine names alike); None elsewhere."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/cpuinfo").read_text().splitlines() if ":" in line)
    except OSError:
        return None
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    if "model name" not in fields:
        return None
    family, model = fields.get("cpu family"), fields.get("model")
    return fields["model name"] + (f" (family {family}, model {model})" if family and model else "")


def machine_info() -> dict:
    """Cores, CPU model, load average (1, 5, 15 min), thread counts and library versions, as plain JSON values."""
    load = [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "load_average": load,
        "torch_threads": torch.get_num_threads(),
        "opencv_threads": cv2.getNumThreads(),
        "torch_version": torch.__version__,
        "cuda_device": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
    }


def _best_gflops(run: Callable[[], object], flops: float, repeat: int) -> float:
    run()  # warm-up (oneDNN picks its kernels on the first call)
    best = float("inf")
    for _ in range(repeat):
        tic = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - tic)
    return flops / best / 1e9


@torch.no_grad()
def peak_gflops(device: str | torch.device = "cpu", repeat: int = 5) -> dict:
    """The machine's own float32 peak with the current thread count, from two micro-benchmarks (best of
    ``repeat``): a 1024 x 1024 matmul, and a 3x3 convolution of 64 to 64 channels on a batch of 8 56 x 56
    maps (the shape of a recogniser's middle layers). A benchmark's GFLOP/s over these is a ratio that
    holds on any machine.

    Returns:
        ``{"matmul": GFLOP/s, "conv": GFLOP/s}``.
    """
    a = torch.rand(1024, 1024, device=device)
    x, w = torch.rand(8, 64, 56, 56, device=device), torch.rand(64, 64, 3, 3, device=device)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    matmul = _best_gflops(lambda: (a @ a, sync()), 2.0 * 1024 ** 3, repeat)
    conv = _best_gflops(lambda: (F.conv2d(x, w, padding=1), sync()), 2.0 * 8 * 64 * 64 * 9 * 56 * 56, repeat)
    return {"matmul": matmul, "conv": conv}
