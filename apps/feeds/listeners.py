"""Socket listeners for feeds that push over raw TCP/UDP instead of HTTP: Cursor on Target (CoT).

TAK clients and gateways stream CoT events back to back on a TCP connection, or send one or more per
UDP datagram (mesh SA, multicast relays), as XML or as TAK protocol v1 (protobuf: streaming framing on
TCP and unicast UDP, mesh framing on multicast UDP). The listener cuts the bytes into pieces (see
`apps.feeds.adapters.cot.framing`): events, TAK frames, and runs of garbage, which are handed on too so
the adapter rejects them with a reason. It gathers the pieces arriving within a short window and hands
each batch as one payload to `ingest(source_id, payload)`; in production that is `feed_ingest`, which
parses with the `cot` adapter and writes. Plain CoT has no authentication: bind to a trusted interface
(the default is loopback) or put the port behind a VPN or TLS-terminating gateway.

TAK protocol negotiation on TCP: a client that sends the `t-x-takp-q` request (version 1) is answered
with `t-x-takp-r` status true, after which it may send protobuf; with `offer_protobuf` the listener
first announces support (`t-x-takp-v`) on every new connection, which is what makes ATAK switch.

The listener holds no database state and runs `ingest` in one worker thread, so it can be driven in
tests with any callable.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import re
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import UTC, datetime, timedelta

from .adapters.cot import EventStream, frame_events, mesh_to_stream
from .adapters.cot.framing import MAX_FRAME

log = logging.getLogger(__name__)

Ingest = Callable[[int, bytes], object]

BATCH_WINDOW = 0.1  # seconds events are gathered before one ingest call
MAX_BATCH_EVENTS = 500
MAX_BATCH_BYTES = 1024 * 1024  # well under the adapters' payload limit
MAX_PENDING_EVENTS = 20_000
MAX_BUFFER = 256 * 1024  # an unfinished TCP event larger than this drops the connection
IDLE_TIMEOUT = 600.0  # seconds; TAK clients report at least every minute or so and ping in between
MAX_CONNECTIONS = 512
READ_SIZE = 64 * 1024


class EventBatcher:
    """Gathers framed events for `window` seconds and hands them, joined, to `ingest` on one worker thread.

    One thread means one database connection and batches written in arrival order. While a batch is being
    written new events pile up for the next one, so a slow database gets bigger batches, not more threads;
    past `max_pending` the oldest waiting events are dropped, because the newest fixes are what the map shows.
    """

    def __init__(
        self,
        ingest: Ingest,
        source_id: int,
        *,
        window: float = BATCH_WINDOW,
        max_events: int = MAX_BATCH_EVENTS,
        max_bytes: int = MAX_BATCH_BYTES,
        max_pending: int = MAX_PENDING_EVENTS,
    ) -> None:
        self._ingest = ingest
        self._source_id = source_id
        self._window = window
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._max_pending = max_pending
        self._pending: list[bytes] = []
        self._ready = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cot-ingest")
        self.delivered_events = 0
        self.dropped_events = 0
        self.failed_batches = 0

    @property
    def pending(self) -> int:
        """Events received and not yet handed to `ingest`."""
        return len(self._pending)

    def add(self, events: list[bytes]) -> None:
        if not events:
            return
        self._pending.extend(events)
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            del self._pending[:overflow]
            self.dropped_events += overflow
            log.warning("CoT source %s: ingest is behind, dropped the %d oldest events", self._source_id, overflow)
        self._ready.set()

    async def run(self) -> None:
        while True:
            await self._ready.wait()
            await asyncio.sleep(self._window)
            await self.flush()

    async def flush(self) -> None:
        self._ready.clear()
        events, self._pending = self._pending, []
        for batch in self._batches(events):
            await self._deliver(batch)

    def close(self) -> None:
        self._executor.shutdown(wait=True)

    def _batches(self, events: list[bytes]) -> list[list[bytes]]:
        batches: list[list[bytes]] = []
        current: list[bytes] = []
        size = 0
        for event in events:
            if current and (len(current) >= self._max_events or size + len(event) > self._max_bytes):
                batches.append(current)
                current, size = [], 0
            current.append(event)
            size += len(event) + 1
        if current:
            batches.append(current)
        return batches

    async def _deliver(self, events: list[bytes]) -> None:
        payload = b"\n".join(events)
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._executor, self._ingest, self._source_id, payload)
        except Exception:
            # One failed write must not stop the listener: the next batch may well succeed.
            self.failed_batches += 1
            log.exception("CoT source %s: ingest of %d events failed", self._source_id, len(events))
        else:
            self.delivered_events += len(events)


_TAKP_REQUEST = re.compile(rb"""type\s*=\s*["']t-x-takp-q["']""")


def _takp_event(cot_type: str, control: str) -> bytes:
    """A TAK protocol negotiation event the server sends (support announcement or response)."""
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    stale = (now + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<event version="2.0" uid="protouid" type="{cot_type}" '
        f'time="{stamp}" start="{stamp}" stale="{stale}" how="m-g">'
        '<point lat="0.0" lon="0.0" hae="0.0" ce="999999" le="999999"/>'
        f"<detail><TakControl>{control}</TakControl></detail></event>"
    ).encode()


def takp_support() -> bytes:
    return _takp_event("t-x-takp-v", '<TakProtocolSupport version="1"/>')


def takp_response() -> bytes:
    return _takp_event("t-x-takp-r", '<TakResponse status="true"/>')


class _DatagramProtocol(asyncio.DatagramProtocol):
    def __init__(self, batcher: EventBatcher) -> None:
        self._batcher = batcher

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        # A datagram is complete by itself: an event cut off at its end is handed on to be rejected.
        events, _ = frame_events(mesh_to_stream(data), final=True)
        self._batcher.add(events)

    def error_received(self, exc: Exception) -> None:
        log.warning("CoT UDP socket error: %s", exc)


def _multicast_socket(group: str, interface: str, port: int) -> socket.socket:
    """A UDP socket that receives a multicast group (TAK mesh SA: 239.2.3.1:6969), joined on `interface`
    (0.0.0.0: the kernel's choice). Bound to the group, so other datagrams to the port are not taken."""
    try:
        group_address = ipaddress.IPv4Address(group)
    except ValueError:
        raise OSError(f"multicast group {group!r} is not an IPv4 address") from None
    if not group_address.is_multicast:
        raise OSError(f"{group} is not a multicast address (224.0.0.0/4)")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # Other TAK tools on the host listen to the same group: share the port, as they do.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port))
        membership = socket.inet_aton(group) + socket.inet_aton(interface)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class CotListener:
    """TCP and/or UDP CoT servers for one feed source. Port 0 picks a free port (see `tcp_port`/`udp_port`)."""

    def __init__(
        self,
        ingest: Ingest,
        source_id: int,
        *,
        host: str = "127.0.0.1",
        tcp_port: int | None = None,
        udp_port: int | None = None,
        max_buffer: int = MAX_BUFFER,
        idle_timeout: float = IDLE_TIMEOUT,
        max_connections: int = MAX_CONNECTIONS,
        window: float = BATCH_WINDOW,
        offer_protobuf: bool = False,
        udp_group: str = "",
    ) -> None:
        if tcp_port is None and udp_port is None:
            raise ValueError("give a TCP port, a UDP port or both")
        self.host = host
        self.source_id = source_id
        self.tcp_port = tcp_port
        self.udp_port = udp_port
        self.max_buffer = max_buffer
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.offer_protobuf = offer_protobuf
        self.udp_group = udp_group
        self.batcher = EventBatcher(ingest, source_id, window=window)
        self.dropped_connections = 0
        self._tcp_server: asyncio.Server | None = None
        self._udp_transport: asyncio.DatagramTransport | None = None
        self._batcher_task: asyncio.Task | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task] = set()
        self._stopped = asyncio.Event()
        self._stopping = False

    async def start(self) -> None:
        self._batcher_task = asyncio.create_task(self.batcher.run(), name="cot-batcher")
        if self.tcp_port is not None:
            self._tcp_server = await asyncio.start_server(self._handle_tcp, self.host, self.tcp_port)
            self.tcp_port = self._tcp_server.sockets[0].getsockname()[1]
            log.info("CoT source %s: listening on tcp://%s:%s", self.source_id, self.host, self.tcp_port)
        if self.udp_port is not None:
            loop = asyncio.get_running_loop()
            if self.udp_group:
                endpoint = {"sock": _multicast_socket(self.udp_group, self.host, self.udp_port)}
            else:
                endpoint = {"local_addr": (self.host, self.udp_port)}
            transport, _ = await loop.create_datagram_endpoint(lambda: _DatagramProtocol(self.batcher), **endpoint)
            self._udp_transport = transport
            self.udp_port = transport.get_extra_info("sockname")[1]
            where = f"{self.udp_group} (multicast, joined on {self.host})" if self.udp_group else self.host
            log.info("CoT source %s: listening on udp://%s:%s", self.source_id, where, self.udp_port)

    async def serve_forever(self) -> None:
        """Run until `stop()` (the management command calls it on SIGINT/SIGTERM)."""
        await self._stopped.wait()

    async def stop(self) -> None:
        """Close the sockets, then hand on what is still waiting, so a restart loses no received event."""
        if self._stopping:  # a second Ctrl-C while the last batch is written
            await self._stopped.wait()
            return
        self._stopping = True
        if self._tcp_server is not None:
            self._tcp_server.close()
        if self._udp_transport is not None:
            self._udp_transport.close()
        for writer in list(self._connections):
            writer.close()
        # Closed connections hand their unfinished event on as they end; wait so the last flush has it.
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=5.0)
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
        if self._batcher_task is not None:
            self._batcher_task.cancel()
            with suppress(asyncio.CancelledError):
                await self._batcher_task
        await self.batcher.flush()
        await asyncio.to_thread(self.batcher.close)
        self._stopped.set()

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if len(self._connections) >= self.max_connections:
            log.warning("CoT source %s: refusing %s, %d connections open", self.source_id, peer, self.max_connections)
            writer.close()
            return
        self._connections.add(writer)
        handler = asyncio.current_task()  # start_server runs each client in a task of its own
        if handler is not None:
            self._handlers.add(handler)
        stream = EventStream(max_frame=min(self.max_buffer, MAX_FRAME))  # the adapter re-frames with MAX_FRAME
        try:
            if self.offer_protobuf:
                writer.write(takp_support())
            while True:
                chunk = await asyncio.wait_for(reader.read(READ_SIZE), self.idle_timeout)
                if not chunk:
                    self.batcher.add(stream.close())
                    break
                pieces = stream.feed(chunk)
                if any(_TAKP_REQUEST.search(piece[:400]) for piece in pieces if piece[:1] == b"<"):
                    # The client asks to switch to TAK protocol 1; the framing takes either, so say yes.
                    writer.write(takp_response())
                self.batcher.add(pieces)
                if len(stream.buffer) > self.max_buffer:
                    # No real event is this large; a client that never closes one would hold memory forever.
                    self.dropped_connections += 1
                    log.warning(
                        "CoT source %s: dropping %s, an unfinished event passed %d bytes",
                        self.source_id,
                        peer,
                        self.max_buffer,
                    )
                    break
        except TimeoutError:
            log.info("CoT source %s: closing %s after %.0f s of silence", self.source_id, peer, self.idle_timeout)
        except (ConnectionError, OSError) as exc:
            log.info("CoT source %s: connection from %s failed: %s", self.source_id, peer, exc)
        finally:
            self._connections.discard(writer)
            if handler is not None:
                self._handlers.discard(handler)
            writer.close()
            with suppress(ConnectionError, OSError):
                await writer.wait_closed()
