"""The ``p3mask serve`` process: warns off loopback, serves the page and uploads, removes its private
folder when it stops (Ctrl+C), and refuses requests to other host names on loopback."""

import json
import urllib.error
import urllib.request

import pytest
from PIL import Image
from serve_helpers import lfw_photos, start_server

from p3mask.protect.config import DEFAULT_POOL

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


def _events(url: str):
    """The server-sent events of ``url``, one dict each, as they come."""
    with _OPENER.open(url, timeout=300) as stream:
        for line in stream:
            if line.startswith(b"data: "):
                yield json.loads(line[6:])


@pytest.mark.slow
def test_learning_progress_streams_and_stop_ends_it(server):
    sid = _post(server.url + "api/session", b"", {})["session"]
    ids = [_post(f"{server.url}api/s/{sid}/photos", photo.read_bytes(), {"X-File-Name": photo.name})["id"]
           for photo in lfw_photos("Tony_Blair")[10:13]]
    started = _post(f"{server.url}api/s/{sid}/learn", json.dumps({"ids": ids, "epochs": 40, "user": "tb"}).encode(),
                    {"Content-Type": "application/json"})
    assert started == {"started": True, "epochs": 40}
    seen = []
    for event in _events(f"{server.url}api/s/{sid}/learn/events"):
        seen.append(event["type"])
        if event["type"] == "epoch" and event["epoch"] == 1:
            assert event["epochs"] == 40 and len(event["team"]) == len(DEFAULT_POOL) and 0 < event["quality"] <= 100
            assert _post(f"{server.url}api/s/{sid}/learn/stop", b"", {}) == {"stopping": True}
    assert seen[-1] == "stopped" and "done" not in seen and seen.count("epoch") < 40
    with pytest.raises(urllib.error.HTTPError, match="404"):  # no key was made
        _OPENER.open(f"{server.url}api/s/{sid}/key.p3m", timeout=30)
