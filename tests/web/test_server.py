"""The ``p3mask serve`` process: warns off loopback, serves the page and uploads, removes its private
folder when it stops (Ctrl+C), and refuses requests to other host names on loopback."""

import json
import urllib.error
import urllib.request

import pytest
from PIL import Image

from serve_helpers import start_server

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the server is local: no proxy


def _post(url: str, data: bytes, headers: dict) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    with _OPENER.open(request, timeout=30) as response:
        return json.loads(response.read())


def test_server_warns_off_loopback_serves_the_page_and_removes_its_files(tmp_path):
    server = start_server("--host", "0.0.0.0")
    try:
        with _OPENER.open(server.url, timeout=30) as response:
            assert "Make my key" in response.read().decode()
        sid = _post(server.url + "api/session", b"", {})["session"]

        Image.new("RGB", (40, 40), (10, 200, 30)).save(tmp_path / "green.png")
        stored = _post(f"{server.url}api/s/{sid}/photos", (tmp_path / "green.png").read_bytes(),
                       {"X-File-Name": "green.png"})
        assert stored["name"] == "green.png" and (stored["width"], stored["height"]) == (40, 40)
        assert any(server.folder.rglob("*.png")) and server.folder.stat().st_mode & 0o077 == 0
    finally:
        out = server.stop()
    assert "anyone who can reach this machine" in server.stderr
    assert "working files removed" in out and not server.folder.exists()
    assert server.process.returncode == 0


def test_on_loopback_other_host_names_are_refused(server):
    request = urllib.request.Request(server.url, headers={"Host": "attacker.example"})
    with pytest.raises(urllib.error.HTTPError, match="400"):
        _OPENER.open(request, timeout=30)
