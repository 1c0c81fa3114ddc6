"""Request lines and headers over 16 KB, sent to a real Daphne: 414 / 431, never a dropped connection.

Twisted (under Daphne) dropped a connection whose request line or one header was over 16 KB, and
answered a bare 400 when all headers together were; apps/core/httplimits.py makes it answer 414
URI Too Long / 431 Request Header Fields Too Large with a JSON body. Raw sockets, so nothing
between the test and the server (no client library) trims or refuses the request first.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from .live_support import DaphneServer


@pytest.fixture(scope="module")
def server() -> Iterator[int]:
    """One server process serving the project's ASGI application, as `make demo` runs it; its port."""
    with DaphneServer() as daphne:
        yield daphne.port


def _exchange(port: int, request: bytes) -> bytes:
    """Send `request` and read until the server closes (or 5 s pass); b"" is a dropped connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before all of an oversized request is sent
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except (TimeoutError, ConnectionResetError):
            pass
    return b"".join(chunks)


def _status_and_body(answer: bytes) -> tuple[int, dict]:
    assert answer, "the server dropped the connection without an answer"
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if body else {}


def _request(path: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_a_request_within_the_limits_reaches_the_app(server):
    answer = _exchange(server, _request("/api/incidents/?q=" + "a" * 8000, {"Connection": "close"}))
    assert answer.startswith(b"HTTP/1.1 401 ") and b'"detail"' in answer


def test_the_server_runs_production_settings(server):
    """The limits are checked as production answers: DEBUG off, so no technical 404 page listing the URLconf."""
    answer = _exchange(server, _request("/no-such-page/", {"Connection": "close"}))
    assert answer.startswith(b"HTTP/1.1 404 ")
    assert b"URLconf" not in answer and b"DEBUG = True" not in answer


@pytest.mark.parametrize("size", [17_000, 70_000])
def test_a_request_line_over_16_kb_is_414(server, size):
    status, body = _status_and_body(_exchange(server, _request("/api/incidents/?q=" + "a" * size)))
    assert status == 414 and "url" in body


@pytest.mark.parametrize("size", [17_000, 70_000])
def test_one_header_over_16_kb_is_431(server, size):
    status, body = _status_and_body(_exchange(server, _request("/api/incidents/", {"X-Big": "b" * size})))
    assert status == 431 and "headers" in body


def test_headers_over_16_kb_together_are_431(server):
    headers = {f"X-Part-{i}": "c" * 1000 for i in range(20)}
    status, body = _status_and_body(_exchange(server, _request("/api/incidents/", headers)))
    assert status == 431 and "headers" in body


def test_more_than_500_headers_are_431(server):
    headers = {f"X-{i}": "1" for i in range(600)}  # about 5 KB: under the size limit, over the count
    status, body = _status_and_body(_exchange(server, _request("/api/incidents/", headers)))
    assert status == 431 and "500 headers" in body["headers"]


def test_cookies_over_16_kb_are_431(server):
    status, _ = _status_and_body(_exchange(server, _request("/", {"Cookie": "sessionid=" + "d" * 20_000})))
    assert status == 431
