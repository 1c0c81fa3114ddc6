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
