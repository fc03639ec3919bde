"""Per-tab sessions: separate state and folders, all under one private folder removed on close."""

import stat

import pytest

from p3mask.web import sessions
from p3mask.web.sessions import LearnJob, SessionStore


def test_sessions_are_separate_and_private(tmp_path):
    store = SessionStore()
    try:
        a, b = store.create(), store.create()
        assert a.id != b.id and a.folder != b.folder and store.get(a.id) is a
        assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
        assert stat.S_IMODE(a.subfolder("uploads").stat().st_mode) == 0o700
        a.outputs["x"] = sessions.Output(a.folder / "x.jpg", "x.jpg")
        assert b.outputs == {} and b.learning is None
        with pytest.raises(KeyError, match="no uploaded photo"):
            b.photo("nope")
        with pytest.raises(KeyError):
            store.get("unknown")
    finally:
        store.close()
    assert not store.root.exists()


def test_close_stops_learning_and_removes_every_file():
    store = SessionStore()
    session = store.create()
    session.learning = LearnJob()
    (session.subfolder("uploads") / "a.jpg").write_bytes(b"x")
    store.close()
    assert session.learning.stop.is_set() and not store.root.exists()


def test_oldest_session_is_dropped_beyond_the_limit(monkeypatch):
    monkeypatch.setattr(sessions, "MAX_SESSIONS", 2)
    store = SessionStore()
    try:
        first = store.create()
        store.create(), store.create()
        with pytest.raises(KeyError):
            store.get(first.id)
        assert not first.folder.exists() and len(store.all()) == 2
    finally:
        store.close()


def test_learn_job_events_in_order_until_the_end():
    job = LearnJob()
    job.post({"type": "start"})
    job.post({"type": "epoch", "epoch": 1})
    assert job.since(0) == ([{"type": "start"}, {"type": "epoch", "epoch": 1}], False)
    job.post({"type": "done"})
    assert job.since(2) == ([{"type": "done"}], True)
