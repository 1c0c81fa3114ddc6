"""Shared pieces of the perf benchmarks (profile_ingest, workers, fanout, cameras): isolation, bench data, figures.

Importing this module applies scripts/local_env.sh (the same local defaults `make demo` uses: the checkout's
secret key and audit checkpoint key, local hosts, plain HTTP; whatever the environment already holds wins), so
a bench started by `make bench` or by hand reads production settings (DEBUG off) without a copy of those defaults.
Call `isolate()` before Django starts: it points this process (and any server or worker it starts) at a
bench database of its own (created and migrated when missing) and private Redis prefixes, so a run never
touches the demo or another run. Everything else here needs Django set up.
"""

from __future__ import annotations

import json
import os
import platform
import random
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CENTER = (-122.3321, 47.6062)  # lon, lat: the demo city's centre


def apply_local_env() -> None:
    """Source scripts/local_env.sh in bash and take what it exports into this process's environment."""
    out = subprocess.run(
        ["bash", "-c", "source scripts/local_env.sh && env -0"],
        cwd=ROOT,
        env=dict(os.environ),
        capture_output=True,
        check=True,
    ).stdout
    for item in out.decode().split("\0"):
        name, sep, value = item.partition("=")
        if sep and name not in os.environ:
            os.environ[name] = value


apply_local_env()


@dataclass(frozen=True)
class BenchEnv:
    database_url: str
    database: str
    conninfo: str  # the PostgreSQL server, for psycopg (add dbname)
    prefix: str  # channel layer, live streams and cache keys all start with it
    env: dict[str, str]  # this process's environment after isolation: pass it to servers and workers


def isolate(database: str, tag: str, **extra: str) -> BenchEnv:
    """Private bench database and Redis prefixes for this process; call before `django.setup()`."""
    if "bench" not in database:
        raise SystemExit(f"refusing {database!r}: a bench database name must contain 'bench' (its data is emptied)")
    main_url = bench_base_url()
    parsed = urlparse(main_url)
    if parsed.path.lstrip("/") == database:
        raise SystemExit(f"{database!r} is the project's own database; pick another name")
    url = parsed._replace(path=f"/{database}").geturl()
    conninfo = ensure_database(url, database)
    prefix = f"rtcc-bench-{tag}-{os.getpid()}-{secrets.token_hex(3)}"
    os.environ.update(
        {
            "DATABASE_URL": url,
            "CHANNELS_PREFIX": prefix,
            "RTCC_LIVE_KEY_PREFIX": f"{prefix}:live",
            "CACHE_KEY_PREFIX": prefix,
            "DJANGO_DEBUG": "0",
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings",
            **extra,
        }
    )
    sys.path.insert(0, str(ROOT))
    return BenchEnv(url, database, conninfo, prefix, dict(os.environ))


def bench_base_url() -> str:
    """The project's owner-role URL (DATABASE_OWNER_URL, else the default; apps.core.dbroles, which does not import
    rtcc_gis.settings). Benches run as the owner: they TRUNCATE and VACUUM between runs, which the app role may
    not; privileges do not change timings."""
    from apps.core.dbroles import owner_url

    return owner_url()


def admin_url() -> str:
    """A superuser (DATABASE_ADMIN_URL, as scripts/setup_db.sh): for CREATE DATABASE, extensions, CHECKPOINT."""
    return os.environ.get("DATABASE_ADMIN_URL") or "postgres://postgres@127.0.0.1:5432/postgres"


def admin_execute(statement: str) -> None:
    """One statement as the admin (a server-wide one such as CHECKPOINT, which the owner role may not run)."""
    import dj_database_url
    import psycopg

    conf = dj_database_url.parse(admin_url())
    with psycopg.connect(
        host=conf.get("HOST") or "127.0.0.1",
        port=conf.get("PORT") or 5432,
        user=conf.get("USER") or "postgres",
        password=conf.get("PASSWORD") or None,
        dbname=conf.get("NAME") or "postgres",
        autocommit=True,
    ) as admin:
        admin.execute(statement)


def ensure_database(url: str, name: str) -> str:
    """CREATE DATABASE if missing (owned by the URL's role), PostGIS, `manage.py migrate`; the database and the
    extension through the admin connection (DATABASE_ADMIN_URL, as scripts/setup_db.sh). Returns the server's
    conninfo (no dbname) for the URL's role."""
    import dj_database_url
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    def conninfo(conf: dict) -> str:
        return make_conninfo(
            host=conf.get("HOST") or "127.0.0.1",
            port=conf.get("PORT") or 5432,
            user=conf.get("USER") or "postgres",
            password=conf.get("PASSWORD") or None,
        )

    conf = dj_database_url.parse(url)
    server = conninfo(conf)
    admin_server = conninfo(dj_database_url.parse(admin_url()))
    with psycopg.connect(admin_server, dbname="postgres", autocommit=True) as admin:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            owner = sql.Identifier(conf.get("USER") or "postgres")
            admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), owner))
    with psycopg.connect(admin_server, dbname=name, autocommit=True) as bench:
        bench.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings"},
        check=True,
    )
    return server


def drop_redis_keys(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 500):
        client.delete(*keys[i : i + 500])
    client.close()


# --- bench data (Django set up) -----------------------------------------------------------------------


@dataclass(frozen=True)
class UnitRef:
    pk: int
    device: str
    call_sign: str


@dataclass(frozen=True)
class Fleet:
    agency_id: int
    user_id: int
    units: list[UnitRef]
    gtfs_source_id: int


def fleet_setup(unit_count: int, *, code: str = "BENCH") -> Fleet:
    """The bench agency, an operator, `unit_count` units (reset: no position) and a GTFS-RT push source;
    the position history and dead letters are emptied."""
    from django.conf import settings
    from django.db import connection

    from apps.accounts.choices import Role
    from apps.accounts.models import Agency, User
    from apps.feeds.models import FeedSource
    from apps.units.models import Unit

    if "bench" not in settings.DATABASES["default"]["NAME"]:
        raise SystemExit("refusing to write: Django is not connected to a bench database")
    with connection.cursor() as cur:
        cur.execute("TRUNCATE units_unitposition, feeds_deadletter")
    agency, _ = Agency.objects.get_or_create(code=code, defaults={"name": f"{code} agency"})
    user, _ = User.objects.get_or_create(
        username=f"{code.lower()}-operator", defaults={"agency": agency, "role": Role.OPERATOR}
    )
    user.set_unusable_password()
    user.agency, user.role, user.is_active = agency, Role.OPERATOR, True
    user.save()
    have = set(Unit.objects.filter(agency=agency).values_list("call_sign", flat=True))
    Unit.objects.bulk_create(
        [
            Unit(agency=agency, call_sign=f"B{i:04d}", device_id=f"bench-{i:04d}")
            for i in range(unit_count)
            if f"B{i:04d}" not in have
        ]
    )
    Unit.objects.filter(agency=agency).update(
        last_location=None, last_heading=None, last_speed=None, last_seen=None, active=True
    )
    units = [
        UnitRef(u.pk, u.device_id, u.call_sign)
        for u in Unit.objects.filter(agency=agency, call_sign__startswith="B").order_by("call_sign")[:unit_count]
    ]
    source, _ = FeedSource.objects.update_or_create(
        agency=agency,
        name="bench-gtfs_rt",
        defaults={"kind": "gtfs_rt", "enabled": True, "auto_create_units": False, "params": {}},
    )
    FeedSource.objects.filter(pk=source.pk).update(accepted_count=0, rejected_count=0)
    return Fleet(agency.pk, user.pk, units, source.pk)


class Walk:
    """Units driving random walks with strictly increasing whole-second fix times per unit: every fix
    of a run is new and moves its unit."""

    def __init__(self, units: Sequence[UnitRef], start_s: int, seed: int = 7) -> None:
        self.units = list(units)
        self.rng = random.Random(seed)
        self.last_s = [start_s] * len(units)
        self.where = [
            (CENTER[0] + self.rng.uniform(-0.05, 0.05), CENTER[1] + self.rng.uniform(-0.03, 0.03)) for _ in units
        ]

    def payload(self, count: int, *, first: int = 0, at_least_s: int = 0) -> bytes:
        """A GTFS-RT VehiclePositions payload: `count` fixes, round robin from unit index `first`."""
        from google.transit import gtfs_realtime_pb2

        feed = gtfs_realtime_pb2.FeedMessage()
        feed.header.gtfs_realtime_version = "2.0"
        feed.header.timestamp = int(time.time())
        for k in range(count):
            i = (first + k) % len(self.units)
            ts = max(self.last_s[i] + 1, at_least_s)
            self.last_s[i] = ts
            lon, lat = self.where[i]
            lon, lat = lon + self.rng.uniform(-3e-4, 3e-4), lat + self.rng.uniform(-2e-4, 2e-4)
            self.where[i] = (lon, lat)
            unit = self.units[i]
            entity = feed.entity.add()
            entity.id = f"{unit.device}-{ts}"
            vehicle = entity.vehicle
            vehicle.vehicle.id = unit.device
            vehicle.vehicle.label = unit.call_sign
            vehicle.position.longitude = lon
            vehicle.position.latitude = lat
            vehicle.position.bearing = self.rng.uniform(0, 359)
            vehicle.position.speed = self.rng.uniform(0, 20)
            vehicle.timestamp = ts
        return feed.SerializeToString()


# --- figures and report ------------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (None without samples)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-p * len(ordered) // 100))))
    return ordered[rank - 1]


def spread(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, float | None]:
    out = {f"p{p}": _round(percentile(values, p)) for p in points}
    return out | {"max": _round(max(values, default=None)), "n": len(values)}


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
    }


def write_result(name: str, result: Mapping[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{name}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return out


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain text table, columns as wide as their widest cell (first column left-aligned)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append(
            "  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)).rstrip()
        )
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- servers ------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_daphne(env: Mapping[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    """The ASGI server as `make demo` starts it (rtcc_gis.serve), on a free port; (process, port)."""
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rtcc_gis.serve",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "--access-log",
                os.devnull,
                "rtcc_gis.asgi:application",
            ],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        if process.poll() is not None:
            break
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"daphne did not start; see {log}")


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
