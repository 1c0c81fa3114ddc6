"""Retention purge throughput and lock times: batched purge (5k and 50k rows per batch) vs one big DELETE.

    .venv/bin/python bench/retention.py                  # 1,000,000 unit positions (about 2-3 minutes)
    .venv/bin/python bench/retention.py --rows 100000    # quicker

Runs in its own database (`rtcc_bench_retention` on the project's server: created and migrated if missing; its
position history is emptied before every scenario). For each scenario the table is refilled with `--rows` unit
positions (one INSERT ... SELECT FROM generate_series) spread evenly over the last 60 days across 200 units, ids
in time order as ingest writes them, one in a thousand on legal hold; then VACUUM ANALYZE; then about half the
rows (those older than the 30-day policy) are purged:

batch 5k / 50k  `retention_purge` as the daily task runs it: `DELETE ... WHERE ctid = ANY(ARRAY(SELECT ...
                ORDER BY id LIMIT n))` re-checking expiry and holds, one transaction per batch, the receipt
                updated in the same one; "skipped" rows were rewritten by the hold probe meanwhile and go next run.
one DELETE      `DELETE FROM units_unitposition WHERE recorded_at < cutoff AND NOT legal_hold` in one transaction.

Reported: rows deleted, wall seconds, rows per second, number of transactions, and their median, 99th percentile
and longest duration (every row a transaction deletes stays locked until it commits). While each purge runs, two
probes on their own connections show what the rest of the system feels: an AVL writer inserting a new fix every 10 ms
(new rows: never blocked by the purge's row locks, so it shows I/O contention only), and an operator placing a
legal hold on a random expired row every 20 ms (waits whenever the purge holds that row: at most one batch with
batching, the whole DELETE without). First, a check that a hold committed while a batch is deleting that very
row is kept. Writes bench/results/retention.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._support import admin_execute, bench_base_url, ensure_database  # noqa: E402  (one copy: CREATE DATABASE, PostGIS, migrate)

RESULTS = ROOT / "bench" / "results"
DAYS_SPAN = 60
POLICY_DAYS = 30
UNITS = 200


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="unit positions inserted per scenario")
    parser.add_argument("--database", default="rtcc_bench_retention", help="the bench's own database (same server)")
    parser.add_argument("--out", type=Path, default=RESULTS / "retention.json")
    return parser.parse_args()


def prepare_environment(database: str) -> str:
    """Point this process at the bench database (before Django starts), creating and migrating it if needed."""
    main_url = bench_base_url()
    parsed = urlparse(main_url)
    if parsed.path.lstrip("/") == database:
        raise SystemExit(f"--database {database!r} is the project's own database; pick another name")
    url = parsed._replace(path=f"/{database}").geturl()
    ensure_database(url, database)
    os.environ.update({"DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings", "LOG_LEVEL": "WARNING"})
    return url


def connect_kwargs(url: str) -> dict[str, Any]:
    import dj_database_url

    conf = dj_database_url.parse(url)
    kwargs = {
        "host": conf.get("HOST") or "127.0.0.1",
        "port": conf.get("PORT") or 5432,
        "user": conf.get("USER") or "postgres",
        "dbname": conf["NAME"],
        "autocommit": True,
    }
    if conf.get("PASSWORD"):
        kwargs["password"] = conf["PASSWORD"]
    return kwargs


ARGS = parse_args()
URL = prepare_environment(ARGS.database)

import django  # noqa: E402

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from apps.accounts.models import Agency  # noqa: E402
from apps.retention import services as retention_services  # noqa: E402
from apps.retention.models import DataClass, RetentionPolicy  # noqa: E402
from apps.retention.services import retention_purge  # noqa: E402
from apps.units.models import Unit  # noqa: E402

_FILL = """
INSERT INTO units_unitposition (unit_id, location, heading, speed, recorded_at, source, legal_hold)
SELECT ids[1 + g %% cardinality(ids)],
       ST_SetSRID(ST_MakePoint(-122.33 + (random() - 0.5) * 0.1, 47.61 + (random() - 0.5) * 0.06), 4326),
       random() * 360, random() * 20,
       %(start)s::timestamptz + g * %(step)s::bigint * interval '1 microsecond',
       'bench', g %% 1000 = 0
FROM generate_series(0, %(rows)s::int - 1) AS g, (SELECT array_agg(id ORDER BY id) AS ids FROM units_unit) u
"""


def setup_units() -> None:
    if settings.DATABASES["default"]["NAME"] != ARGS.database:
        raise SystemExit("refusing to write: Django is not connected to the bench database")
    agency, _ = Agency.objects.get_or_create(code="BENCHRET", defaults={"name": "Retention bench agency"})
    have = set(Unit.objects.filter(agency=agency).values_list("call_sign", flat=True))
    Unit.objects.bulk_create(
        [Unit(agency=agency, call_sign=f"R{i:04d}") for i in range(UNITS) if f"R{i:04d}" not in have]
    )


def fill(rows: int, now: datetime) -> tuple[float, int, int]:
    """Empty the history and insert `rows` positions over the last DAYS_SPAN days; returns (seconds, expired
    rows not held, expired rows held)."""
    start = now - timedelta(days=DAYS_SPAN)
    step = int(DAYS_SPAN * 86_400_000_000 / rows)
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        cur.execute("TRUNCATE units_unitposition")
        cur.execute(_FILL, {"start": start, "step": step, "rows": rows})
    seconds = time.perf_counter() - t0
    cutoff = now - timedelta(days=POLICY_DAYS)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE units_unitposition")
        # Start every scenario from a quiet server: the fill's WAL flushed, no checkpoint in the middle of the run.
        admin_execute("CHECKPOINT")
        cur.execute(
            "SELECT count(*) FILTER (WHERE NOT legal_hold), count(*) FILTER (WHERE legal_hold) "
            "FROM units_unitposition WHERE recorded_at < %s",
            [cutoff],
        )
        purgeable, held = cur.fetchone()
    return seconds, purgeable, held


@dataclass
class Probe:
    """Latencies (ms) one background connection saw while a purge ran."""

    name: str
    samples: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        if not self.samples:
            return {"n": 0}
        ordered = sorted(self.samples)
        return {
            "n": len(ordered),
            "median_ms": round(statistics.median(ordered), 2),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 2),
            "max_ms": round(ordered[-1], 2),
        }


class Probes:
    """An AVL writer and an operator placing holds on expired rows, each on its own connection and thread."""

    def __init__(self, cutoff: datetime, now: datetime) -> None:
        self.cutoff, self.now = cutoff, now
        self.stop = threading.Event()
        self.writer, self.holder = Probe("avl_insert"), Probe("hold_expired_row")
        self.threads = [threading.Thread(target=self._write), threading.Thread(target=self._hold)]

    def __enter__(self) -> Probes:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def _write(self) -> None:
        with psycopg.connect(**connect_kwargs(URL)) as conn:
            unit_id = conn.execute("SELECT min(id) FROM units_unit WHERE call_sign = 'R0000'").fetchone()[0]
            i = 0
            while not self.stop.is_set():
                i += 1
                t0 = time.perf_counter()
                conn.execute(
                    "INSERT INTO units_unitposition (unit_id, location, recorded_at, source, legal_hold) "
                    "VALUES (%s, ST_SetSRID(ST_MakePoint(-122.33, 47.61), 4326), %s, 'probe', false)",
                    [unit_id, self.now + timedelta(milliseconds=i)],
                )
                self.writer.samples.append((time.perf_counter() - t0) * 1000)
                self.stop.wait(0.01)

    def _hold(self) -> None:
        rng = random.Random(3)
        with psycopg.connect(**connect_kwargs(URL)) as conn:
            lo, hi = conn.execute(
                "SELECT min(id), max(id) FROM units_unitposition WHERE recorded_at < %s", [self.cutoff]
            ).fetchone()
            while not self.stop.is_set() and lo is not None:
                row_id = rng.randint(lo, hi)
                t0 = time.perf_counter()
                # Sets nothing new (legal_hold stays false) but takes the row lock exactly as a hold would. The wait
                # counts whether or not the row survives: the operator waited either way.
                conn.execute("UPDATE units_unitposition SET legal_hold = legal_hold WHERE id = %s", [row_id])
                self.holder.samples.append((time.perf_counter() - t0) * 1000)
                self.stop.wait(0.02)


def timing_batches(durations: list[float]):
    """Time every batch transaction of the purge (statement, receipt update and commit)."""
    original = retention_services._run_batch

    def timed(*args: Any, **kwargs: Any):
        t0 = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            durations.append((time.perf_counter() - t0) * 1000)

    return mock.patch.object(retention_services, "_run_batch", timed)


def run_batched(batch_size: int, now: datetime, cutoff: datetime) -> dict[str, Any]:
    policy = RetentionPolicy.objects.get(data_class=DataClass.UNIT_POSITIONS)
    policy.days, policy.enabled = POLICY_DAYS, True
    policy.save()
    durations: list[float] = []
    with Probes(cutoff, now) as probes, timing_batches(durations):
        t0 = time.perf_counter()
        result = retention_purge(policy=policy, now=now, batch_size=batch_size, deadline=None)
        seconds = time.perf_counter() - t0
    if result.error:
        raise SystemExit(f"purge failed: {result.error}")
    # A row the hold probe rewrote while its batch ran is re-checked in its new version and kept (as a row an
    # operator is putting on hold right now must be); not actually held, it goes in the next run.
    again = retention_purge(policy=policy, now=now, batch_size=batch_size)
    return {
        "scenario": f"batched {batch_size:,}",
        "rows_deleted": result.rows_deleted,
        "left_for_next_run": again.rows_deleted,
        "rows_held": result.rows_held,
        "seconds": round(seconds, 2),
        "rows_per_second": round(result.rows_deleted / seconds),
        "transactions": len(durations),
        "median_transaction_ms": round(statistics.median(durations), 1),
        "p99_transaction_ms": round(sorted(durations)[min(len(durations) - 1, int(len(durations) * 0.99))], 1),
        "longest_transaction_ms": round(max(durations), 1),
        "slowest_transactions": [  # (batch number, ms): shows whether the slow ones are the first, or random
            (i, round(ms, 1)) for i, ms in sorted(enumerate(durations, 1), key=lambda x: -x[1])[:3]
        ],
        "avl_insert": probes.writer.summary(),
        "hold_expired_row": probes.holder.summary(),
    }


def run_one_delete(now: datetime, cutoff: datetime) -> dict[str, Any]:
    with Probes(cutoff, now) as probes:
        t0 = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("DELETE FROM units_unitposition WHERE recorded_at < %s AND NOT legal_hold", [cutoff])
            deleted = cur.rowcount
        seconds = time.perf_counter() - t0
    return {
        "scenario": "one DELETE",
        "rows_deleted": deleted,
        "seconds": round(seconds, 2),
        "rows_per_second": round(deleted / seconds),
        "transactions": 1,
        "median_transaction_ms": round(seconds * 1000, 1),
        "p99_transaction_ms": round(seconds * 1000, 1),
        "longest_transaction_ms": round(seconds * 1000, 1),
        "avl_insert": probes.writer.summary(),
        "hold_expired_row": probes.holder.summary(),
    }


def check_concurrent_hold(now: datetime) -> bool:
    """A hold placed while a batch is deleting must win: an operator's transaction holds an expired row (not yet
    committed) when the batch starts; the batch waits for it, re-checks the row and keeps it."""
    from apps.retention.selectors import TARGETS
    from apps.retention.services import batch_sql

    cutoff = now - timedelta(days=POLICY_DAYS)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE units_unitposition")
        cur.execute(_FILL, {"start": now - timedelta(days=DAYS_SPAN), "step": 60_000_000, "rows": 10})
        cur.execute("SELECT min(id) FROM units_unitposition WHERE NOT legal_hold")
        (victim,) = cur.fetchone()
    target = TARGETS[DataClass.UNIT_POSITIONS]
    where, params = target.expired(cutoff)
    sql = batch_sql(target, where, 100)
    with psycopg.connect(**{**connect_kwargs(URL), "autocommit": False}) as operator:
        operator.execute("UPDATE units_unitposition SET legal_hold = true WHERE id = %s", [victim])
        done = threading.Event()

        def purge() -> None:
            with psycopg.connect(**connect_kwargs(URL)) as purger:
                purger.execute(sql, [*params, 0, 2**62, *params])
            done.set()

        thread = threading.Thread(target=purge)
        thread.start()
        waited = not done.wait(0.5)  # the batch must be waiting for the operator's row
        operator.commit()
        thread.join()
    with connection.cursor() as cur:
        cur.execute("SELECT legal_hold FROM units_unitposition WHERE id = %s", [victim])
        row = cur.fetchone()
    return waited and row is not None and row[0] is True


def main() -> None:
    setup_units()
    hold_wins = check_concurrent_hold(datetime.now(UTC))
    print(f"a hold committed while a batch is deleting that row is kept: {'yes' if hold_wins else 'NO'}")
    runs = []
    for scenario in ("batched 5000", "batched 50000", "one DELETE"):
        now = datetime.now(UTC)
        cutoff = now - timedelta(days=POLICY_DAYS)
        fill_seconds, purgeable, held = fill(ARGS.rows, now)
        print(f"{scenario}: filled {ARGS.rows:,} rows in {fill_seconds:.1f}s ({purgeable:,} expired, {held:,} held)")
        if scenario == "one DELETE":
            run = run_one_delete(now, cutoff)
        else:
            run = run_batched(int(scenario.split()[1]), now, cutoff)
        deleted = run["rows_deleted"] + run.get("left_for_next_run", 0)
        if deleted != purgeable:
            raise SystemExit(f"{scenario}: deleted {deleted} rows, expected {purgeable}")
        run["fill_seconds"] = round(fill_seconds, 1)
        runs.append(run)

    header = f"{'scenario':<16}{'rows':>10}{'skipped':>8}{'s':>7}{'rows/s':>11}{'txns':>6}"
    header += f"{'txn median/p99/max ms':>24}{'AVL insert p99/max ms':>23}{'hold wait p99/max ms':>22}"
    print("\n" + header)
    for r in runs:
        avl, hold = r["avl_insert"], r["hold_expired_row"]
        skipped = r.get("left_for_next_run", 0)
        print(
            f"{r['scenario']:<16}{r['rows_deleted']:>10,}{skipped:>8}{r['seconds']:>7.2f}{r['rows_per_second']:>11,}"
            f"{r['transactions']:>6}{r['median_transaction_ms']:>10.1f} /{r['p99_transaction_ms']:>5.0f} /"
            f"{r['longest_transaction_ms']:>5.0f}"
            f"{avl.get('p99_ms', 0):>15.1f} /{avl.get('max_ms', 0):>6.0f}"
            f"{hold.get('p99_ms', 0):>14.1f} /{hold.get('max_ms', 0):>6.0f}"
        )
    result = {
        "bench": "retention",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "rows": ARGS.rows,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "postgres": connection.cursor().connection.info.parameter_status("server_version"),
        "concurrent_hold_kept": hold_wins,
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    ARGS.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten {ARGS.out}")


if __name__ == "__main__":
    main()
