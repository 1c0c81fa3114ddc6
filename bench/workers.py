"""Position ingest into PostGIS through the real adapters: one worker process vs two, and row by row.

    .venv/bin/python bench/workers.py            # about a minute
    .venv/bin/python bench/workers.py --quick

What a Celery worker does with a GTFS-RT VehiclePositions payload: feed_ingest() (protobuf parse, unit
lookup, one INSERT ... unnest per payload, one UPDATE per moved unit, publish() of the moved units to the
Redis streams and channel groups, no map connected). Payloads of 1000 fixes over 200 units are prebuilt;
then, timed:

  1 process     this many payloads in one worker process, one after another
  2 processes   the same number of payloads per process, two processes at once, each on its own 100 units
                (two workers on two feeds); aggregate records/s = all accepted / (last end - first start)
  row by row    feed_ingest() once per fix (a source that sends one position per request)
  ORM create    the history insert alone, UnitPosition.objects.create() per row (the naive write)
  unnest        the history insert alone, the statement unit_fixes_record runs, 1000 rows per call

Worker processes are plain subprocesses calling the same feed_ingest() a Celery task calls (Celery's own
overhead is a few ms per task, see tests/test_scale_out.py for the real workers). Everything runs on this
machine's cores, with PostgreSQL and Redis: two processes can only help as far as cores are free.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._support import fmt, isolate, machine, table, write_result  # noqa: E402

parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
parser.add_argument("--quick", action="store_true")
parser.add_argument("--database", default="rtcc_bench_perf")
parser.add_argument("--child", help=argparse.SUPPRESS)  # "<index>:<of>:<payloads>:<start at>"
ARGS = parser.parse_args()
if ARGS.child:
    os.environ["DJANGO_SETTINGS_MODULE"] = "rtcc_gis.settings"  # the parent's isolated environment is inherited
    ENV = None
else:
    ENV = isolate(ARGS.database, "workers")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from apps.core.geo import make_point  # noqa: E402
from apps.feeds.services import feed_ingest  # noqa: E402
from apps.units.models import UnitPosition  # noqa: E402
from apps.units.services import _INSERT as UNNEST_INSERT  # noqa: E402  (the statement itself is measured)
from bench._support import Walk, drop_redis_keys, fleet_setup  # noqa: E402

BATCH = 1000
PAYLOADS = 4 if ARGS.quick else 10  # per process
ROW_BY_ROW = 150 if ARGS.quick else 500
UNITS = 200


def child(spec: str) -> None:
    """One worker process: its share of the units, prebuilt payloads, then ingest from `start at`."""
    from apps.feeds.models import FeedSource
    from apps.units.models import Unit
    from bench._support import UnitRef

    index, of, count, start_at = spec.split(":")
    source = FeedSource.objects.get(name="bench-gtfs_rt", agency__code="BENCH")
    units = [
        UnitRef(u.pk, u.device_id, u.call_sign)
        for u in Unit.objects.filter(agency_id=source.agency_id, call_sign__startswith="B").order_by("call_sign")
    ][int(index) :: int(of)]
    # Fix times of their own for each run and process: a fix stored by an earlier run would be a
    # duplicate (cheaper, and not accepted).
    walk = Walk(units, int(time.time()) - 86_400 + 20_000 * int(of) + 5_000 * int(index), seed=int(index))
    payloads = [walk.payload(BATCH, first=k * BATCH) for k in range(int(count))]
    feed_ingest(source_id=source.pk, payload=walk.payload(20))  # warm-up
    while time.time() < float(start_at):
        time.sleep(0.001)
    started = time.time()
    accepted = sum(feed_ingest(source_id=source.pk, payload=p).accepted for p in payloads)
    print(json.dumps({"accepted": accepted, "started": started, "ended": time.time()}))


def processes(count: int) -> dict:
    start_at = time.time() + 8  # time to build payloads and warm up
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--child", f"{i}:{count}:{PAYLOADS}:{start_at}"],
            stdout=subprocess.PIPE,
            env=ENV.env,
        )
        for i in range(count)
    ]
    outs = []
    for proc in procs:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode:
            raise SystemExit("a worker process failed")
        outs.append(json.loads(out.decode().strip().splitlines()[-1]))
    if min(o["started"] for o in outs) > start_at + 1:
        print("  warning: the worker processes were not ready at the common start (slow machine)", flush=True)
    seconds = max(o["ended"] for o in outs) - min(o["started"] for o in outs)
    accepted = sum(o["accepted"] for o in outs)
    if accepted != count * PAYLOADS * BATCH:
        print(f"  warning: {count * PAYLOADS * BATCH - accepted} fixes were not accepted (duplicates?)", flush=True)
    return {
        "what": f"feed_ingest, {count} process{'es' if count > 1 else ''}, GTFS-RT batches of {BATCH}",
        "processes": count,
        "records": accepted,
        "seconds": round(seconds, 3),
        "records_per_s": round(accepted / seconds, 1),
        "per_process_records_per_s": [round(o["accepted"] / (o["ended"] - o["started"]), 1) for o in outs],
    }


def row_by_row(fleet) -> dict:
    walk = Walk(fleet.units, int(time.time()) - 40_000, seed=99)
    payloads = [walk.payload(1, first=k) for k in range(ROW_BY_ROW)]
    started = time.perf_counter()
    accepted = sum(feed_ingest(source_id=fleet.gtfs_source_id, payload=p).accepted for p in payloads)
    seconds = time.perf_counter() - started
    return {
        "what": "feed_ingest per fix (row by row), 1 process",
        "processes": 1,
        "records": accepted,
        "seconds": round(seconds, 3),
        "records_per_s": round(accepted / seconds, 1),
    }


def insert_only(fleet, *, orm: bool) -> dict:
    import random
    from datetime import UTC, datetime, timedelta

    rows = 2000 if ARGS.quick else 5000
    rng = random.Random(5 if orm else 6)
    base = datetime.now(UTC) - timedelta(days=60 if orm else 90)
    data = [
        (
            fleet.units[i % UNITS].pk,
            -122.33 + rng.uniform(-0.05, 0.05),
            47.6 + rng.uniform(-0.03, 0.03),
            rng.uniform(0, 359),
            rng.uniform(0, 20),
            base + timedelta(seconds=i),
        )
        for i in range(rows)
    ]
    started = time.perf_counter()
    for i in range(0, rows, BATCH):
        part = data[i : i + BATCH]
        with transaction.atomic():
            if orm:
                for unit, x, y, h, s, t in part:
                    UnitPosition.objects.create(
                        unit_id=unit, location=make_point(x, y), heading=h, speed=s, recorded_at=t, source="bench-orm"
                    )
            else:
                with connection.cursor() as cur:
                    cur.execute(UNNEST_INSERT, ["bench-unnest", *(list(c) for c in zip(*part, strict=True))])
                    cur.fetchall()
    seconds = time.perf_counter() - started
    return {
        "what": "history insert only: " + ("ORM create() per row" if orm else "INSERT ... unnest, 1000 rows/call"),
        "processes": 1,
        "records": rows,
        "seconds": round(seconds, 3),
        "records_per_s": round(rows / seconds, 1),
    }


def main() -> None:
    assert ENV is not None
    started = time.perf_counter()
    info = machine()
    fleet = fleet_setup(UNITS)
    rows = []
    try:
        for count in (1, 2):
            rows.append(processes(count))
            print(f"  {rows[-1]['what']}: {rows[-1]['records_per_s']:,.0f} records/s", flush=True)
        rows.append(row_by_row(fleet))
        rows.append(insert_only(fleet, orm=True))
        rows.append(insert_only(fleet, orm=False))
    finally:
        drop_redis_keys(settings.REDIS_URL, ENV.prefix)
    one, two = rows[0]["records_per_s"], rows[1]["records_per_s"]
    ratios = {
        "2 processes vs 1": round(two / one, 2),
        "batches of 1000 vs row by row (feed_ingest)": round(one / rows[2]["records_per_s"], 1),
        "history insert: unnest vs ORM create() per row": round(rows[4]["records_per_s"] / rows[3]["records_per_s"], 1),
    }
    result = {
        "benchmark": "workers",
        "mode": "quick" if ARGS.quick else "full",
        "about": __doc__,
        "machine": info,
        "rows": rows,
        "ratios": ratios,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    out = write_result("workers", result)
    print()
    print("1. Position ingest into PostGIS through the real adapters (records/s of wall time)")
    print(
        table(
            ["what", "processes", "records", "seconds", "records/s"],
            [
                [r["what"], r["processes"], f"{r['records']:,}", fmt(r["seconds"], 2), fmt(r["records_per_s"], 0)]
                for r in rows
            ],
        )
    )
    for name, value in ratios.items():
        print(f"   {name}: {value}x")
    m = result["machine"]
    print(
        f"   {m['cores']} cores; load average {m['load_average_at_start']} at start, "
        f"{result['load_average_at_end']} at end (other work on the machine lowers every figure)"
    )
    print(f"\nwritten: {out}  (total {result['total_seconds']} s)")


if __name__ == "__main__":
    if ARGS.child:
        child(ARGS.child)
    else:
        main()
