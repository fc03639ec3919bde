"""Fixtures of the web page's tests: the server, Debian's chromium driven headless by Playwright, and a
folder for the screenshots each step saves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serve_helpers import chromium_path, start_server


@pytest.fixture(scope="session")
def browser():
    path = chromium_path()
    if path is None:
        pytest.skip("chromium not found: install Debian's chromium (scripts/setup.sh does when run as root) "
                    "or set P3MASK_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def server():
    server = start_server()
    yield server
    if server.process.poll() is None:
        server.stop()


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    """Folder of the screenshots each step saves (printed, so a run can be looked at):
    ``$P3MASK_WEB_SCREENSHOTS`` when set, else a test temporary folder."""
    chosen = os.environ.get("P3MASK_WEB_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("web_screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots in {folder}")
    return folder
