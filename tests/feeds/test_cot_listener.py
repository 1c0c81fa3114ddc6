"""The CoT listener over real sockets on free loopback ports; only the database write is a test double."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable

import pytest
from django.core.management import CommandError, call_command

from apps.feeds.adapters.cot import CursorOnTargetAdapter, frame_events
from apps.feeds.listeners import CotListener
from apps.feeds.management.commands.cot_listen import Command, ingest
from apps.feeds.models import DeadLetter, FeedSource
from apps.units.choices import UnitKind
from apps.units.models import Unit

from .test_adapters_avl import cot_event, payload

SOURCE_ID = 42
WINDOW = 0.05


class Collector:
    """Stands in for feed_ingest: records each call (it runs on the listener's worker thread)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.calls: list[tuple[int, bytes]] = []
        self.threads: set[str] = set()
        self._fail_first = fail_first
        self._lock = threading.Lock()

    def __call__(self, source_id: int, payload: bytes) -> None:
        with self._lock:
            self.threads.add(threading.current_thread().name)
            if self._fail_first:
                self._fail_first -= 1
                raise RuntimeError("database is down")
            self.calls.append((source_id, payload))

    @property
    def events(self) -> list[bytes]:
        with self._lock:
            return [event for _, body in self.calls for event in frame_events(body, final=True)[0]]


async def wait_for(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def run(scenario: Callable[[CotListener, Collector], Awaitable[None]], collector: Collector | None = None, **options):
    """Start a listener on free TCP and UDP ports, run the scenario against it, stop it."""
    collector = collector or Collector()

    async def main() -> None:
        listener = CotListener(collector, SOURCE_ID, tcp_port=0, udp_port=0, window=WINDOW, **options)
        await listener.start()
        try:
            await scenario(listener, collector)
        finally:
            await listener.stop()

    asyncio.run(main())
    return collector


async def connect(listener: CotListener) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", listener.tcp_port)


class _ends_or_resets:
    """The server closing a connection with unread data may show as EOF or as a reset."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        return kind is not None and issubclass(kind, ConnectionError)


def events(*uids: str) -> list[bytes]:
    return [cot_event(uid=uid).encode() for uid in uids]


def test_tcp_events_split_across_sends_and_several_in_one_send():
    a, b, c = events("A", "B", "C")

    async def scenario(listener: CotListener, collector: Collector) -> None:
        _, writer = await connect(listener)
        for part in (a[:10], a[10:95], a[95:]):  # one event in three sends, the first ends mid-tag
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.02)
        await wait_for(lambda: len(collector.events) == 1)
        writer.write(b"\n" + b + b"\n" + c + b"\n")
        await writer.drain()
        await wait_for(lambda: len(collector.events) == 3)
        writer.close()

    collector = run(scenario)
    assert collector.events == [a, b, c]
    assert {source for source, _ in collector.calls} == {SOURCE_ID}
    # B and C arrived together and went to ingest as one payload.
    assert len(collector.calls) == 2
    # Every batch is written from the same worker thread (one database connection, arrival order).
    [thread] = collector.threads
    assert thread.startswith("cot-ingest")


def test_tcp_byte_by_byte_sender():
    body = payload("cot_stream.xml")

    async def scenario(listener: CotListener, collector: Collector) -> None:
        _, writer = await connect(listener)
        writer.transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(body), 7):
            writer.write(body[i : i + 7])
            await writer.drain()
        await wait_for(lambda: len(collector.events) == 7)
        writer.close()

    collector = run(scenario)
    assert collector.events == frame_events(body, final=True)[0]


def test_tcp_garbage_between_events_is_handed_on_to_be_rejected():
    a, b = events("A", "B")
    noise = b"\r\n<?xml version='1.0' encoding='UTF-8'?>\x00\xffjunk<eventsX>no</eventsX>\n"

    async def scenario(listener: CotListener, collector: Collector) -> None:
        _, writer = await connect(listener)
        writer.write(noise + a + noise + noise + b + noise)
        await writer.drain()
        await wait_for(lambda: len(collector.events) == 5)
        writer.close()

    collector = run(scenario)
    # Each contiguous run of garbage is one piece (declarations inside a run stay in it).
    junk = b"\x00\xffjunk<eventsX>no</eventsX>"
    assert [e if e in (a, b) else e.startswith(junk) for e in collector.events] == [True, a, True, b, True]


def test_tcp_oversize_unfinished_event_drops_the_connection():
    a, b = events("A", "B")

    async def scenario(listener: CotListener, collector: Collector) -> None:
        reader, writer = await connect(listener)
        writer.write(a + b'<event uid="endless" type="a-f-G"><detail><remarks>' + b"x" * 10_000)
        await writer.drain()
        with _ends_or_resets():
            assert await asyncio.wait_for(reader.read(), 3.0) == b""
        assert listener.dropped_connections == 1
        # The listener itself goes on: a new connection is served.
        _, writer2 = await connect(listener)
        writer2.write(b)
        await writer2.drain()
        await wait_for(lambda: len(collector.events) == 2)
        writer2.close()

    collector = run(scenario, max_buffer=4096)
    assert collector.events == [a, b]  # the oversize event is not handed on


def test_tcp_event_cut_off_by_hang_up_is_handed_on_to_be_rejected():
    a = events("A")[0]
    cut = cot_event(uid="B").encode()[:120]

    async def scenario(listener: CotListener, collector: Collector) -> None:
        _, writer = await connect(listener)
        writer.write(a + b"\n" + cut)
        await writer.drain()
        writer.close()
        await wait_for(lambda: len(collector.events) == 2)

    collector = run(scenario)
    assert collector.events == [a, cut]
    result = CursorOnTargetAdapter().parse(b"\n".join(body for _, body in collector.calls))
    assert [r.unit_ref for r in result.records] == ["A"]
    assert len(result.rejected) == 1 and "not well-formed" in result.rejected[0].reason


def test_udp_one_or_more_events_per_datagram():
    a, b, c = events("A", "B", "C")

    async def scenario(listener: CotListener, collector: Collector) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"<?xml version='1.0'?>" + a + b"\n" + b, ("127.0.0.1", listener.udp_port))
            sock.sendto(c, ("127.0.0.1", listener.udp_port))
            sock.sendto(b"not cot at all", ("127.0.0.1", listener.udp_port))
        await wait_for(lambda: len(collector.events) == 4)

    collector = run(scenario)
    # The garbage datagram is handed on too, for the adapter to reject with its reason.
    assert sorted(collector.events) == sorted([a, b, c, b"not cot at all"])


def test_recorded_stream_over_tcp_parses_like_the_file():
    body = payload("cot_stream.xml")

    async def scenario(listener: CotListener, collector: Collector) -> None:
        _, writer = await connect(listener)
        for start, end in ((0, 333), (333, 1000), (1000, 1001), (1001, len(body))):
            writer.write(body[start:end])
            await writer.drain()
            await asyncio.sleep(0.01)
        await wait_for(lambda: len(collector.events) == 7)
        writer.close()

    collector = run(scenario)
    received = [CursorOnTargetAdapter().parse(body) for _, body in collector.calls]
    direct = CursorOnTargetAdapter().parse(body)
    assert [r for result in received for r in result.records] == direct.records


def test_failed_ingest_does_not_stop_the_listener():
    a, b = events("A", "B")

    async def scenario(listener: CotListener, collector: Collector) -> None:
        _, writer = await connect(listener)
        writer.write(a)
        await writer.drain()
        await wait_for(lambda: listener.batcher.failed_batches == 1)
        writer.write(b)
        await writer.drain()
        await wait_for(lambda: len(collector.events) == 1)
        writer.close()

    collector = run(scenario, collector=Collector(fail_first=1))
    assert collector.events == [b]


def test_stop_hands_on_what_is_still_waiting():
    a = events("A")[0]
    collector = Collector()

    async def main() -> None:
        listener = CotListener(collector, SOURCE_ID, tcp_port=0, window=60.0)
        await listener.start()
        _, writer = await connect(listener)
        writer.write(a)
        await writer.drain()
        await wait_for(lambda: listener.batcher.pending == 1)
        assert collector.calls == []
        await listener.stop()
        writer.close()

    asyncio.run(main())
    assert collector.events == [a]


def test_idle_and_surplus_connections_are_closed():
    async def scenario(listener: CotListener, collector: Collector) -> None:
        reader, _ = await connect(listener)
        await asyncio.sleep(0.05)
        reader2, _ = await connect(listener)  # over max_connections: closed at once
        assert await asyncio.wait_for(reader2.read(), 2.0) == b""
        assert await asyncio.wait_for(reader.read(), 2.0) == b""  # idle past the timeout

    run(scenario, idle_timeout=0.3, max_connections=1)


def test_listener_needs_a_port():
    with pytest.raises(ValueError):
        CotListener(Collector(), SOURCE_ID)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "1"], "give --tcp PORT, --udp PORT or both"),
        (["--source", "1", "--tcp", "70000"], "--tcp must be a port number"),
        (["--source", "1", "--udp", "-1"], "--udp must be a port number"),
        (["--source", "1", "--tcp", "0", "--max-buffer", "10"], "--max-buffer"),
    ],
)
def test_command_checks_its_options(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("cot_listen", *args)


# --- The command against the database: its source check and the production ingest ---------------


@pytest.mark.django_db
def test_command_refuses_a_source_it_cannot_feed(home):
    gtfs = FeedSource.objects.create(agency=home, name="Transit", kind="gtfs_rt")
    disabled = FeedSource.objects.create(agency=home, name="Old TAK", kind="cot", enabled=False)
    for source_id, message in ((999_999, "does not exist"), (disabled.pk, "disabled"), (gtfs.pk, "of kind 'gtfs_rt'")):
        with pytest.raises(CommandError, match=message):
            call_command("cot_listen", "--source", str(source_id), "--tcp", "0")


# transaction=True: the production ingest resets the worker thread's connection between batches, which
# inside a test's wrapping transaction would mark that transaction broken.
@pytest.mark.django_db(transaction=True)
def test_production_ingest_stores_the_units_positions(home, caplog):
    source = FeedSource.objects.create(agency=home, name="TAK server", kind="cot", auto_create_units=True)

    ingest(source.pk, payload("cot_stream.xml"))

    units = {u.call_sign: u for u in Unit.objects.filter(agency=home)}
    assert set(units) == {"ADAM-12", "BAKER-3", "GUARDIAN-1"}
    assert units["ADAM-12"].identities.get().external_id == "ANDROID-0a1b2c3d4e5f6071"  # the source's id for it
    assert units["ADAM-12"].last_location.coords == pytest.approx((-122.3331, 47.6097))
    assert units["GUARDIAN-1"].kind == UnitKind.AIR
    source.refresh_from_db()
    # The marker, the unknown point and the chat are dead letters; the ping is counted as ignored.
    assert (source.accepted_count, source.rejected_count, source.ignored_count) == (3, 3, 1)

    # A batch with nothing readable is a dead letter and a warning, not an exception in the listener.
    ingest(source.pk, b'<event uid="cut" type="a-f-G" time="2024-05-01T12:00:00Z"><point lat="47.6"')
    assert "batch refused" in caplog.text
    assert DeadLetter.objects.filter(source=source, index=-1).exists()


def test_command_serves_until_sigterm_and_flushes():
    collector = Collector()
    listener = CotListener(collector, SOURCE_ID, tcp_port=0, window=60.0)
    out = io.StringIO()
    a = events("A")[0]

    async def main() -> None:
        serving = asyncio.create_task(Command(stdout=out)._serve(listener))
        # The signal handlers are installed in the same step that prints the banner.
        await wait_for(lambda: "CoT listener for source 42 on tcp://127.0.0.1:" in out.getvalue())
        _, writer = await connect(listener)
        writer.write(a)
        await writer.drain()
        await wait_for(lambda: listener.batcher.pending == 1)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 5.0)
        writer.close()

    asyncio.run(main())
    assert collector.events == [a]
    assert "stopped: 1 events delivered" in out.getvalue()
