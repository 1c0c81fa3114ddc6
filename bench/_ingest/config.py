"""The run's plan and isolation, settled before Django starts: `start()` parses the arguments and points this
process (and the Daphne it starts) at the bench database and private Redis keys. The other modules of this
package import Django models, so bench/ingest.py imports them only after `start()` and `django.setup()`.
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from bench._support import bench_base_url, ensure_database

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout (this file is bench/_ingest/config.py)
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


# Set by start(); read as config.ARGS etc. by the other modules.
ARGS: argparse.Namespace
PLAN: Plan
ENV: BenchEnv
# Records each source accepted, as its answers said (checked against the database at the end).
ACCEPTED: Counter[str] = Counter()


def start() -> None:
    global ARGS, PLAN, ENV
    ARGS = parse_args()
    PLAN = PLANS["quick" if ARGS.quick else "full"]
    ENV = prepare_environment(ARGS)
