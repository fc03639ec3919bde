"""Helpers of the web page's tests: ``p3mask serve`` started as a user starts it (a subprocess), Debian's
chromium, LFW photos."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from p3mask.paths import data_root

ROOT = Path(__file__).resolve().parents[2]
URL_LINE = re.compile(r"p3mask page at (http://\S+)")
FOLDER_LINE = re.compile(r"working files in (\S+)")


@dataclass
class Server:
    url: str
    folder: Path
    process: subprocess.Popen
    log: Path | None = None  # its stderr (a file, so that a long log never blocks the server)
    stderr: str = ""  # what it wrote there, once stopped

    def stop(self, timeout: float = 30.0) -> str:
        """SIGINT (Ctrl+C), wait for the exit; returns what it printed after the address."""
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=timeout)
        if self.log is not None:
            self.stderr = self.log.read_text()
            self.log.unlink(missing_ok=True)
        return out


def start_server(*flags: str, timeout: float = 60.0) -> Server:
    """``python -m p3mask serve --no-browser FLAGS`` from this checkout; waits for its address."""
    log = Path(tempfile.mkstemp(prefix="p3mask-serve-", suffix=".log")[1])
    with open(log, "w") as err:
        process = subprocess.Popen([sys.executable, "-m", "p3mask", "serve", "--no-browser", *flags], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=err, text=True)
    url = folder = None
    deadline = time.monotonic() + timeout
    while (url is None or folder is None) and time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        url = url or (URL_LINE.search(line) and URL_LINE.search(line).group(1))
        folder = folder or (FOLDER_LINE.search(line) and FOLDER_LINE.search(line).group(1))
    if url is None or folder is None:
        process.kill()
        out, _ = process.communicate()
        pytest.fail(f"p3mask serve did not print its address: {out}{log.read_text()}")
    return Server(url, Path(folder), process, log=log)


def chromium_path() -> str | None:
    """Debian's chromium (scripts/setup.sh installs it as root), or ``$P3MASK_CHROMIUM``."""
    return os.environ.get("P3MASK_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def lfw_photos(name: str) -> list[Path]:
    folder = data_root() / "lfw" / name
    if not folder.is_dir():
        pytest.fail(f"LFW data missing: {folder} (set P3MASK_DATA)")
    return sorted(folder.glob("*.jpg"))
