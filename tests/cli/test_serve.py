"""``p3mask serve``: flags, loopback, the warning off it (the running server: tests/web/test_server.py)."""

from p3mask.cli.main import build_parser
from p3mask.cli.serve import exposure_warning, is_loopback, page_url, run


def test_flags_and_defaults():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.no_browser, args.func) == ("127.0.0.1", 0, False, run)
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "8080", "--no-browser"])
    assert (args.host, args.port, args.no_browser) == ("0.0.0.0", 8080, True)


def test_loopback_and_the_warning_off_it():
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.5", "example.org", "::"))
    assert exposure_warning("127.0.0.1") is None
    assert "anyone who can reach this machine" in exposure_warning("0.0.0.0")
    assert page_url("0.0.0.0", 8000) == "http://127.0.0.1:8000/" and page_url("::1", 9) == "http://[::1]:9/"


def test_a_port_in_use_is_a_clear_error(capsys):
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    try:
        assert run(build_parser().parse_args(["serve", "--no-browser", "--port", str(port)])) == 2
    finally:
        busy.close()
    assert f"p3mask serve: cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err
