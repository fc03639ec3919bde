"""``p3mask serve``: the local web page (make a key, protect photos, unlock them) for people who do not
use a terminal. See :mod:`p3mask.web`."""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
import threading
import webbrowser

from p3mask.cli.options import add_command, add_device_argument

LOOPBACK_NAMES = ("localhost",)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "serve", run, "open the web page: make a key, protect photos, unlock them")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this computer only; any other address "
                             "lets other machines use the page, and a warning is printed)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: a free port)")
    parser.add_argument("--no-browser", action="store_true", help="print the address but do not open a browser")
    add_device_argument(parser)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """The warning printed when the page is reachable from other machines; ``None`` on loopback."""
    if is_loopback(host):
        return None
    return (f"warning: listening on {host}: anyone who can reach this machine can use the page, upload photos and "
            "download the keys learned there, over unencrypted http; use the default 127.0.0.1 unless you mean it")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host.strip("[]"), port))
    sock.listen(128)  # connections made once the address is printed wait for the server to start
    return sock


def page_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown.strip('[]')}]:{port}/" if ":" in shown else f"http://{shown}:{port}/"


def _has_desktop() -> bool:
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    """Start a local web server with one page that does the whole job: make your key from your photos, protect new
    photos with it, unlock photos with a key you were given. It listens on this computer only (127.0.0.1) unless
    --host says otherwise; photos and keys stay in a private temporary folder that is removed when the server
    stops (Ctrl+C), and nothing is sent anywhere else.
    """
    from p3mask.cli.reporting import fail

    try:
        import uvicorn

        from p3mask.web.app import build_app
    except ModuleNotFoundError as exc:
        return fail("serve", f"the web page needs {exc.name}: install p3mask with its web extra "
                             "(pip install -e '.[web]', or run scripts/setup.sh)")
    from p3mask.web.sessions import SessionStore
    from p3mask.web.work import Worker

    try:
        worker = Worker(args.device)
        sock = _bind(args.host, args.port)
    except (ValueError, OSError) as exc:
        return fail("serve", f"cannot listen on {args.host}:{args.port}: {exc}" if isinstance(exc, OSError) else exc)
    warning = exposure_warning(args.host)
    if warning:
        print(warning, file=sys.stderr)
    store = SessionStore()
    url = page_url(args.host, sock.getsockname()[1])
    app = build_app(store, worker, loopback=warning is None)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=2))
    print(f"p3mask page at {url} (stop with Ctrl+C)", flush=True)
    print(f"working files in {store.root} (private; removed when the server stops)", flush=True)
    if not args.no_browser:
        if _has_desktop():
            threading.Timer(0.5, webbrowser.open, (url,)).start()
        else:
            print("no desktop found: open the address above in a browser", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn passes Ctrl+C on once it has shut down: the way to stop, not a failure
        pass
    finally:
        store.close()
        worker.shutdown()
        sock.close()
        print("server stopped; working files removed", flush=True)
    return 0
