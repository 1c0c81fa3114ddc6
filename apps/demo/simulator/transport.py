"""Delivery of the simulator's messages to the real endpoints: push with a per-source token, the OsmAnd
endpoint, the CoT TCP listener; failures are counted, never raised.
"""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .model import Outgoing, Stream

if TYPE_CHECKING:
    from .scheduler import Simulator


@dataclass
class StreamStats:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0  # HTTP 4xx/5xx or network errors: the whole request was lost


class CotClient:
    """One TCP connection to the CoT listener, reconnecting at most every `retry_s` after a failure."""

    def __init__(self, host: str, port: int, *, timeout: float = 2.0, retry_s: float = 10.0):
        self.host, self.port, self.timeout, self.retry_s = host, port, timeout, retry_s
        self._sock: socket.socket | None = None
        self._next_try = 0.0

    def connect(self) -> bool:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError:
            self._sock = None
            self._next_try = time.monotonic() + self.retry_s
            return False
        return True

    def send(self, data: bytes) -> None:
        if self._sock is None:
            if time.monotonic() < self._next_try or not self.connect():
                raise ConnectionError(f"CoT listener {self.host}:{self.port} is not reachable")
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError:
            self.close()
            self._next_try = time.monotonic() + self.retry_s
            raise

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


class HttpTransport:
    """Delivers messages to the real endpoints: push with `Authorization: Bearer`, OsmAnd with the token in
    the path, CoT over TCP. Failures are counted and reported, never raised: a lost fix is no reason to
    stop the city."""

    SHOWN_ERRORS = 5  # per stream, then every 100th, so a broken server does not flood the terminal

    def __init__(
        self,
        base_url: str,
        tokens: dict[Stream, str],
        *,
        cot: CotClient | None = None,
        timeout: float = 5.0,
        out: Callable[[str], None] = print,
    ):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.cot = cot
        self.timeout = timeout
        self.out = out
        self.stats: dict[Stream, StreamStats] = {s: StreamStats() for s in Stream}
        self._errors: Counter[Stream] = Counter()

    def __call__(self, msg: Outgoing) -> None:
        stats = self.stats[msg.stream]
        stats.sent += 1
        if msg.stream == Stream.COT:
            self._send_cot(msg, stats)
            return
        token = self.tokens.get(msg.stream)
        if not token:
            self._fail(msg.stream, stats, "no token for this stream")
            return
        if msg.stream == Stream.OSMAND:
            url = f"{self.base_url}/api/feeds/osmand/{urllib.parse.quote(token)}/?{urllib.parse.urlencode(msg.query)}"
            request = urllib.request.Request(url, method="GET")
        else:
            request = urllib.request.Request(
                f"{self.base_url}/api/feeds/push/",
                data=msg.body,
                method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": msg.content_type},
            )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                report = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            self._fail(msg.stream, stats, f"HTTP {exc.code}: {_reason(exc)}")
            return
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # The token is part of the OsmAnd URL: report the reason only, never the URL.
            self._fail(msg.stream, stats, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
            return
        stats.accepted += int(report.get("accepted", 0))
        stats.duplicates += int(report.get("duplicates", 0))
        rejected = int(report.get("rejected", 0))
        if rejected:
            stats.rejected += rejected
            reasons = "; ".join(r.get("reason", "") for r in report.get("rejections", [])[:3])
            self._report(msg.stream, f"rejected {rejected}: {reasons}")

    def _send_cot(self, msg: Outgoing, stats: StreamStats) -> None:
        if self.cot is None:
            self._fail(msg.stream, stats, "no CoT listener configured")
            return
        try:
            self.cot.send(msg.body)
        except OSError as exc:
            self._fail(msg.stream, stats, str(exc))

    def _fail(self, stream: Stream, stats: StreamStats, reason: str) -> None:
        stats.failed += 1
        self._report(stream, reason)

    def _report(self, stream: Stream, reason: str) -> None:
        self._errors[stream] += 1
        n = self._errors[stream]
        if n <= self.SHOWN_ERRORS or n % 100 == 0:
            self.out(f"[simulate_city] {stream}: {reason} (problem #{n} on this stream)")

    def status_line(self, sim: Simulator) -> str:
        parts = []
        for stream, s in self.stats.items():
            if s.sent == 0:
                continue
            if stream == Stream.COT:
                # The CoT listener sends no reply; its feed source's counters show what it accepted.
                parts.append(f"{stream} {s.sent} sent/{s.failed} failed")
            else:
                parts.append(f"{stream} {s.sent} sent/{s.accepted} ok/{s.rejected} rejected/{s.failed} failed")
        local = sim.now.astimezone(sim.tz)
        return f"[simulate_city] sim {local:%a %H:%M:%S} x{sim.speed:g}: " + (", ".join(parts) or "nothing sent yet")

    @property
    def problems(self) -> int:
        return sum(s.failed + s.rejected for s in self.stats.values())

    def close(self) -> None:
        if self.cot is not None:
            self.cot.close()


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason or ""
    return str(body.get("detail") or body)[:300] if isinstance(body, dict) else str(body)[:300]
