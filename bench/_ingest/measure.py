"""What the bench measures with: CPU per process group, database sessions, percentiles, a throughput
row, and the machine it ran on.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import django
import redis
from django.conf import settings
from django.db import connection

from . import config


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
        if cmdline.startswith("postgres:") and f" {config.ENV.database} " in cmdline:
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
        _MONITOR.append(psycopg.connect(config.ENV.conninfo, dbname=config.ENV.database, autocommit=True))
    row = (
        _MONITOR[0]
        .execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [config.ENV.database])
        .fetchone()
    )
    return int(row[0]) if row else 0


def close_monitor() -> None:
    """Close the pg_stat_database connection db_sessions() opened, if it did."""
    while _MONITOR:
        _MONITOR.pop().close()


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


# --- the machine ----------------------------------------------------------------------------------------


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
