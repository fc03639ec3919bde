"""The Starlette application of ``p3mask serve``: the page and its JSON / server-sent-events API.

Every request names its tab's session (``/api/s/{sid}/...``); an unknown session is a 404 whose
message asks to reload the page. Uploads are one file per request (the raw body, its name in the
``X-File-Name`` header), refused past :data:`p3mask.web.uploads.MAX_UPLOAD_BYTES` while they are read.
Bound to a loopback address, the server answers only requests addressed to ``localhost`` or a loopback
IP (a web site in the same browser cannot reach it through DNS rebinding).
"""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from importlib.resources import files
from pathlib import Path
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from p3mask.protect.config import DEFAULT_PRESET, PRESET_HELP, PRESETS
from p3mask.protect.key import KeyFileError, P3Mask
from p3mask.protect.key_checks import check_user_name
from p3mask.web import work
from p3mask.web.sessions import Session, SessionStore
from p3mask.web.uploads import MAX_UPLOAD_BYTES, UploadError, check_size, display_name, store_photo, write_private

LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]"]
_EVENT_POLL_S = 0.25  # how often the progress stream looks for new events


def page_html() -> str:
    """The page, with the presets' wording (the CLI's) filled in."""
    presets = {name: {"help": PRESET_HELP[name], "floor": cfg.quality_floor, "epochs": cfg.epochs}
               for name, cfg in PRESETS.items()}
    text = files("p3mask.web").joinpath("page.html").read_text(encoding="utf-8")
    return text.replace("__PRESETS__", json.dumps({"presets": presets, "default": DEFAULT_PRESET}))


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _body(request: Request, name: str) -> bytes:
    """The upload's bytes; :class:`UploadError` as soon as it is past the size limit."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_UPLOAD_BYTES:
        check_size(name, int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_UPLOAD_BYTES:
            check_size(name, size)
        chunks.append(chunk)
    data = b"".join(chunks)
    check_size(name, len(data))
    return data


async def _json(request: Request) -> dict:
    """The request's JSON object; ``{}`` when the body is not one."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _file_name(request: Request, fallback: str) -> str:
    return display_name(unquote(request.headers.get("x-file-name", "")), fallback)


class PageApi:
    """The request handlers of the page, over one :class:`SessionStore` and one :class:`work.Worker`."""

    def __init__(self, store: SessionStore, worker: work.Worker) -> None:
        self.store, self.worker = store, worker

    def session_of(self, request: Request) -> Session:
        """The tab's session named in the path (``KeyError``, a 404 for the page, when there is none)."""
        return self.store.get(request.path_params["sid"])

    async def run(self, fn, *args):
        """``fn(models, *args)`` on the worker's quick thread, awaited without blocking the server."""
        return await asyncio.wrap_future(self.worker.submit(fn, *args))

    async def index(self, request: Request) -> Response:
        return HTMLResponse(page_html(), headers={"Cache-Control": "no-store"})

    async def new_session(self, request: Request) -> Response:
        return JSONResponse({"session": self.store.create().id})

    async def upload_photo(self, request: Request) -> Response:
        session = self.session_of(request)
        name = _file_name(request, "photo")
        try:
            data = await _body(request, name)
            photo = await run_in_threadpool(store_photo, session.subfolder("uploads"), name, data)
        except UploadError as exc:
            return _error(str(exc))
        with session.lock:
            session.photos[photo.id] = photo
        return JSONResponse({"id": photo.id, "name": photo.name, "width": photo.info.size[0],
                             "height": photo.info.size[1]})

    async def faces(self, request: Request) -> Response:
        session = self.session_of(request)
        body = await _json(request)
        photos = [session.photo(str(i)) for i in body.get("ids", [])]
        if not photos:
            return _error("no photo given")
        config = work.learning_config(DEFAULT_PRESET, None)
        return JSONResponse({"photos": await self.run(work.preview_faces, photos, config)})

    async def start_learning(self, request: Request) -> Response:
        session = self.session_of(request)
        body = await _json(request)
        if session.learning is not None and not session.learning.finished:
            return _error("a key is already being learned in this page")
        ids = list(body.get("ids", []))
        if not ids:
            return _error("tick at least one photo of yourself to learn from")
        epochs = body.get("epochs")
        try:
            user = str(body.get("user") or "me").strip()
            check_user_name(user)
            config = work.learning_config(str(body.get("preset", DEFAULT_PRESET)), int(epochs) if epochs else None)
            self.worker.start_learning(session, ids, config, user)
        except (ValueError, TypeError) as exc:
            return _error(str(exc))
        return JSONResponse({"started": True, "epochs": config.epochs})

    async def learning_events(self, request: Request) -> Response:
        job = self.session_of(request).learning
        if job is None:
            return _error("no key is being learned in this page", 404)

        async def stream():
            seen = 0
            while True:
                events, finished = job.since(seen)
                for event in events:
                    yield f"data: {json.dumps(event)}\n\n"
                seen += len(events)
                if finished and not events or await request.is_disconnected():
                    return
                await asyncio.sleep(_EVENT_POLL_S)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def stop_learning(self, request: Request) -> Response:
        job = self.session_of(request).learning
        if job is not None:
            job.stop.set()
        return JSONResponse({"stopping": job is not None and not job.finished})

    async def download_key(self, request: Request) -> Response:
        session = self.session_of(request)
        if session.key_path is None:
            return _error("no key was learned in this page", 404)
        return FileResponse(session.key_path, filename=f"{session.key.user}.p3m",
                            media_type="application/octet-stream", headers={"Cache-Control": "no-store"})

    async def load_key(self, request: Request) -> Response:
        session = self.session_of(request)
        purpose = request.path_params["purpose"]
        if purpose not in ("protect", "unlock"):
            return _error("a key is loaded to protect or to unlock", 404)
        name = _file_name(request, "key.p3m")
        try:
            data = await _body(request, name)
            path = session.subfolder("keys") / f"{purpose}-{len(list(session.subfolder('keys').iterdir()))}.p3m"
            write_private(path, data)
            key = await run_in_threadpool(P3Mask.load, path)
        except UploadError as exc:
            return _error(str(exc))
        except KeyFileError as exc:
            return _error(f"{name}: not a usable p3mask key ({str(exc).split(': ', 1)[-1]})")
        with session.lock:
            if purpose == "protect":
                session.key, session.key_path = key, path
            else:
                session.unlock_key = key
        return JSONResponse({"user": key.user, "preset": key.preset, "photos": key.photos, "team": list(key.team)})

    async def _with_key(self, request: Request, which: str, missing: str, job) -> Response:
        """Run ``job(session, photo, key)`` on the photo the path names with the session's key ``which``
        (``key`` to protect, ``unlock_key`` to unlock); ``missing`` is the error when there is none."""
        session = self.session_of(request)
        key = getattr(session, which)
        if key is None:
            return _error(missing)
        photo = session.photo(request.path_params["pid"])
        return JSONResponse(await self.run(job, session, photo, key))

    async def protect(self, request: Request) -> Response:
        return await self._with_key(request, "key", "make a key or load your saved key first", work.protect_photo)

    async def judge(self, request: Request) -> Response:
        session = self.session_of(request)
        output = session.outputs.get(request.path_params["fid"])
        if output is None or output.source is None or session.key is None:
            return _error("no such protected photo in this page", 404)
        return JSONResponse({"verdicts": await self.run(work.judge_output, output, session.key)})

    async def unlock(self, request: Request) -> Response:
        return await self._with_key(request, "unlock_key", "load the key of the person whose photos these are first",
                                    work.unlock_photo)

    async def output_file(self, request: Request) -> Response:
        session = self.session_of(request)
        kind, item = request.path_params["kind"], request.path_params["fid"]
        if kind == "photo":
            photo = session.photo(item)
            path, name = photo.path, photo.name
        else:
            output = session.outputs.get(item)
            if output is None:
                return _error("no such file in this page", 404)
            path, name = output.path, output.name
        inline = request.query_params.get("download") != "1"
        return FileResponse(path, filename=name, content_disposition_type="inline" if inline else "attachment",
                            headers={"Cache-Control": "no-store"})

    async def protected_zip(self, request: Request) -> Response:
        session = self.session_of(request)
        outputs = [session.outputs[i] for i in session.protected]
        if not outputs:
            return _error("no photo has been protected in this page", 404)

        def pack() -> bytes:
            buffer, used = io.BytesIO(), set()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
                for output in outputs:
                    name, n = output.name, 1
                    while name in used:  # two photos of the same name
                        n += 1
                        name = f"{Path(output.name).stem}_{n}{Path(output.name).suffix}"
                    used.add(name)
                    archive.write(output.path, name)
            return buffer.getvalue()

        return Response(await run_in_threadpool(pack), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="protected_photos.zip"',
                                 "Cache-Control": "no-store"})

    async def not_found(self, request: Request, exc: Exception) -> Response:
        return _error("this page's session has ended (the server was restarted?): reload the page", 404)

    async def missing_photo(self, request: Request, exc: KeyError) -> Response:
        if request.path_params.get("sid") in {s.id for s in self.store.all()}:
            return _error(str(exc.args[0]) if exc.args else "not found", 404)
        return await self.not_found(request, exc)


def build_app(store: SessionStore, worker: work.Worker, loopback: bool = True) -> Starlette:
    """The application over ``store`` and ``worker``; ``loopback``: accept local host names only."""
    api = PageApi(store, worker)
    s = "/api/s/{sid}"
    routes = [
        Route("/", api.index),
        Route("/api/session", api.new_session, methods=["POST"]),
        Route(f"{s}/photos", api.upload_photo, methods=["POST"]),
        Route(f"{s}/faces", api.faces, methods=["POST"]),
        Route(f"{s}/learn", api.start_learning, methods=["POST"]),
        Route(f"{s}/learn/events", api.learning_events),
        Route(f"{s}/learn/stop", api.stop_learning, methods=["POST"]),
        Route(f"{s}/key.p3m", api.download_key),
        Route(s + "/key/{purpose:str}", api.load_key, methods=["POST"]),
        Route(s + "/protect/{pid:str}", api.protect, methods=["POST"]),
        Route(s + "/verdicts/{fid:str}", api.judge, methods=["POST"]),
        Route(s + "/unlock/{pid:str}", api.unlock, methods=["POST"]),
        Route(s + "/file/{kind:str}/{fid:str}", api.output_file),
        Route(f"{s}/protected.zip", api.protected_zip),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)] if loopback else []
    return Starlette(routes=routes, middleware=middleware, exception_handlers={KeyError: api.missing_photo})
