"""The CoT listener with the production ingest, fed by real TAK traffic: the real `pytak` client over TCP
and UDP (XML and TAK protocol), the TAK protocol negotiation, takproto's mesh vector, and the 887-event
FreeTAKServer capture streamed over TCP with every event accounted for (issue 11).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from configparser import ConfigParser

import pytak
import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from apps.feeds import listeners
from apps.feeds.adapters.cot import mesh_to_stream
from apps.feeds.listeners import CotListener
from apps.feeds.management.commands.cot_listen import ingest
from apps.feeds.models import DeadLetter, FeedSource
from apps.units.models import Unit, UnitPosition

from .real_samples import real_sample

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS_IN_CAPTURE = 887


class RunningListener:
    """The real CotListener on free TCP and UDP ports in a background loop, ingesting as `cot_listen` does."""

    def __init__(self, source_id: int, **options) -> None:
        self.reports = []
        self.refused = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

        async def start() -> CotListener:
            listener = CotListener(self._ingest, source_id, tcp_port=0, udp_port=0, window=0.05, **options)
            await listener.start()
            return listener

        self.listener = asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)

    def _ingest(self, source_id: int, payload: bytes) -> None:
        try:
            report = ingest(source_id, payload)
        finally:
            connections.close_all()  # the worker thread's connection must not outlive the test database
        with self._lock:
            if report is None:
                self.refused += 1
            else:
                self.reports.append(report)

    def accounted(self) -> int:
        """Events the ingest has reported on: accepted, duplicates, dead letters and ignored."""
        with self._lock:
            return sum(r.accepted + r.duplicates + len(r.rejected) + sum(r.ignored.values()) for r in self.reports)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.listener.stop(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()


@pytest.fixture
def source(home):
    return FeedSource.objects.create(agency=home, name="TAK server", kind="cot", auto_create_units=True)


@pytest.fixture
def running(source):
    running = RunningListener(source.pk)
    yield running
    running.stop()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def send_tcp(port: int, data: bytes, chunk: int = 4096) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for start in range(0, len(data), chunk):
            sock.sendall(data[start : start + chunk])


# --- the real TAK client ------------------------------------------------------------------------


async def pytak_send(url: str, tak_proto: int, events: list[bytes]) -> None:
    """Send events as pytak's own TX worker does: TAK_PROTO=1 makes it convert each to TAK protocol."""
    config = ConfigParser()
    config["client"] = {"COT_URL": url, "TAK_PROTO": str(tak_proto)}
    section = config["client"]
    _, writer = await pytak.protocol_factory(section)
    worker = pytak.TXWorker(asyncio.Queue(), section, writer)
    assert worker.use_protobuf is bool(tak_proto)
    for event in events:
        await worker.send_data(event)
    writer.close()
    if hasattr(writer, "wait_closed"):
        await writer.wait_closed()


# `udp+wo`: pytak's write-only UDP (plain `udp` also binds a reader to the listener's own port).
@pytest.mark.parametrize(("scheme", "tak_proto"), [("tcp", 0), ("tcp", 1), ("udp+wo", 0), ("udp+wo", 1)])
def test_pytak_client_reaches_the_database(source, running, scheme, tak_proto):
    port = running.listener.tcp_port if scheme == "tcp" else running.listener.udp_port
    uid = f"PYTAK-{scheme[:3]}-{tak_proto}"
    call_sign = f"P-{scheme[:3]}{tak_proto}"
    fix = pytak.gen_cot(lat=47.6097, lon=-122.3331, uid=uid, cot_type="a-f-G-U-C", callsign=call_sign)
    second = pytak.gen_cot(lat=47.61, lon=-122.34, uid=uid + "-2", cot_type="a-f-G-U-C", callsign="P-2")
    asyncio.run(pytak_send(f"{scheme}://127.0.0.1:{port}", tak_proto, [fix, pytak.hello_event(), second]))

    wait_for(lambda: running.accounted() == 3)
    unit = Unit.objects.get(agency=source.agency, identities__external_id=uid)
    assert unit.call_sign == call_sign
    assert unit.last_location.coords == pytest.approx((-122.3331, 47.6097))
    assert UnitPosition.objects.filter(unit__agency=source.agency).count() == 2
    source.refresh_from_db()
    # pytak's hello is a `t-x-d-d` control event: counted as ignored, not a dead letter.
    assert (source.accepted_count, source.rejected_count, source.ignored_count) == (2, 0, 1)


# --- TAK protocol on the wire ------------------------------------------------------------------


def test_tak_protocol_negotiation_is_answered_and_protobuf_follows_on_the_same_connection(source, running):
    request = (
        b'<event version="2.0" uid="ANDROID-1" type="t-x-takp-q" time="2024-05-01T12:00:00Z" '
        b'start="2024-05-01T12:00:00Z" stale="2024-05-01T12:01:00Z" how="m-g"><point lat="0" lon="0" hae="0" '
        b'ce="999999" le="999999"/><detail><TakControl><TakRequest version="1"/></TakControl></detail></event>'
    )
    with socket.create_connection(("127.0.0.1", running.listener.tcp_port)) as sock:
        sock.settimeout(5)
        sock.sendall(request)
        reply = b""
        while b"</event>" not in reply:
            reply += sock.recv(4096)
        assert b'type="t-x-takp-r"' in reply and b'<TakResponse status="true"/>' in reply
        sock.sendall(real_sample("cot", "takproto_v1_stream_a-f-G-E-V-C.bin").read_bytes())
    wait_for(lambda: running.accounted() == 2)
    assert Unit.objects.get(identities__external_id="aa0b0312-b5cd-4c2c-bbbc-9c4c70216261").call_sign == "Eliopoli HQ"
    source.refresh_from_db()
    assert (source.accepted_count, source.ignored_count) == (1, 1)  # the request itself is ignored


def test_offer_protobuf_announces_support_to_each_new_connection(source):
    running = RunningListener(source.pk, offer_protobuf=True)
    try:
        with socket.create_connection(("127.0.0.1", running.listener.tcp_port)) as sock:
            sock.settimeout(5)
            announcement = b""
            while b"</event>" not in announcement:
                announcement += sock.recv(4096)
        assert b'type="t-x-takp-v"' in announcement and b'<TakProtocolSupport version="1"/>' in announcement
    finally:
        running.stop()


def test_mesh_datagram_over_udp_is_stored(source, running):
    mesh = real_sample("cot", "takproto_v1_mesh_a-f-G-E-V-C.bin").read_bytes()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(mesh, ("127.0.0.1", running.listener.udp_port))
    wait_for(lambda: running.accounted() == 1)
    assert Unit.objects.filter(identities__external_id="aa0b0312-b5cd-4c2c-bbbc-9c4c70216261").exists()


def test_garbage_and_undecodable_frames_are_counted_dead_letters(source, running):
    good = real_sample("cot", "takproto_v1_stream_a-f-G-E-V-C.bin").read_bytes()
    send_tcp(running.listener.tcp_port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + good + b"\xbf\x03\xff\xff\xff")
    wait_for(lambda: running.accounted() == 3)
    reasons = sorted(DeadLetter.objects.filter(source=source).values_list("reason", flat=True))
    assert len(reasons) == 2
    assert reasons[0].startswith("TAK protocol message is not a valid TakMessage protobuf")
    assert reasons[1] == "not CoT: 23 bytes that are neither XML events nor TAK frames"
    # A batch with nothing readable in it (one noise datagram) is refused whole: one dead letter for it.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"\x00\x01\x02 binary noise", ("127.0.0.1", running.listener.udp_port))
    wait_for(lambda: running.refused == 1)
    refused = DeadLetter.objects.get(source=source, index=-1)
    assert refused.reason == (
        "no readable CoT event in payload: not CoT: 16 bytes that are neither XML events nor TAK frames"
    )
    source.refresh_from_db()
    assert (source.accepted_count, source.rejected_count) == (1, 3)


# --- the 887-event capture ---------------------------------------------------------------------


def test_real_887_event_capture_over_tcp_is_fully_accounted_for(source, running):
    capture = real_sample("cot", "fts_capture_session_2020-02-08_concatenated.xml").read_bytes()
    send_tcp(running.listener.tcp_port, capture)

    wait_for(lambda: running.accounted() >= EVENTS_IN_CAPTURE, timeout=60)
    assert running.refused == 0
    accepted = sum(r.accepted + r.duplicates for r in running.reports)
    rejected = [r for report in running.reports for r in report.rejected]
    ignored = sum(sum(r.ignored.values()) for r in running.reports)
    assert accepted + len(rejected) + ignored == EVENTS_IN_CAPTURE
    assert DeadLetter.objects.filter(source=source).count() == len(rejected)
    source.refresh_from_db()
    assert source.rejected_count == len(rejected)

    no_fix = [r for r in rejected if "missing fix (no GPS fix: hae 9999999)" in r.reason]
    assert len(no_fix) == 474  # ATAK and WinTAK before their first fix report ~(-0.004, -0.008)
    assert accepted == 265 and ignored == 0
    markers = [r for r in rejected if "is not a friendly ground, air or surface unit" in r.reason]
    assert len(markers) == 137  # hostile and unknown markers placed on the map, not units
    assert UnitPosition.objects.filter(unit__agency=source.agency).count() > 0


def _multicast_loops_back(group: str) -> bool:
    """Whether this host delivers its own multicast to a member socket (not in every sandbox)."""
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as member,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
    ):
        try:
            member.bind((group, 0))
            member.setsockopt(
                socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(group) + socket.inet_aton("0.0.0.0")
            )
            member.settimeout(1)
            sender.sendto(b"probe", (group, member.getsockname()[1]))
            return member.recv(16) == b"probe"
        except OSError:
            return False


def test_pytak_multicast_mesh_sa_is_received_on_the_group(source, monkeypatch):
    # pytak sends TAK protocol to a multicast group with mesh framing (bf 01 bf), as ATAK's mesh SA does.
    group = "239.2.3.1"
    if not _multicast_loops_back(group):
        pytest.skip("this host does not loop multicast back to its own sockets")
    datagrams: list[bytes] = []

    def seen(datagram: bytes) -> bytes:
        datagrams.append(datagram)
        return mesh_to_stream(datagram)

    monkeypatch.setattr(listeners, "mesh_to_stream", seen)
    running = RunningListener(source.pk, host="0.0.0.0", udp_group=group)
    try:
        fix = pytak.gen_cot(lat=47.6097, lon=-122.3331, uid="MESH-1", cot_type="a-f-G-U-C", callsign="MESH-1")
        asyncio.run(pytak_send(f"udp+wo://{group}:{running.listener.udp_port}", 1, [fix]))
        wait_for(lambda: running.accounted() == 1)
    finally:
        running.stop()
    assert [d[:3] for d in datagrams] == [b"\xbf\x01\xbf"]
    assert Unit.objects.get(identities__external_id="MESH-1").last_location is not None


def test_command_refuses_a_bad_multicast_setup(source):
    with pytest.raises(CommandError, match="--multicast needs --udp PORT"):
        call_command("cot_listen", "--source", str(source.pk), "--tcp", "0", "--multicast", "239.2.3.1")
    with pytest.raises(CommandError, match="10.0.0.1 is not a multicast address"):
        call_command("cot_listen", "--source", str(source.pk), "--udp", "0", "--multicast", "10.0.0.1")
