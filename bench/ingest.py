"""Position ingest throughput and ingest-to-map latency, through the real adapters, PostGIS and Daphne.

    .venv/bin/python bench/ingest.py            # full run (about 3-4 minutes on 2 cores)
    .venv/bin/python bench/ingest.py --quick    # small counts (under a minute)

Prints a table and writes bench/results/ingest.json. What each figure measures:

1a  feed_ingest(), called in this process, with GTFS-Realtime VehiclePositions payloads of 1, 100 and 1000
    positions spread over the bench units: protobuf parse, unit lookup, one INSERT ... SELECT FROM unnest(...)
    per payload, one UPDATE per moved unit, and publish() of every moved unit to Redis (stream + channel
    group; no map connected). Records per second of wall time. Batch 1 is the naive row-by-row path; the
    ratio batch 1000 / batch 1 is printed. Batch 1000 runs again with publish() stubbed out, to show what
    the database work alone costs. (Called from plain sync code, publish() pays for a fresh event loop per
    transaction, as in a Celery worker: one for all the events of a payload; inside Daphne it hops onto the
    server's loop.)
1b  The history insert alone, 1000 rows per transaction: ORM create() per row, ORM bulk_create(), and the
    unnest statement unit_fixes_record runs. Rows per second; nothing is moved or published.
1c  Over HTTP to our own Daphne (one process, so Django's sync views run in one thread): N closed-loop
    clients (each sends its next request when the last one answered) POST GTFS-RT batches of 100 to
    /api/feeds/push/ (Bearer token), or GET /api/feeds/osmand/<token>/ with one fix each (the phone-app
    path). Accepted records per second and request time. No map is connected.
2   Ingest-to-map latency: M WebSocket maps (session cookie, Origin header, as the browser) subscribe to
    the "units" layer; a driver sends fixes at a fixed rate (open loop: a slow answer does not slow the
    schedule) through the OsmAnd endpoint or as GTFS-RT batches. Each map records its receipt time minus
    the time the fix's request was written (one clock: everything runs on this machine). Percentiles are
    over every (map, message) pair. "published" is counted on the agency's Redis stream; each map's
    messages are counted against it. The consumer coalesces unit upserts per connection: at most one
    flush per RTCC_LIVE_COALESCE_MS (200) window, keeping only each unit's latest upsert. So at several
    updates per second a message may wait up to one window (latency), and a unit reporting more than
    once per window has its intermediate positions skipped (received < published); the last position of
    every unit always arrives (checked). The same rates are then run with coalescing off for comparison.
    The 200/s scenarios (10,000 messages/s to 50 maps) run 6 s only, as this box cannot sustain them: a
    scenario the box did not keep up with is flagged SATURATED, its latency grows with the length of the
    run and is not a steady-state figure.

Driver, maps, Daphne, PostgreSQL and Redis share this machine's cores, and so does anything else running
here: every row says how many cores Daphne, this process, the bench database's PostgreSQL backends, Redis
and everything else used meanwhile, so a figure taken on a busy machine shows it.

The run is isolated from the demo: its own database (created and migrated if missing; its position
history is emptied first), its own Redis channel/stream/cache prefixes (keys deleted at the end), its own
Daphne on a free port (stopped at the end), and DJANGO_DEBUG=0 in both processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import Any, cast
from unittest import mock
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._support import bench_base_url, ensure_database  # noqa: E402  (one copy: CREATE DATABASE, PostGIS, migrate)

RESULTS = ROOT / "bench" / "results"
CENTER = (-122.3321, 47.6062)  # lon, lat: the demo city's centre
DAY_MS = 86_400_000
REQUEST_TIMEOUT = 60.0  # seconds; a hung server fails the run instead of hanging it


@dataclass(frozen=True)
class Plan:
    """How much of each measurement to run."""

    mode: str
    ingest_records: tuple[tuple[int, int, bool], ...]  # (batch size, records, publish on) through feed_ingest
    insert_rows: int
    http_seconds: float
    latency_seconds: float


PLANS = {
    "full": Plan(
        "full", ((1, 1000, True), (100, 4000, True), (1000, 20_000, True), (1000, 20_000, False)), 10_000, 10.0, 15.0
    ),
    "quick": Plan(
        "quick", ((1, 150, True), (100, 1000, True), (1000, 3000, True), (1000, 3000, False)), 1000, 2.5, 3.0
    ),
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts, under a minute")
    parser.add_argument("--maps", type=int, default=50, help="connected WebSocket maps in the latency runs")
    parser.add_argument("--http-clients", type=int, default=8, help="concurrent HTTP clients in the throughput runs")
    parser.add_argument("--units", type=int, default=200, help="bench units the fixes are spread over")
    parser.add_argument("--database", default="rtcc_bench", help="the bench's own database (same server)")
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest.json")
    args = parser.parse_args()
    if args.units < 200:
        parser.error("--units must be at least 200 (the scenarios spread fixes over 200 units)")
    if "bench" not in args.database:
        parser.error("--database must name a bench database (its position history is emptied): include 'bench'")
    return args


# --- isolation: own database, own Redis prefixes, production settings (before Django starts) ---------


@dataclass(frozen=True)
class BenchEnv:
    database_url: str
    database: str
    conninfo: str  # the PostgreSQL server, for psycopg (add dbname)
    prefix: str  # channel layer, live streams and cache keys all start with it
    server_env: dict[str, str]


def prepare_environment(args: argparse.Namespace) -> BenchEnv:
    """Point this process (and the Daphne it starts) at the bench database and private Redis keys."""
    # The project's own default DATABASE_URL, read without importing rtcc_gis.settings (Django would
    # then reuse that module, configured for the demo database).
    main_url = bench_base_url()
    parsed = urlparse(main_url)
    if parsed.path.lstrip("/") == args.database:
        raise SystemExit(f"--database {args.database!r} is the project's own database; pick another name")
    bench_url = parsed._replace(path=f"/{args.database}").geturl()
    conninfo = ensure_database(bench_url, args.database)
    prefix = f"rtcc-bench-ingest-{os.getpid()}-{secrets.token_hex(3)}"
    overrides = {
        "DATABASE_URL": bench_url,
        "CHANNELS_PREFIX": prefix,
        "RTCC_LIVE_KEY_PREFIX": f"{prefix}:live",
        "CACHE_KEY_PREFIX": prefix,
        "DJANGO_DEBUG": "0",  # the key, hosts and plain-HTTP flags: bench._support's local_env.sh defaults
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings",
    }
    os.environ.update(overrides)
    return BenchEnv(bench_url, args.database, conninfo, prefix, dict(os.environ))


ARGS = parse_args()
PLAN = PLANS["quick" if ARGS.quick else "full"]
ENV = prepare_environment(ARGS)

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Count  # noqa: E402
from google.transit import gtfs_realtime_pb2  # noqa: E402

from apps.accounts.choices import Role  # noqa: E402
from apps.accounts.models import Agency, User  # noqa: E402
from apps.core.geo import make_point  # noqa: E402
from apps.feeds.models import DeadLetter, FeedSource  # noqa: E402
from apps.feeds.services import feed_ingest  # noqa: E402
from apps.live.streams import agency_feed, seq_of  # noqa: E402
from apps.units.models import Unit, UnitPosition  # noqa: E402
from apps.units.services import _INSERT as UNNEST_INSERT  # noqa: E402  (the statement itself is measured)

# Records each source accepted, as its answers said (checked against the database at the end).
ACCEPTED: Counter[str] = Counter()

# --- bench data --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    pk: int
    device: str
    call_sign: str


@dataclass(frozen=True)
class Bench:
    agency_id: int
    user: User
    units: list[UnitRef]
    gtfs_source_id: int
    gtfs_token: str
    osmand_source_id: int
    osmand_token: str


def bench_setup(unit_count: int) -> Bench:
    """The bench agency, its operator, units and two push sources with fresh tokens; history emptied."""
    if settings.DATABASES["default"]["NAME"] != ENV.database:
        raise SystemExit("refusing to write: Django is not connected to the bench database")
    with connection.cursor() as cur:
        cur.execute("TRUNCATE units_unitposition, feeds_deadletter")
    agency, _ = Agency.objects.get_or_create(code="BENCH", defaults={"name": "Ingest bench agency"})
    user, _ = User.objects.get_or_create(username="bench-operator", defaults={"agency": agency, "role": Role.OPERATOR})
    user.set_unusable_password()
    user.agency, user.role, user.is_active = agency, Role.OPERATOR, True
    user.save()
    existing = {u.call_sign: u for u in Unit.objects.filter(agency=agency)}
    Unit.objects.bulk_create(
        [
            Unit(agency=agency, call_sign=f"B{i:04d}", device_id=f"bench-{i:04d}")
            for i in range(unit_count)
            if f"B{i:04d}" not in existing
        ]
    )
    Unit.objects.filter(agency=agency).update(
        last_location=None, last_heading=None, last_speed=None, last_seen=None, active=True
    )
    units = [
        UnitRef(u.pk, u.device_id, u.call_sign)
        for u in Unit.objects.filter(agency=agency, call_sign__startswith="B").order_by("call_sign")[:unit_count]
    ]
    sources = {}
    for kind in ("gtfs_rt", "osmand"):
        source, _ = FeedSource.objects.update_or_create(
            agency=agency,
            name=f"bench-{kind}",
            defaults={"kind": kind, "enabled": True, "auto_create_units": False, "params": {}},
        )
        FeedSource.objects.filter(pk=source.pk).update(accepted_count=0, rejected_count=0)
        sources[kind] = (source.pk, source.issue_token())
    return Bench(agency.pk, user, units, *sources["gtfs_rt"], *sources["osmand"])


def session_cookie(user: User) -> tuple[str, Any]:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}", store


@dataclass(frozen=True)
class FixSpec:
    unit: UnitRef
    ts_ms: int
    lon: float
    lat: float
    bearing: float
    speed: float  # metres per second


class Fleet:
    """Units driving random walks around the centre, with strictly increasing fix times per unit, so no
    fix of the run is a duplicate and every one is newer than the unit's last (it moves the unit)."""

    def __init__(self, units: Sequence[UnitRef], start_ms: int, seed: int = 7) -> None:
        self.units = list(units)
        self.rng = random.Random(seed)
        self.last_ms = [start_ms] * len(units)
        self.where = [
            (CENTER[0] + self.rng.uniform(-0.05, 0.05), CENTER[1] + self.rng.uniform(-0.03, 0.03)) for _ in units
        ]

    def fix(self, index: int, *, at_least_ms: int = 0, whole_seconds: bool = False) -> FixSpec:
        ts = max(self.last_ms[index] + 1, at_least_ms)
        if whole_seconds:  # GTFS-RT timestamps are POSIX seconds
            ts = -(-ts // 1000) * 1000
        self.last_ms[index] = ts
        lon, lat = self.where[index]
        lon, lat = lon + self.rng.uniform(-3e-4, 3e-4), lat + self.rng.uniform(-2e-4, 2e-4)
        self.where[index] = (lon, lat)
        return FixSpec(self.units[index], ts, lon, lat, self.rng.uniform(0, 359), self.rng.uniform(0, 20))


def gtfs_payload(fixes: Sequence[FixSpec]) -> bytes:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = int(time.time())
    for fix in fixes:
        entity = feed.entity.add()
        entity.id = f"{fix.unit.device}-{fix.ts_ms}"
        vehicle = entity.vehicle
        vehicle.vehicle.id = fix.unit.device
        vehicle.vehicle.label = fix.unit.call_sign
        vehicle.position.longitude = fix.lon
        vehicle.position.latitude = fix.lat
        vehicle.position.bearing = fix.bearing
        vehicle.position.speed = fix.speed
        vehicle.timestamp = fix.ts_ms // 1000
    return feed.SerializeToString()


def osmand_target(token: str, fix: FixSpec) -> str:
    query = {
        "id": fix.unit.device,
        "lat": f"{fix.lat:.6f}",
        "lon": f"{fix.lon:.6f}",
        "timestamp": str(fix.ts_ms),  # epoch milliseconds
        "speed": f"{fix.speed / (1852 / 3600):.2f}",  # knots, as Traccar defines the protocol
        "bearing": f"{fix.bearing:.0f}",
    }
    return f"/api/feeds/osmand/{token}/?{urlencode(query)}"


# --- CPU: who used the cores during a measurement ------------------------------------------------------


def _process_cpu(pid: int, *, children: bool = False) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12])  # utime + stime
    if children:
        ticks += int(fields[13]) + int(fields[14])  # cutime + cstime: children it reaped
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / os.sysconf("SC_CLK_TCK"), sum(values) / os.sysconf("SC_CLK_TCK")


def _services() -> dict[int, str]:
    """PostgreSQL backends serving the bench database, the postmaster (whose reaped children are the
    backends that exited: Daphne opens one per request), and Redis: the servers working for the bench."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmdline.startswith("postgres:") and f" {ENV.database} " in cmdline:
            found[int(entry.name)] = "postgres"
        elif cmdline.split(" ", 1)[0].endswith("/bin/postgres"):
            found[int(entry.name)] = "postmaster"
        elif cmdline.split(" ", 1)[0].endswith("redis-server"):
            found[int(entry.name)] = "redis"
    return found


class CpuMeter:
    """Cores in use (CPU seconds per wall second) by Daphne, this process, PostgreSQL (the bench database's
    backends, and backends that exited meanwhile, whichever their database), Redis, and everything else on
    the machine ("other": other people's work, which lowers the figures). Also counts the PostgreSQL
    sessions opened to the bench database meanwhile."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.services = _services()
        self.sessions = db_sessions()
        self.sessions_opened = 0
        self.wall = time.perf_counter()
        self.own = time.process_time()
        self.server = _process_cpu(server_pid) if server_pid else 0.0
        self.service_cpu = {pid: self._cpu(pid, kind) for pid, kind in self.services.items()}
        self.busy, self.total = _machine_busy()

    @staticmethod
    def _cpu(pid: int, kind: str) -> float:
        return _process_cpu(pid, children=kind == "postmaster")

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        busy, total = _machine_busy()
        cores = os.cpu_count() or 1
        used = {
            "daphne": (_process_cpu(self.server_pid) - self.server) / wall if self.server_pid else 0.0,
            "bench_process": (time.process_time() - self.own) / wall,
            "postgres": 0.0,
            "redis": 0.0,
        }
        for pid, kind in (self.services | _services()).items():
            # A backend that exited meanwhile reads 0 here (the postmaster's reaped-children time has it).
            spent = max(0.0, self._cpu(pid, kind) - self.service_cpu.get(pid, 0.0)) / wall
            used["redis" if kind == "redis" else "postgres"] += spent
        self.sessions_opened = db_sessions() - self.sessions
        machine = (busy - self.busy) / (total - self.total) * cores if total > self.total else 0.0
        used["other"] = max(0.0, machine - sum(used.values()))
        used["machine"] = machine
        return {k: round(v, 2) for k, v in used.items()}


_MONITOR: list[Any] = []  # one psycopg connection reading pg_stat_database (usable from async code too)


def db_sessions() -> int:
    """Sessions ever opened to the bench database (pg_stat_database.sessions, PostgreSQL 14+; a backend
    reports its session within about a second)."""
    import psycopg

    if not _MONITOR:
        _MONITOR.append(psycopg.connect(ENV.conninfo, dbname=ENV.database, autocommit=True))
    row = _MONITOR[0].execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [ENV.database]).fetchone()
    return int(row[0]) if row else 0


# --- figures ------------------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (None without samples)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def spread(values: Sequence[float]) -> dict[str, float | None]:
    return {f"p{p}": _round(percentile(values, p)) for p in (50, 95, 99)} | {"max": _round(max(values, default=None))}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class Throughput:
    """One throughput measurement: `records` accepted in `seconds` of wall time."""

    what: str
    records: int
    seconds: float
    requests: int = 0
    clients: int = 1
    call_ms: dict[str, float | None] = field(default_factory=dict)  # per feed_ingest call / HTTP request
    errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # cores in use, see CpuMeter
    db_sessions: int = 0  # PostgreSQL sessions opened to the bench database meanwhile

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"records_per_s": round(self.rate, 1), "seconds": round(self.seconds, 3)}


# --- 1a, 1b: in this process --------------------------------------------------------------------------


def run_feed_ingest(bench: Bench, fleet: Fleet, batch: int, records: int, *, live: bool = True) -> Throughput:
    """feed_ingest over prebuilt GTFS-RT payloads (building them is not timed). With live=False, publish()
    is replaced by a no-op: what the database work alone costs."""
    payloads: list[bytes] = []
    cursor = 0
    for _ in range(records // batch):
        fixes = [fleet.fix((cursor + k) % len(fleet.units), whole_seconds=True) for k in range(batch)]
        cursor += batch
        payloads.append(gtfs_payload(fixes))
    durations: list[float] = []
    accepted = 0
    stub = mock.patch("apps.units.services.publish", lambda **kwargs: None)
    meter = CpuMeter()
    with stub if not live else contextlib.nullcontext():
        started = time.perf_counter()
        for payload in payloads:
            t = time.perf_counter()
            report = feed_ingest(source_id=bench.gtfs_source_id, payload=payload, content_type="application/x-protobuf")
            durations.append((time.perf_counter() - t) * 1000)
            accepted += report.accepted
        elapsed = time.perf_counter() - started
    ACCEPTED["gtfs_rt"] += accepted
    sent = batch * len(payloads)
    return Throughput(
        f"feed_ingest in-process, GTFS-RT batch {batch}" + ("" if live else ", publish() stubbed"),
        accepted,
        elapsed,
        requests=len(payloads),
        call_ms=spread(durations),
        errors=sent - accepted,
        cpu=meter.stop(),
        db_sessions=meter.sessions_opened,
    )


def run_insert_only(bench: Bench, rows: int) -> list[Throughput]:
    """The history INSERT alone, three ways, 1000 rows per transaction; distinct old times, no conflicts."""
    chunk = 1000
    results = []
    base = datetime.now(UTC) - timedelta(days=30)

    def make_rows(offset_days: int) -> list[tuple[int, float, float, float, float, datetime]]:
        rng = random.Random(offset_days)
        return [
            (
                bench.units[i % len(bench.units)].pk,
                CENTER[0] + rng.uniform(-0.05, 0.05),
                CENTER[1] + rng.uniform(-0.03, 0.03),
                rng.uniform(0, 359),
                rng.uniform(0, 20),
                base + timedelta(days=offset_days, seconds=i // len(bench.units)),
            )
            for i in range(rows)
        ]

    def orm_create(part: list) -> None:
        for unit, x, y, h, s, t in part:
            UnitPosition.objects.create(
                unit_id=unit, location=make_point(x, y), heading=h, speed=s, recorded_at=t, source="bench-create"
            )

    def orm_bulk(part: list) -> None:
        UnitPosition.objects.bulk_create(
            [
                UnitPosition(
                    unit_id=unit, location=make_point(x, y), heading=h, speed=s, recorded_at=t, source="bench-bulk"
                )
                for unit, x, y, h, s, t in part
            ],
            ignore_conflicts=True,
        )

    def unnest(part: list) -> None:
        columns = list(zip(*part, strict=True))
        with connection.cursor() as cur:
            cur.execute(UNNEST_INSERT, ["bench-unnest", *(list(c) for c in columns)])
            cur.fetchall()

    variants: list[tuple[str, Callable[[list], None]]] = [
        ("history insert: ORM create() per row", orm_create),
        ("history insert: ORM bulk_create()", orm_bulk),
        ("history insert: INSERT ... unnest (service)", unnest),
    ]
    for offset, (name, insert) in enumerate(variants, start=1):
        data = make_rows(offset)
        durations = []
        meter = CpuMeter()
        started = time.perf_counter()
        for i in range(0, rows, chunk):
            t = time.perf_counter()
            with transaction.atomic():
                insert(data[i : i + chunk])
            durations.append((time.perf_counter() - t) * 1000)
        elapsed = time.perf_counter() - started
        results.append(
            Throughput(
                name,
                rows,
                elapsed,
                requests=len(durations),
                call_ms=spread(durations),
                cpu=meter.stop(),
                db_sessions=meter.sessions_opened,
            )
        )
    return results


# --- a minimal async HTTP/1.1 client and our own Daphne ---------------------------------------------


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
    ACCEPTED[kind] += accepted
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


# --- 2: ingest-to-map latency -----------------------------------------------------------------------


class MapClient:
    """A map as the browser opens it: session cookie, Origin header, subscribed to the units layer."""

    def __init__(self, server: Server, cookie: str) -> None:
        self.server, self.cookie = server, cookie
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.max_seq = 0
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        origin = cast(Any, f"http://127.0.0.1:{self.server.port}")
        self.ws = await websockets.connect(
            self.server.ws_url, origin=origin, additional_headers={"Cookie": self.cookie}, open_timeout=30
        )
        await self.ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
        if reply.get("type") != "subscribed" or reply.get("layers") != ["units"]:
            raise SystemExit(f"map could not subscribe: {reply}")
        self.max_seq = int(reply["seq"])
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                now = time.time()
                message = json.loads(raw)
                self.received.append((now, message))
                if isinstance(message.get("seq"), int):
                    self.max_seq = max(self.max_seq, message["seq"])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            await self.task


@dataclass(frozen=True)
class Scenario:
    name: str
    transport: str  # "osmand" (one fix per GET) or "gtfs_rt" (POSTed batches)
    rate: float  # fixes per second
    units: int  # fixes go round robin over this many units
    batch: int = 1
    coalescing: bool = True
    max_seconds: float | None = None  # cap for rates this box cannot sustain (the backlog would only grow)
    in_quick: bool = True


SCENARIOS = (
    Scenario("OsmAnd 20/s over 100 units (each every 5 s)", "osmand", 20, 100),
    Scenario("OsmAnd 20/s over 2 units (each 10/s)", "osmand", 20, 2),
    Scenario("GTFS-RT 50/s: 5 POSTs of 10/s, 200 units", "gtfs_rt", 50, 200, batch=10, in_quick=False),
    Scenario("GTFS-RT 200/s: 2 POSTs of 100/s, 200 units", "gtfs_rt", 200, 200, batch=100, max_seconds=6),
    Scenario("OsmAnd 20/s over 100 units, coalescing off", "osmand", 20, 100, coalescing=False),
    Scenario(
        "GTFS-RT 200/s: 2 POSTs of 100/s, coalescing off",
        "gtfs_rt",
        200,
        200,
        batch=100,
        coalescing=False,
        max_seconds=6,
        in_quick=False,
    ),
)


def stream_head(agency_id: int) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        info = client.xinfo_stream(agency_feed(agency_id).stream_key)
    except redis.ResponseError:
        return 0
    finally:
        client.close()
    return seq_of(info["last-generated-id"])


async def run_latency(
    scenario: Scenario, server: Server, bench: Bench, fleet: Fleet, maps: list[MapClient], seconds: float
) -> dict[str, Any]:
    seconds = min(seconds, scenario.max_seconds or seconds)
    for m in maps:
        m.received.clear()
    meter = CpuMeter(server.process.pid)
    head_before = stream_head(bench.agency_id)
    sent_at: dict[tuple[str, int], float] = {}  # (call sign, fix time ms) -> when its request was written
    last_fix: dict[str, tuple[str, int]] = {}
    lags: list[float] = []
    request_ms: list[float] = []
    statuses: Counter[int] = Counter()
    accepted = 0
    pool: asyncio.Queue[Http] = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(Http("127.0.0.1", server.port))
    tasks: set[asyncio.Task[None]] = set()

    async def send(conn: Http, fixes: list[FixSpec]) -> None:
        nonlocal accepted
        try:
            if scenario.transport == "gtfs_rt":
                headers = {"Authorization": f"Bearer {bench.gtfs_token}", "Content-Type": "application/x-protobuf"}
                call = conn.request("POST", "/api/feeds/push/", headers=headers, body=gtfs_payload(fixes))
            else:
                call = conn.request("GET", osmand_target(bench.osmand_token, fixes[0]))
            now = time.time()  # the request is written before call's first suspension
            for fix in fixes:
                sent_at[(fix.unit.call_sign, fix.ts_ms)] = now
            t = time.perf_counter()
            status, body = await call
            request_ms.append((time.perf_counter() - t) * 1000)
            statuses[status] += 1
            if status == 200:
                accepted += json.loads(body)["accepted"]
        finally:
            pool.put_nowait(conn)

    sends = int(scenario.rate * seconds / scenario.batch)
    interval = scenario.batch / scenario.rate
    cursor = 0
    start = time.perf_counter() + 0.05
    first_send = last_send = start
    for i in range(sends):
        target = start + i * interval
        if (delay := target - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        last_send = time.perf_counter()
        first_send = last_send if i == 0 else first_send
        lags.append((last_send - target) * 1000)
        now_ms = int(time.time() * 1000)
        fixes = [
            fleet.fix((cursor + k) % scenario.units, at_least_ms=now_ms, whole_seconds=scenario.transport == "gtfs_rt")
            for k in range(scenario.batch)
        ]
        cursor += scenario.batch
        for fix in fixes:
            last_fix[fix.unit.call_sign] = (fix.unit.call_sign, fix.ts_ms)
        task = asyncio.create_task(send(conn, fixes))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*list(tasks))
    ACCEPTED[scenario.transport] += accepted
    while not pool.empty():
        await pool.get_nowait().close()

    head_after = stream_head(bench.agency_id)
    drain_deadline = time.perf_counter() + 20
    while time.perf_counter() < drain_deadline and any(m.max_seq < head_after for m in maps):
        await asyncio.sleep(0.02)
    drained = all(m.max_seq >= head_after for m in maps)
    # How long after the last request was sent every map had everything: about one latency when the box
    # keeps up; seconds when a backlog built up during the run.
    caught_up_after = time.perf_counter() - last_send
    cpu = meter.stop()

    latencies: list[float] = []
    per_map: list[int] = []
    unmatched = other = final_ok = 0
    for m in maps:
        count = 0
        latest: dict[str, tuple[str, int]] = {}
        for received_at, message in m.received:
            if message.get("type") != "feature.upserted" or message.get("layer") != "units":
                other += 1
                continue
            props = message["feature"]["properties"]
            key = (props["call_sign"], round(datetime.fromisoformat(props["last_seen"]).timestamp() * 1000))
            if key not in sent_at:
                unmatched += 1
                continue
            latencies.append((received_at - sent_at[key]) * 1000)
            latest[key[0]] = key
            count += 1
        per_map.append(count)
        final_ok += latest == last_fix
    published = head_after - head_before
    fixes_sent = sends * scenario.batch
    achieved = (sends - 1) * scenario.batch / (last_send - first_send) if sends > 1 else None
    saturated = (achieved or 0) < 0.95 * scenario.rate or (percentile(lags, 99) or 0) > 250 or caught_up_after > 2
    return {
        "scenario": asdict(scenario),
        "maps": len(maps),
        "seconds": seconds,
        "fixes_sent": fixes_sent,
        "fixes_accepted": accepted,
        "achieved_rate": _round(achieved, 1),
        "published": published,
        "received_per_map": {"min": min(per_map), "max": max(per_map), "mean": round(sum(per_map) / len(per_map), 1)},
        "received_share": round(sum(per_map) / (published * len(maps)), 4) if published else None,
        "latency_ms": spread(latencies),
        "samples": len(latencies),
        "request_ms": spread(request_ms),
        "driver_lag_ms": spread(lags),
        "http_errors": sum(n for s, n in statuses.items() if s != 200),
        "maps_with_every_units_last_position": final_ok,
        "unmatched_messages": unmatched,
        "other_messages": other,
        "drained": drained,
        "caught_up_after_last_send_s": round(caught_up_after, 2),
        # Unit messages all maps received per second, first send to caught up: when saturated, what one
        # Daphne process can deliver on this box.
        "delivered_per_s": round(sum(per_map) / (last_send - first_send + caught_up_after), 1),
        # The box did not keep up (driver behind schedule, or a backlog the maps were still working off after
        # the last send): the latency figures then depend on how long the run was, not only on the rate.
        "saturated": saturated,
        "cpu_cores_used": cpu,
        "db_sessions_opened": meter.sessions_opened,
    }


async def open_maps(server: Server, cookie: str, count: int) -> list[MapClient]:
    maps = [MapClient(server, cookie) for _ in range(count)]
    for chunk in range(0, count, 10):  # a few at a time: 50 simultaneous handshakes only measure the accept queue
        await asyncio.gather(*(m.open() for m in maps[chunk : chunk + 10]))
    return maps


async def close_maps(maps: list[MapClient]) -> None:
    await asyncio.gather(*(m.close() for m in maps))


async def warm_up(server: Server, bench: Bench, fleet: Fleet) -> None:
    conn = Http("127.0.0.1", server.port)
    try:
        for i in range(20):
            status, body = await conn.request("GET", osmand_target(bench.osmand_token, fleet.fix(i)))
            if status != 200:
                raise SystemExit(f"OsmAnd endpoint answered {status}: {body[:300]!r}")
            ACCEPTED["osmand"] += json.loads(body)["accepted"]
    finally:
        await conn.close()


async def run_scenarios(
    server: Server, bench: Bench, fleet: Fleet, cookie: str, scenarios: list[Scenario]
) -> list[dict[str, Any]]:
    maps = await open_maps(server, cookie, ARGS.maps)
    await asyncio.sleep(1)  # let the consumers' first access reads and stream reads settle
    results = []
    try:
        for scenario in scenarios:
            results.append(await run_latency(scenario, server, bench, fleet, maps, PLAN.latency_seconds))
            lat = results[-1]["latency_ms"]
            print(f"  latency, {scenario.name}: p50 {lat['p50']} ms, p99 {lat['p99']} ms", flush=True)
    finally:
        await close_maps(maps)
    return results


async def run_server_phases(bench: Bench, fleet: Fleet, cookie: str, log: Path) -> tuple[list[Throughput], list[dict]]:
    """1c and 2 against our own Daphne; a second Daphne with coalescing off for the comparison runs."""
    http: list[Throughput] = []
    latency: list[dict[str, Any]] = []
    scenarios = [s for s in SCENARIOS if s.in_quick or PLAN.mode == "full"]
    server = start_daphne(ENV.server_env, log)
    try:
        await warm_up(server, bench, fleet)
        n = ARGS.http_clients
        for kind, clients in (("osmand", 1), ("osmand", n), ("gtfs_rt", 1), ("gtfs_rt", n)):
            result = await run_http_throughput(
                server, bench, fleet, kind=kind, clients=clients, seconds=PLAN.http_seconds
            )
            http.append(result)
            print(f"  {result.what}, {clients} client(s): {result.rate:,.0f} records/s", flush=True)
        latency += await run_scenarios(server, bench, fleet, cookie, [s for s in scenarios if s.coalescing])
    finally:
        stop_daphne(server)
    # The consumer reads RTCC_LIVE_COALESCE_MS per event, but from its process's settings: a second server.
    server = start_daphne({**ENV.server_env, "RTCC_LIVE_COALESCE_MS": "0"}, log)
    try:
        await warm_up(server, bench, fleet)
        latency += await run_scenarios(server, bench, fleet, cookie, [s for s in scenarios if not s.coalescing])
    finally:
        stop_daphne(server)
    return http, latency


# --- report -----------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), postgis_lib_version()")
        pg, postgis = cur.fetchone()
    info = redis.Redis.from_url(settings.REDIS_URL).info("server")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "django": django.get_version(),
        "postgresql": pg,
        "postgis": postgis,
        "redis": info.get("redis_version"),
        "django_debug": settings.DEBUG,
        "coalesce_ms": settings.RTCC_LIVE_COALESCE_MS,
        "daphne_processes": 1,
    }


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


CORES = "cores d/b/pg/r/other"


def _cores(cpu: Mapping[str, float]) -> str:
    return "/".join(fmt(cpu.get(k)) for k in ("daphne", "bench_process", "postgres", "redis", "other"))


def print_report(result: dict[str, Any]) -> None:
    m = result["machine"]
    print()
    print(
        f"rtcc-gis ingest benchmark ({result['mode']}): {m['cores']} cores ({m['cpu']}); load average at start "
        f"{m['load_average_at_start']}, at end {result['load_average_at_end']}"
    )
    print(
        f"PostgreSQL {m['postgresql']} / PostGIS {m['postgis']}, Redis {m['redis']}, Python {m['python']}, "
        f"Django {m['django']}, DEBUG={m['django_debug']}; one Daphne process; driver, maps, Daphne, PostgreSQL and\n"
        "Redis all share these cores (the last column shows who used them: a busy machine lowers every figure)"
    )
    print()
    print("1. Position ingest throughput: accepted records per second of wall time, bench units only")
    print(
        f"   {'what':<62}{'clients':>8}{'records':>9}{'seconds':>8}{'rec/s':>8}  {'call ms p50/p95/p99':<22}"
        f"{'conns':>6}  {CORES}"
    )
    for t in result["ingest"]:
        ms = t["call_ms"]
        calls = "/".join(fmt(ms.get(k), 0 if (ms.get(k) or 0) >= 100 else 1) for k in ("p50", "p95", "p99"))
        print(
            f"   {t['what']:<62}{t['clients']:>8}{t['records']:>9,}{t['seconds']:>8.2f}{t['records_per_s']:>8,.0f}"
            f"  {calls:<22}{t['db_sessions']:>6,}  {_cores(t['cpu'])}"
            + (f"   ERRORS {t['errors']}" if t["errors"] else "")
        )
    print(
        "   call ms: one feed_ingest() call, one 1000-row transaction, or one HTTP request (answer included).\n"
        "   conns: PostgreSQL sessions opened to the bench database meanwhile. Daphne runs each request's sync\n"
        "   code in a fresh thread and Django's connections are per thread: a new connection per request.\n"
        "   cores: CPU seconds per wall second of Daphne / this process (driver and maps) / PostgreSQL (the bench\n"
        "   database's backends and any that exited) / Redis / everything else (other people's work: it slows\n"
        "   the rest).\n"
        "   In this process publish() has no event loop to hop onto, so every transaction (all the events of one\n"
        "   payload) pays for a fresh one (as in a Celery worker); in Daphne it runs on the server's loop."
    )
    for name, ratio in result["ratios"].items():
        print(f"   {name}: {ratio:.1f}x")
    print()
    print(
        f"2. Ingest-to-map latency, {ARGS.maps} maps subscribed to units: receipt time minus the time the fix's "
        "request was written, over every (map, message)"
    )
    print(
        f"   {'scenario':<50}{'rate':>5}{'p50':>7}{'p95':>7}{'p99':>7}{'max':>7}{'published':>10}{'recv/map':>9}"
        f"{'share':>6}{'req p95':>8}{'last':>6}{'conns':>7}  {CORES}"
    )
    for row in result["latency"]:
        lat, rec, share = row["latency_ms"], row["received_per_map"], row["received_share"]
        print(
            f"   {row['scenario']['name']:<50}{fmt(row['achieved_rate'], 0):>5}{fmt(lat['p50'], 0):>7}"
            f"{fmt(lat['p95'], 0):>7}{fmt(lat['p99'], 0):>7}{fmt(lat['max'], 0):>7}{row['published']:>10,}"
            f"{rec['mean']:>9,.0f}{'-' if share is None else f'{share:.0%}':>6}{fmt(row['request_ms']['p95'], 0):>8}"
            f"{row['maps_with_every_units_last_position']:>3}/{row['maps']:<2}{row['db_sessions_opened']:>7,}"
            f"  {_cores(row['cpu_cores_used'])}"
            + ("" if row["drained"] else "  NOT DRAINED")
            + (
                f"  SATURATED: caught up {row['caught_up_after_last_send_s']} s after the last send; "
                f"delivered {row['delivered_per_s']:,.0f} messages/s"
                if row["saturated"]
                else ""
            )
            + (f"  HTTP ERRORS {row['http_errors']}" if row["http_errors"] else "")
        )
    print(
        "   rate: fixes/s the driver achieved (open loop); p50..max: latency in ms; published: unit upserts on the\n"
        "   Redis stream; recv/map: unit messages per map (mean); share: recv/map / published; req p95: HTTP\n"
        "   request time in ms; last: maps that ended with every unit's last fix; conns: PostgreSQL sessions.\n"
        "   Coalescing (on unless the scenario says off): a map gets unit upserts at most once per 200 ms window,\n"
        "   only each unit's latest. So an upsert may wait up to one window (latency), and a unit reporting more\n"
        "   often than once per window has its intermediate positions skipped (share < 100%), never its last one.\n"
        "   SATURATED: this box did not keep up (maps x rate messages/s from one Daphne process); the latency\n"
        "   then grows with the length of the run and is not a steady-state figure; 'delivered' (messages to all\n"
        "   maps per second, first send to caught up) is then what one Daphne process delivers here."
    )
    for line in result["checks"]:
        print(f"   check: {line}")
    if result["other_cores_max"] > 0.3:
        print(
            f"\nWARNING: other processes on this machine used up to {result['other_cores_max']} of its "
            f"{m['cores']} cores during the run (column 'other'): the figures above are lower than this code\n"
            "achieves on a quiet machine. Run again when nothing else is running for representative figures."
        )
    print(f"\nwritten: {result['out']}")


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "ingest-daphne.log"
    log.write_text("")
    started = time.perf_counter()
    bench = bench_setup(ARGS.units)
    info = machine()
    # Fix times start a day ago and grow per unit, so the latency runs' real-time fixes are the newest.
    fleet = Fleet(bench.units, int(time.time() * 1000) - DAY_MS)
    cookie, session = session_cookie(bench.user)
    ingest: list[Throughput] = []
    latency: list[dict[str, Any]] = []
    try:
        print(f"bench database {ENV.database}, Redis prefix {ENV.prefix}; measuring ({PLAN.mode})...", flush=True)
        warm = feed_ingest(
            source_id=bench.gtfs_source_id,
            payload=gtfs_payload([fleet.fix(i, whole_seconds=True) for i in range(10)]),
        )
        ACCEPTED["gtfs_rt"] += warm.accepted
        for batch, records, live in PLAN.ingest_records:
            ingest.append(run_feed_ingest(bench, fleet, batch, records, live=live))
            print(f"  {ingest[-1].what}: {ingest[-1].rate:,.0f} records/s", flush=True)
        insert_only = run_insert_only(bench, PLAN.insert_rows)
        ingest += insert_only
        http, latency = asyncio.run(run_server_phases(bench, fleet, cookie, log))
        ingest += http
    finally:
        session.delete()
        for monitor in _MONITOR:
            monitor.close()
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{ENV.prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        client.close()

    def rate(what: str, clients: int = 1) -> float:
        return next(t.rate for t in ingest if t.what == what and t.clients == clients)

    in_process = "feed_ingest in-process, GTFS-RT batch"
    osmand, push, n = "HTTP OsmAnd GET, 1 fix per request", "HTTP push, GTFS-RT batch 100", ARGS.http_clients
    ratios = {
        "feed_ingest batch 1000 vs batch 1 (row by row)": rate(f"{in_process} 1000") / rate(f"{in_process} 1"),
        "feed_ingest batch 1000: publish() stubbed vs real": rate(f"{in_process} 1000, publish() stubbed")
        / rate(f"{in_process} 1000"),
        "history insert: unnest vs ORM create() per row": insert_only[2].rate / insert_only[0].rate,
        "history insert: unnest vs ORM bulk_create()": insert_only[2].rate / insert_only[1].rate,
        f"HTTP, {n} clients: GTFS-RT batches of 100 vs OsmAnd single fixes": rate(push, n) / rate(osmand, n),
        f"HTTP OsmAnd: {n} clients vs 1": rate(osmand, n) / rate(osmand),
    }
    checks = consistency_checks(bench, ingest, latency)
    result = {
        "mode": PLAN.mode,
        "about": __doc__,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "database": ENV.database,
        "units": len(bench.units),
        "ingest": [t.as_dict() for t in ingest],
        "ratios": {k: round(v, 2) for k, v in ratios.items()},
        "latency": latency,
        "checks": checks,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        # CPU used by processes that are not the bench's (not Daphne, this process, its PostgreSQL backends or
        # Redis) in the busiest measurement: other people's work competing for the cores.
        "other_cores_max": max(
            [t.cpu.get("other", 0.0) for t in ingest] + [r["cpu_cores_used"]["other"] for r in latency]
        ),
        "total_seconds": round(time.perf_counter() - started, 1),
        "out": str(ARGS.out),
    }
    ARGS.out.parent.mkdir(parents=True, exist_ok=True)
    ARGS.out.write_text(json.dumps(result, indent=2) + "\n")
    print_report(result)
    print(f"total {result['total_seconds']} s")


def consistency_checks(bench: Bench, ingest: list[Throughput], latency: list[dict[str, Any]]) -> list[str]:
    """What the database holds against what the bench was told was accepted."""
    stored = dict(
        UnitPosition.objects.filter(unit__agency_id=bench.agency_id)
        .values("source")
        .annotate(n=Count("id"))
        .values_list("source", "n")
    )
    lines = []
    for source in FeedSource.objects.filter(agency_id=bench.agency_id).order_by("name"):
        rows = stored.get(source.name, 0)
        ok = rows == ACCEPTED[source.kind] == source.accepted_count
        lines.append(
            f"{source.name}: {rows:,} history rows, {ACCEPTED[source.kind]:,} accepted as answered, "
            f"{source.accepted_count:,} on the source's counter, {source.rejected_count} rejected: "
            + ("ok" if ok and not source.rejected_count else "MISMATCH")
        )
    failed = sum(t.errors for t in ingest) + sum(r["http_errors"] for r in latency)
    dead = DeadLetter.objects.filter(source__agency_id=bench.agency_id).count()
    lines.append(f"failed requests or unaccepted records: {failed}; dead letters: {dead}")
    return lines


if __name__ == "__main__":
    main()
