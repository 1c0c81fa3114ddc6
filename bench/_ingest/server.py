"""Measurements over HTTP against our own Daphne (1c): a minimal HTTP/1.1 client, the server's start and
stop, closed-loop throughput.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from . import config
from .config import REQUEST_TIMEOUT, ROOT
from .fleet import Bench, Fleet, gtfs_payload, osmand_target
from .measure import CpuMeter, Throughput, spread


class Http:
    """One keep-alive HTTP/1.1 connection (the venv has no async HTTP client; threads would add GIL noise
    to the latency figures)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(
        self, method: str, target: str, *, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            reused = self.writer is not None
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            head = [f"{method} {target} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
            head += [f"{k}: {v}" for k, v in (headers or {}).items()]
            self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            try:
                return await asyncio.wait_for(self._response(), timeout=REQUEST_TIMEOUT)
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                # An idle keep-alive connection the server closed: resend once (ingest is idempotent).
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _response(self) -> tuple[int, bytes]:
        assert self.reader is not None
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before the response")
        status = int(status_line.split()[1])
        length: int | None = None
        chunked = close = False
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        if chunked:
            parts = []
            while (size := int((await self.reader.readline()).split(b";")[0], 16)) > 0:
                parts.append(await self.reader.readexactly(size))
                await self.reader.readline()
            await self.reader.readline()
            body = b"".join(parts)
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body, close = await self.reader.read(), True
        if close:
            await self.close()
        return status, body


@dataclass
class Server:
    process: subprocess.Popen
    port: int
    log: Path

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live/"


def start_daphne(env: Mapping[str, str], log: Path) -> Server:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    daphne = str(Path(sys.executable).with_name("daphne"))
    with log.open("ab") as out:
        process = subprocess.Popen(
            [daphne, "-b", "127.0.0.1", "-p", str(port), "rtcc_gis.asgi:application"],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return Server(process, port, log)
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"daphne did not start; see {log}")


def stop_daphne(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)


# --- 1c: HTTP throughput ----------------------------------------------------------------------------


async def run_http_throughput(
    server: Server, bench: Bench, fleet: Fleet, *, kind: str, clients: int, seconds: float
) -> Throughput:
    """`clients` closed-loop clients, each over its own keep-alive connection and its own units."""
    durations: list[float] = []
    statuses: Counter[int] = Counter()
    accepted = 0
    requests = 0
    deadline = time.perf_counter() + seconds

    async def client(c: int) -> None:
        nonlocal accepted, requests
        mine = [i for i in range(len(fleet.units)) if i % clients == c]
        conn = Http("127.0.0.1", server.port)
        turn = 0
        try:
            while time.perf_counter() < deadline:
                if kind == "gtfs_rt":
                    fixes = [fleet.fix(mine[(turn + k) % len(mine)], whole_seconds=True) for k in range(100)]
                    turn += 100
                    headers = {"Authorization": f"Bearer {bench.gtfs_token}", "Content-Type": "application/x-protobuf"}
                    call = conn.request("POST", "/api/feeds/push/", headers=headers, body=gtfs_payload(fixes))
                else:
                    fix = fleet.fix(mine[turn % len(mine)])
                    turn += 1
                    call = conn.request("GET", osmand_target(bench.osmand_token, fix))
                t = time.perf_counter()
                status, body = await call
                durations.append((time.perf_counter() - t) * 1000)
                statuses[status] += 1
                requests += 1
                if status == 200:
                    accepted += json.loads(body)["accepted"]
        finally:
            await conn.close()

    meter = CpuMeter(server.process.pid)
    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    elapsed = time.perf_counter() - started
    config.ACCEPTED[kind] += accepted
    what = "HTTP push, GTFS-RT batch 100" if kind == "gtfs_rt" else "HTTP OsmAnd GET, 1 fix per request"
    return Throughput(
        what,
        accepted,
        elapsed,
        requests=requests,
        clients=clients,
        call_ms=spread(durations),
        errors=sum(n for s, n in statuses.items() if s != 200),
        cpu=meter.stop(),
        db_sessions=meter.sessions_opened,
    )
