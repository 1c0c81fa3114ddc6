"""The live demo simulator: the records it produces on a simulated clock, and one end-to-end run against
a live server, where everything has to arrive through the real feed endpoints."""

from __future__ import annotations

import asyncio
import io
import math
import random
import socket
import threading
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from apps.accounts.models import Agency
from apps.alpr.models import AlprRead
from apps.demo import city
from apps.demo.simulator import (
    KNOT,
    MAX_SPEED,
    NOT_DISPATCHED,
    SLOW_KINDS,
    CallEvent,
    CotClient,
    FixEvent,
    HttpTransport,
    OpenCall,
    Outgoing,
    ReadEvent,
    ShotEvent,
    SimConfig,
    Simulator,
    Stream,
    StreetGrid,
    World,
    run,
    world_from_spec,
)
from apps.demo.sources import DEMO_SOURCES, demo_sources_ensure, demo_tokens_issue
from apps.feeds.adapters.base import IncidentRecord, get_adapter
from apps.feeds.adapters.cot import frame_events
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_source_for_token
from apps.incidents.models import Incident
from apps.units.models import Unit, UnitPosition

from . import factories as f

# Friday 09:00 in Seattle: an ordinary weekday morning.
MORNING = datetime(2026, 3, 6, 17, 0, tzinfo=UTC)
KINDS = {Stream.CAD: "cad_json", Stream.ALPR: "alpr_json", Stream.GUNSHOT: "gunshot_json", Stream.CAP: "cap"}
KINDS |= {Stream.OSMAND: "osmand", Stream.COT: "cot"}


@pytest.fixture(scope="module")
def spec() -> city.CitySpec:
    return city.load_spec()


@pytest.fixture(scope="module")
def grid(spec) -> StreetGrid:
    return StreetGrid(spec.outline)


def simulate(spec, grid, *, minutes: float, start=MORNING, world=None, config=None, seed=5, speed=1.0):
    messages: list[Outgoing] = []
    sim = Simulator(
        spec=spec,
        world=world or world_from_spec(spec, random.Random(1)),
        start=start,
        send=messages.append,
        seed=seed,
        config=config,
        speed=speed,
        grid=grid,
    )
    sim.advance(start + timedelta(minutes=minutes))
    return sim, messages


@pytest.fixture(scope="module")
def morning(spec, grid):
    """Forty-five simulated minutes of every stream."""
    return simulate(spec, grid, minutes=45)


def parse(msg: Outgoing):
    adapter = get_adapter(KINDS[msg.stream])
    if msg.stream == Stream.OSMAND:
        return adapter.parse(b"", params=msg.query)
    return adapter.parse(msg.body, content_type=msg.content_type)


def calls_of(messages) -> dict[str, list[tuple[Outgoing, IncidentRecord]]]:
    calls: dict[str, list[tuple[Outgoing, IncidentRecord]]] = defaultdict(list)
    for m in messages:
        if m.stream == Stream.CAD:
            (record,) = parse(m).records
            calls[record.cad_number].append((m, record))
    return calls


# --- the event stream ------------------------------------------------------------------------------


def test_every_message_is_accepted_by_its_real_adapter(morning):
    _, messages = morning
    per_stream = Counter(m.stream for m in messages)
    # Every stream speaks within 45 minutes, AVL the most.
    assert set(per_stream) == set(Stream)
    assert per_stream[Stream.OSMAND] > per_stream[Stream.ALPR] > per_stream[Stream.CAD] > per_stream[Stream.CAP]
    for m in messages:
        result = parse(m)
        assert result.rejected == [], (m.stream, result.rejected, m.body[:300])
        assert len(result.records) == 1
    fix = next(m for m in messages if m.stream == Stream.OSMAND and m.event.speed > 0)
    (record,) = parse(fix).records
    assert record.unit_ref == fix.event.call_sign
    assert record.speed == pytest.approx(fix.event.speed, abs=0.06)  # sent in knots, read back in m/s
    assert float(fix.query["speed"]) == pytest.approx(fix.event.speed / KNOT, abs=0.06)
    cot = next(m for m in messages if m.stream == Stream.COT)
    (record,) = parse(cot).records
    assert record.unit_ref == record.call_sign == cot.event.call_sign


def test_calls_follow_the_types_places_and_rhythm_of_the_fixture(spec, grid, morning):
    _, messages = morning
    types = {t.code: t for t in spec.types}
    calls = calls_of(messages)
    assert 30 <= len(calls) <= 110  # 45 minutes at one call every ~20-70 s
    for updates in calls.values():
        for _, record in updates:
            itype = types[record.type_code]
            assert (record.priority, record.type_description) == (itype.priority, itype.description)
            assert spec.outline.contains(record.lon, record.lat)
            assert " block of " in record.address
    # CAD numbers run on from the world's counter, one per call, in call order.
    first = [updates[0][1] for updates in calls.values()]
    assert [r.cad_number for r in sorted(first, key=lambda r: r.received_at)] == sorted(calls)
    assert min(calls) == "DEMO-2026-000001"

    def new_calls(start: datetime) -> int:
        _, out = simulate(spec, grid, minutes=120, start=start, config=SimConfig(streams=frozenset({Stream.CAD})))
        return len(calls_of(out))

    # 04:00 on a Tuesday against 18:00 on a Friday (local): the hour and weekday weights drive the rate.
    night, evening = (
        new_calls(datetime(2026, 3, 3, 12, 0, tzinfo=UTC)),
        new_calls(datetime(2026, 3, 7, 2, 0, tzinfo=UTC)),
    )
    assert evening > 2.5 * night > 0


def test_a_call_goes_pending_dispatched_on_scene_closed(morning):
    _, messages = morning
    order = ["pending", "dispatched", "on_scene", "closed"]
    complete = 0
    for cad_number, updates in calls_of(messages).items():
        statuses = [r.status for _, r in updates]
        assert statuses[0] == "pending"
        assert [order.index(s) for s in statuses] == sorted(order.index(s) for s in statuses), cad_number
        assert len(set(statuses)) == len(statuses)  # one update per step: nothing is sent twice
        last = updates[-1][1]
        if statuses != order:
            continue
        complete += 1
        assert last.received_at <= last.dispatched_at <= last.on_scene_at <= last.closed_at
        (unit,) = last.unit_refs
        texts = [n.text for n in last.narrative]
        assert f"Dispatched {unit}" in texts and f"{unit} on scene" in texts
        assert len(texts) >= 4  # the call taker's line(s), dispatch, arrival, disposition
    assert complete >= 10


def test_the_nearest_available_unit_is_dispatched(spec, grid, morning):
    sim, messages = morning
    kinds = {u["call_sign"]: u["kind"] for u in spec.params["units"]}
    busy: dict[str, str] = {}  # call sign -> the call holding it, followed from the stream alone
    dispatches = 0
    for m in messages:
        if not isinstance(m.event, CallEvent):
            continue
        e = m.event
        if e.status == "dispatched":
            dispatches += 1
            available = {cs for cs, kind in kinds.items() if kind not in NOT_DISPATCHED and cs not in busy}
            etas = dict(e.candidates)
            # Every available car was considered; only foot and bike officers too far away were not.
            assert set(etas) <= available
            assert all(kinds[cs] in SLOW_KINDS for cs in available - set(etas))
            (chosen,) = e.units
            assert etas[chosen] == min(etas.values())
            busy[chosen] = e.cad_number
        elif e.status == "closed":
            for cs in e.units:
                busy.pop(cs, None)
    assert dispatches >= 15
    # The unit drives to the call and parks on its street corner until the call is closed.
    steps = {(m.event.cad_number, m.event.status): m for m in messages if isinstance(m.event, CallEvent)}
    cad_number = next(n for n, status in steps if status == "closed" and (n, "on_scene") in steps)
    dispatched, arrived, closed = (steps[cad_number, s] for s in ("dispatched", "on_scene", "closed"))
    (cs,) = dispatched.event.units
    fixes = [m for m in messages if isinstance(m.event, FixEvent) and m.event.call_sign == cs]
    assert {m.event.state for m in fixes if dispatched.at < m.at < arrived.at} == {"responding"}
    parked = [m.event for m in fixes if arrived.at < m.at < closed.at]
    corner = grid.xy(grid.snap(*grid.to_xy(arrived.event.lon, arrived.event.lat)))
    assert parked and all(e.state == "on_scene" and e.speed == 0 for e in parked)
    assert all(math.dist(grid.to_xy(e.lon, e.lat), corner) < 1 for e in parked)


def test_units_drive_the_street_grid_inside_the_city_at_plausible_speeds(spec, grid, morning):
    _, messages = morning
    tracks: dict[str, list[tuple[datetime, FixEvent]]] = defaultdict(list)
    for m in messages:
        if isinstance(m.event, FixEvent):
            tracks[m.event.call_sign].append((m.at, m.event))
    assert set(tracks) == {u["call_sign"] for u in spec.params["units"]}
    moved = 0
    for call_sign, track in tracks.items():
        travelled = 0.0
        for (t0, a), (t1, b) in zip(track, track[1:], strict=False):
            assert spec.outline.contains(b.lon, b.lat), (call_sign, b)
            x, y = grid.to_xy(b.lon, b.lat)
            # On a street: x or y is on a grid line (to half a metre, after rounding to 1e-6 degrees).
            on_line = max(abs((x / grid.block - 0.5) % 1 - 0.5), abs((y / grid.block - 0.5) % 1 - 0.5))
            assert on_line > 0.495, (call_sign, b)
            step = city.distance_m(a.lon, a.lat, b.lon, b.lat)
            seconds = (t1 - t0).total_seconds()
            assert 0 < seconds <= 75
            assert b.speed <= MAX_SPEED
            assert step <= MAX_SPEED * seconds + 1.0, (call_sign, step, seconds)
            if a.speed > 0 and b.speed > 0:
                assert 3.0 <= seconds <= 5.0  # a moving unit reports every 3-5 s
            travelled += step
        moved += travelled > 1000
    assert moved >= len(tracks) - 3  # nearly everyone covers ground in 45 minutes


def test_it_carries_on_with_the_calls_and_units_the_loader_left(spec, grid):
    base = world_from_spec(spec, random.Random(1))
    units = {u.call_sign: u for u in base.units}
    units["2W12"] = replace(units["2W12"], status="out_of_service")
    units["2D11"] = replace(units["2D11"], status="dispatched")
    units["2C11"] = replace(units["2C11"], status="on_scene", lon=-122.3208, lat=47.6155)
    earlier = MORNING - timedelta(minutes=10)
    common = {"type_code": "ASSAULT", "description": "Assault", "priority": 2, "address": "100 block of Pine St"}
    opened = (
        OpenCall("DEMO-2026-000100", status="pending", lon=-122.3375, lat=47.611, received_at=earlier, **common),
        OpenCall(
            "DEMO-2026-000101",
            status="dispatched",
            lon=-122.3445,
            lat=47.613,
            received_at=earlier,
            dispatched_at=earlier,
            units=("2D11",),
            **common,
        ),  # fmt: skip
        OpenCall(
            "DEMO-2026-000102",
            status="on_scene",
            lon=-122.3208,
            lat=47.6155,
            received_at=earlier,
            dispatched_at=earlier,
            on_scene_at=earlier,
            units=("2C11",),
            **common,
        ),  # fmt: skip
    )
    world = replace(base, units=tuple(units.values()), open_calls=opened, next_cad={2026: 103})
    _, messages = simulate(spec, grid, minutes=20, world=world)
    calls = calls_of(messages)
    statuses = {
        n: [r.status for _, r in calls[n]] for n in ("DEMO-2026-000100", "DEMO-2026-000101", "DEMO-2026-000102")
    }
    assert statuses["DEMO-2026-000100"][:1] == ["dispatched"]
    assert statuses["DEMO-2026-000101"] == ["on_scene", "closed"]
    assert statuses["DEMO-2026-000102"] == ["closed"]
    # Their original times are kept; new calls take the next numbers.
    assert calls["DEMO-2026-000102"][-1][1].received_at == earlier
    assert min(n for n in calls if n not in statuses) == "DEMO-2026-000103"
    parked = [m.event for m in messages if isinstance(m.event, FixEvent) and m.event.call_sign == "2W12"]
    assert {(e.lon, e.lat, e.speed) for e in parked} == {(parked[0].lon, parked[0].lat, 0.0)}
    assert all("2W12" not in m.event.units for m in messages if isinstance(m.event, CallEvent))


def test_hotlist_hits_come_at_the_configured_rate(spec, grid):
    world = world_from_spec(spec, random.Random(1))
    config = SimConfig(streams=frozenset({Stream.ALPR}))
    _, messages = simulate(spec, grid, minutes=600, world=world, config=config)
    reads = [m.event for m in messages]
    assert all(isinstance(r, ReadEvent) for r in reads)
    assert 13_000 <= len(reads) <= 15_800  # one every 2.5 s on average
    hot = {p for p, _ in world.hotlist}
    hits = [r for r in reads if r.hit]
    assert 40 <= len(hits) <= 110  # 1 in 200: about 72
    assert all(r.plate in hot for r in hits) and not any(r.plate in hot for r in reads if not r.hit)
    assert {r.site for r in reads} == {s.external_id for s in world.sites}


def test_gunshot_bursts_and_alarms_are_rare_and_well_formed(spec, grid):
    config = SimConfig(streams=frozenset({Stream.GUNSHOT, Stream.CAP}))
    _, messages = simulate(spec, grid, minutes=240, config=config)
    shots = [(m.at, m.event) for m in messages if isinstance(m.event, ShotEvent)]
    bursts: dict[int, list[tuple[datetime, ShotEvent]]] = defaultdict(list)
    for at, shot in shots:
        bursts[shot.burst].append((at, shot))
    assert 22 <= len(bursts) <= 45  # every 5-10 minutes
    spots = {name: spec.hotspot(name) for name, _ in spec.params["gunshots"]["hotspots"]}
    for burst in bursts.values():
        assert 1 <= len(burst) <= 3
        (t0, first), (t1, _) = burst[0], burst[-1]
        assert (t1 - t0).total_seconds() <= 60
        assert all(city.distance_m(first.lon, first.lat, s.lon, s.lat) < 200 for _, s in burst)
        spot = spots[first.hotspot]
        assert city.distance_m(first.lon, first.lat, spot.lon, spot.lat) < 4 * 350 + 200
    assert len({s.source_id for _, s in shots}) == len(shots)
    alarms = [m for m in messages if m.stream == Stream.CAP]
    assert 18 <= len(alarms) <= 32  # every 8-12 minutes
    for m in alarms:
        (record,) = parse(m).records
        assert (record.kind, record.source_id, record.title) == (m.event.kind, m.event.source_id, m.event.title)
        assert record.lon == pytest.approx(m.event.lon, abs=1e-6)


# --- the run loop and delivery ----------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: datetime):
        self.t = start

    def now(self) -> datetime:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += timedelta(seconds=seconds)


def test_run_fast_forwards_with_timestamps_on_the_wall_clock(spec, grid):
    messages: list[Outgoing] = []
    clock = FakeClock(MORNING)
    sim = Simulator(
        spec=spec,
        world=world_from_spec(spec, random.Random(1)),
        start=MORNING,
        send=messages.append,
        seed=2,
        speed=10,
        grid=grid,
    )
    lines: list[str] = []
    run(sim, clock=clock, stop=threading.Event(), duration=60, status=lambda: "status", out=lines.append)
    assert sim.now == MORNING + timedelta(minutes=10)
    assert lines == ["status", "status"]  # at 30 s, and the last one at the end
    stamps = [int(m.query["timestamp"]) / 1000 for m in messages if m.stream == Stream.OSMAND]
    # Ten simulated minutes reported within the one wall minute they took, never ahead of it.
    assert max(stamps) <= (MORNING + timedelta(seconds=60)).timestamp()
    assert max(stamps) - min(stamps) > 50
    records = [r for _, r in (u[-1] for u in calls_of(messages).values())]
    assert records and all(r.received_at <= MORNING + timedelta(seconds=60) for r in records)

    stop = threading.Event()
    stop.set()
    run(sim, clock=clock, stop=stop, out=lines.append)
    assert sim.now == MORNING + timedelta(minutes=10)


def test_transport_counts_failures_and_keeps_going(spec, grid):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    lines: list[str] = []
    transport = HttpTransport(f"http://127.0.0.1:{port}", {Stream.CAD: "rtcc_x"}, timeout=1, out=lines.append)
    _, messages = simulate(spec, grid, minutes=3, config=SimConfig(streams=frozenset({Stream.CAD, Stream.ALPR})))
    for m in messages:
        transport(m)
    assert transport.stats[Stream.CAD].failed == transport.stats[Stream.CAD].sent > 0
    assert transport.stats[Stream.ALPR].failed == transport.stats[Stream.ALPR].sent > 10
    assert any("ConnectionRefused" in line or "Errno" in line for line in lines)
    assert len(lines) <= 2 * HttpTransport.SHOWN_ERRORS  # the terminal is not flooded
    assert "rtcc_x" not in " ".join(lines)


def test_cot_fixes_go_over_one_tcp_connection(spec, grid):
    received = bytearray()
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while chunk := conn.recv(65536):
                received.extend(chunk)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    cot = CotClient("127.0.0.1", server.getsockname()[1])
    assert cot.connect()
    transport = HttpTransport("http://127.0.0.1:9", {}, cot=cot)
    _, messages = simulate(spec, grid, minutes=2, config=SimConfig(streams=frozenset({Stream.COT})))
    for m in messages:
        transport(m)
    transport.close()
    thread.join(5)
    server.close()
    events, _ = frame_events(bytes(received), final=True)
    assert len(events) == len(messages) == transport.stats[Stream.COT].sent > 30
    result = get_adapter("cot").parse(bytes(received))
    assert result.rejected == [] and {r.unit_ref for r in result.records} == {"2E31", "2R41", "2M90"}


# --- feed sources --------------------------------------------------------------------------------------


def test_demo_sources_are_ensured_and_get_fresh_tokens(db):
    agency = f.agency("DEMO")
    sources = demo_sources_ensure(agency=agency)
    assert {s.name for s in sources.values()} == {p.name for p in DEMO_SOURCES.values()}
    FeedSource.objects.filter(pk=sources[Stream.ALPR].pk).update(enabled=False, kind="cad_json")
    again = demo_sources_ensure(agency=agency)
    assert FeedSource.objects.filter(agency=agency).count() == len(DEMO_SOURCES)
    assert (again[Stream.ALPR].enabled, again[Stream.ALPR].kind) == (True, "alpr_json")
    assert again[Stream.COT].mode == "listen"

    first = demo_tokens_issue(sources=again)
    assert set(first) == set(Stream) - {Stream.COT}
    assert feed_source_for_token(first[Stream.CAD]).pk == again[Stream.CAD].pk
    second = demo_tokens_issue(sources=again)
    assert feed_source_for_token(first[Stream.CAD]) is None  # a restart revokes the previous run's tokens
    assert feed_source_for_token(second[Stream.CAD]).pk == again[Stream.CAD].pk


def test_the_world_is_read_from_the_loaded_city(db, spec):
    from apps.demo.sources import demo_world_load

    agency = f.agency("DEMO")
    f.unit(agency=agency, call_sign="2E31", kind="k9", status="dispatched")
    f.unit(agency=agency, call_sign="2U12", lon=None, lat=None)
    f.unit(agency=agency, call_sign="X99")  # not in the call-sign plan: not the simulator's to drive
    f.alpr_site(agency=agency, external_id="DEMO-ALPR-01")
    f.alpr_site(agency=agency, external_id="DEMO-MALPR-1", kind="mobile")  # moves: no fixed place to read at
    f.hotlist_entry(agency=agency, plate="ABC1234", state="WA")
    f.hotlist_entry(agency=agency, plate="OLD0001", expires_at=MORNING - timedelta(days=400))
    year = datetime.now(UTC).astimezone(ZoneInfo(spec.agency["time_zone"])).year
    call = f.incident(agency=agency, cad_number=f"DEMO-{year}-000041", status="dispatched")
    call.assigned_units.add(Unit.objects.get(call_sign="2E31"))
    f.incident(agency=agency, cad_number=f"DEMO-{year}-000040", status="closed")
    world = demo_world_load(agency=agency, spec=spec)
    assert [(u.call_sign, u.district, u.status) for u in world.units] == [
        ("2E31", "E", "dispatched"),
        ("2U12", "N", "available"),
    ]
    assert world.units[1].lon is None
    assert [s.external_id for s in world.sites] == ["DEMO-ALPR-01"]
    assert world.hotlist == (("ABC1234", "WA"),)
    (open_call,) = world.open_calls
    assert (open_call.cad_number, open_call.units) == (f"DEMO-{year}-000041", ("2E31",))
    assert world.next_cad == {year: 42}


def test_simulate_city_goes_on_without_cot_and_reports_what_fails(db):
    out = io.StringIO()
    with pytest.raises(CommandError, match="load_demo_city"):
        call_command("simulate_city", stdout=out)
    agency = f.agency("DEMO")
    f.unit(agency=agency, call_sign="2E31", kind="k9")
    f.unit(agency=agency, call_sign="2U12")
    call_command("simulate_city", print_cot_source=True, stdout=out)
    assert out.getvalue().strip() == str(FeedSource.objects.get(agency=agency, kind="cot").pk)

    with socket.socket() as s:  # a port nothing listens on, for both the server and the CoT listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = io.StringIO()
    call_command(
        "simulate_city",
        base_url=f"http://127.0.0.1:{port}",
        cot_port=port,
        cot_wait=0,
        speed=20,
        duration=0.5,
        seed=1,
        stdout=out,
    )
    log = out.getvalue()
    assert "Warning: no CoT listener" in log and "(none over CoT)" in log
    assert "osmand: URLError" in log and "problem #1" in log
    assert log.rstrip().endswith("Stopped.")


# --- end to end -------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_simulate_city_feeds_a_live_server_through_the_real_endpoints(live_server):
    call_command("load_demo_city", incidents=300, seed=7, stdout=io.StringIO())
    agency = Agency.objects.get(code="DEMO")
    sources = demo_sources_ensure(agency=agency)
    before = {
        "incidents": Incident.objects.filter(agency=agency).count(),
        "positions": UnitPosition.objects.filter(unit__agency=agency).count(),
        "reads": AlprRead.objects.filter(agency=agency).count(),
        "seen": dict(Unit.objects.filter(agency=agency).values_list("call_sign", "last_seen")),
    }
    listener, stop_listener = _cot_listener(sources[Stream.COT].pk)
    out = io.StringIO()
    try:
        call_command(
            "simulate_city",
            base_url=live_server.url,
            cot_port=listener.tcp_port,
            speed=8,
            duration=6,
            seed=3,
            stdout=out,
        )
    finally:
        stop_listener()
    log = out.getvalue()
    assert "problem #" not in log, log  # no 4xx/5xx, no rejected record
    assert "over CoT" in log and "Warning" not in log

    assert Incident.objects.filter(agency=agency).count() > before["incidents"]
    assert Incident.objects.filter(agency=agency, source="Demo CAD").exists()
    assert UnitPosition.objects.filter(unit__agency=agency).count() > before["positions"] + 100
    assert AlprRead.objects.filter(agency=agency).count() > before["reads"]
    moved = [u for u in Unit.objects.filter(agency=agency) if u.last_seen > before["seen"][u.call_sign]]
    assert len(moved) >= 20
    assert UnitPosition.objects.filter(unit__call_sign="2E31", source="Demo AVL (CoT)").exists()
    counts = {s.name: (s.accepted_count, s.rejected_count) for s in FeedSource.objects.filter(agency=agency)}
    for name in ("Demo CAD", "Demo AVL (OsmAnd)", "Demo AVL (CoT)", "Demo ALPR"):
        accepted, rejected = counts[name]
        assert accepted > 0 and rejected == 0, (name, counts[name])
    assert not DeadLetter.objects.filter(source__agency=agency).exists()


def _cot_listener(source_id: int):
    """The real CoT listener on a free port, ingesting as `manage.py cot_listen` does, in a background loop."""
    from apps.feeds.listeners import CotListener
    from apps.feeds.management.commands.cot_listen import ingest

    def ingest_and_close(source: int, payload: bytes) -> None:
        try:
            ingest(source, payload)
        finally:
            connections.close_all()  # the worker thread's connection must not outlive the test database

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start() -> CotListener:
        listener = CotListener(ingest_and_close, source_id, tcp_port=0, window=0.05)
        await listener.start()
        return listener

    listener = asyncio.run_coroutine_threadsafe(start(), loop).result(5)

    def stop() -> None:
        asyncio.run_coroutine_threadsafe(listener.stop(), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()

    return listener, stop


def test_world_from_spec_matches_the_loader_conventions(spec):
    world = world_from_spec(spec, random.Random(1))
    assert isinstance(world, World)
    assert [s.external_id for s in world.sites][:2] == ["DEMO-ALPR-01", "DEMO-ALPR-02"]
    assert len(world.units) == len(spec.params["units"])
    assert all(spec.outline.contains(u.lon, u.lat) for u in world.units)
