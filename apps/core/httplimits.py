"""Oversized request lines and headers answered 414 / 431 by Daphne, instead of a dropped connection.

Daphne parses HTTP with Twisted's HTTPChannel, which caps a line at 16 KB (LineReceiver.MAX_LENGTH)
and the request line plus headers at 16 KB (totalHeadersSize). Past the first cap Twisted closes
the connection without a word; past the second it writes a bare "400 Bad Request". A client (or a
proxy's health check) then cannot tell "your URL is too long" from a crash. This channel keeps the
same limits and answers as RFC 9110 / RFC 6585 say: 414 URI Too Long for the request line, 431
Request Header Fields Too Large for headers (also for more than 500 of them, where Twisted says
400), with a JSON body naming which, then closes.

Daphne has no setting for its channel class, so `install()` (called from rtcc_gis/asgi.py, which
Daphne imports before it listens) points Daphne's HTTP factory at this channel. What never reaches
Daphne's parser (a proxy in front with its own, usually smaller, limits) is the proxy's to answer.
"""

from __future__ import annotations

import json

LIMIT_BYTES = 16 * 1024


def _answer(status: bytes, field: str, reason: str) -> bytes:
    body = json.dumps({field: reason}).encode()
    head = (
        b"HTTP/1.1 " + status + b"\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n"
        b"Connection: close\r\n\r\n"
    )
    return head + body


URI_TOO_LONG = _answer(b"414 URI Too Long", "url", f"the request line is over {LIMIT_BYTES} bytes")
HEADERS_TOO_LARGE = _answer(
    b"431 Request Header Fields Too Large", "headers", f"the request headers are over {LIMIT_BYTES} bytes"
)
MAX_HEADERS = 500  # Twisted's own maxHeaders
TOO_MANY_HEADERS = _answer(
    b"431 Request Header Fields Too Large", "headers", f"the request has more than {MAX_HEADERS} headers"
)


def limited_channel_class():
    """Twisted's HTTPChannel answering 414/431 at its own limits (imported lazily: Twisted is a server
    dependency, not one of Django's)."""
    from twisted.web.http import HTTPChannel

    class LimitedHTTPChannel(HTTPChannel):
        MAX_LENGTH = LIMIT_BYTES
        totalHeadersSize = LIMIT_BYTES
        maxHeaders = MAX_HEADERS

        def _on_first_line(self) -> bool:
            # HTTPChannel's own flag (name-mangled): set while it waits for a request line.
            return bool(getattr(self, "_HTTPChannel__first_line", 0))

        def _refuse(self) -> None:
            self.transport.write(URI_TOO_LONG if self._on_first_line() else HEADERS_TOO_LARGE)
            self.loseConnection()

        def lineLengthExceeded(self, line):
            # One line past MAX_LENGTH: Twisted would drop the connection silently.
            self._refuse()

        def lineReceived(self, line):
            if self._receivedHeaderSize + len(line) > self.totalHeadersSize:
                # Twisted would answer a bare 400 here.
                self._refuse()
                return
            super().lineReceived(line)

        def headerReceived(self, line):
            if self._receivedHeaderCount >= self.maxHeaders:
                # Twisted would answer a bare 400 here too.
                self.transport.write(TOO_MANY_HEADERS)
                self.loseConnection()
                return False
            return super().headerReceived(line)

    return LimitedHTTPChannel


def install() -> None:
    """Make Daphne's HTTP factory build LimitedHTTPChannel connections (no-op without Daphne)."""
    try:
        from daphne.http_protocol import HTTPFactory
        from twisted.web.http import _GenericHTTPChannelProtocol
    except ImportError:
        return
    channel_class = limited_channel_class()

    def protocol(factory):  # as Twisted's _genericHTTPChannelProtocolFactory, a method of the factory
        return _GenericHTTPChannelProtocol(channel_class())

    HTTPFactory.protocol = protocol


class ChunkedBodyLimit:
    """ASGI middleware: a request body sent without Content-Length (Transfer-Encoding: chunked) is read here
    up to `limit` bytes and handed on whole; past the limit the client gets 413 at once.

    Django's ASGI handler would otherwise spool any chunked body, however large, to disk before a view can
    refuse it, and DRF reads no body at all without a Content-Length. A body with a Content-Length passes
    through untouched: the views check the declared size before reading it.
    """

    def __init__(self, app, limit: int | None = None) -> None:
        self.app = app
        self._limit = limit

    @property
    def limit(self) -> int:
        if self._limit is not None:
            return self._limit
        from django.conf import settings

        return max(settings.RTCC_FEED_MAX_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or any(name.lower() == b"content-length" for name, _ in scope.get("headers", ())):
            await self.app(scope, receive, send)
            return
        limit = self.limit
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await _send_json(send, 413, {"detail": f"payload is over the {limit} byte limit"})
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def buffered():
            if replay:
                return replay.pop()
            return await receive()

        await self.app(scope, buffered, send)


async def _send_json(send, status: int, payload: dict) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
