"""Per-tab state of the web page: its photos, its key, its outputs and its learning job.

Each tab of the page opens its own :class:`Session` (a random id it sends with every request), so two
tabs never share photos, keys or progress: two tabs learning at once each get their own key. All files
live under one private folder (owner-only, made by :func:`tempfile.mkdtemp`) that
:meth:`SessionStore.close` removes when the server stops.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from p3mask.protect.key import P3Mask
from p3mask.web.uploads import StoredPhoto

MAX_SESSIONS = 64  # open tabs kept at once; the oldest is dropped (with its files) beyond that


class LearningStopped(Exception):
    """Raised from the progress callback to stop a learning job (the server stops or the user cancels)."""


@dataclass
class LearnJob:
    """Progress of one learning run, as events the page reads in order (server-sent events).

    Each event is a JSON-ready dict with a ``type``: ``waiting``, ``start``, ``epoch``, ``done``,
    ``error`` or ``stopped``; after ``done``, ``error`` or ``stopped`` no event follows.
    """

    events: list[dict] = field(default_factory=list)
    finished: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def post(self, event: dict) -> None:
        """Add one event; ``done``/``error``/``stopped`` end the job."""
        with self._lock:
            self.events.append(event)
            if event["type"] in ("done", "error", "stopped"):
                self.finished = True

    def since(self, index: int) -> tuple[list[dict], bool]:
        """``(events from index on, finished)``."""
        with self._lock:
            return list(self.events[index:]), self.finished


@dataclass(frozen=True)
class Output:
    """A file the page offers for download."""

    path: Path
    name: str  # download name
    source: StoredPhoto | None = None  # the photo it was made from (protected copies)
    box: tuple[float, float, float, float] | None = None  # the protected face judged by the verdicts


@dataclass
class Session:
    """One tab's state. Files go under ``folder`` (owner-only)."""

    id: str
    folder: Path
    photos: dict[str, StoredPhoto] = field(default_factory=dict)
    key: P3Mask | None = None  # the key protect uses: learned here, or loaded
    key_path: Path | None = None  # the learned key's file, for download
    unlock_key: P3Mask | None = None  # the key unlock uses (someone else's, given to the user)
    learning: LearnJob | None = None
    outputs: dict[str, Output] = field(default_factory=dict)  # id -> protected or unlocked copy
    protected: list[str] = field(default_factory=list)  # output ids of protected copies, for the zip
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def subfolder(self, name: str) -> Path:
        """``folder/name``, created owner-only."""
        path = self.folder / name
        path.mkdir(mode=0o700, exist_ok=True)
        return path

    def photo(self, photo_id: str) -> StoredPhoto:
        """The uploaded photo ``photo_id``; ``KeyError`` with a message for the page when there is none."""
        try:
            return self.photos[photo_id]
        except KeyError:
            raise KeyError(f"no uploaded photo {photo_id!r} in this page") from None


class SessionStore:
    """The sessions of one server and the private folder that holds their files."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="p3mask-web-"))  # 0o700: the owner only
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> Session:
        """A new session with its own folder; the oldest is dropped beyond :data:`MAX_SESSIONS`."""
        sid = secrets.token_urlsafe(18)
        folder = self.root / sid
        folder.mkdir(mode=0o700)
        session = Session(sid, folder)
        with self._lock:
            self._sessions[sid] = session
            while len(self._sessions) > MAX_SESSIONS:
                oldest = self._sessions.pop(next(iter(self._sessions)))
                self._drop(oldest)
        return session

    def get(self, sid: str) -> Session:
        """The session ``sid``. Raises ``KeyError`` when it does not exist (or was dropped)."""
        with self._lock:
            return self._sessions[sid]

    def all(self) -> list[Session]:
        with self._lock:
            return list(self._sessions.values())

    @staticmethod
    def _drop(session: Session) -> None:
        if session.learning is not None:
            session.learning.stop.set()
        shutil.rmtree(session.folder, ignore_errors=True)

    def close(self) -> None:
        """Stop every learning job and remove the private folder with everything in it."""
        for session in self.all():
            if session.learning is not None:
                session.learning.stop.set()
        with self._lock:
            self._sessions.clear()
        shutil.rmtree(self.root, ignore_errors=True)
