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

import asyncio
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._ingest import config  # noqa: E402  (arguments and isolation, before Django starts)

config.start()

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db.models import Count  # noqa: E402

from apps.feeds.models import DeadLetter, FeedSource  # noqa: E402
from apps.feeds.services import feed_ingest  # noqa: E402
from apps.units.models import UnitPosition  # noqa: E402
from bench._ingest.config import DAY_MS, RESULTS  # noqa: E402
from bench._ingest.direct import run_feed_ingest, run_insert_only  # noqa: E402
from bench._ingest.fleet import Bench, Fleet, bench_setup, gtfs_payload, session_cookie  # noqa: E402
from bench._ingest.latency import run_server_phases  # noqa: E402
from bench._ingest.measure import Throughput, close_monitor, machine  # noqa: E402
from bench._ingest.report import print_report  # noqa: E402


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    log = RESULTS / "ingest-daphne.log"
    log.write_text("")
    started = time.perf_counter()
    bench = bench_setup(config.ARGS.units)
    info = machine()
    # Fix times start a day ago and grow per unit, so the latency runs' real-time fixes are the newest.
    fleet = Fleet(bench.units, int(time.time() * 1000) - DAY_MS)
    cookie, session = session_cookie(bench.user)
    ingest: list[Throughput] = []
    latency: list[dict[str, Any]] = []
    try:
        print(
            f"bench database {config.ENV.database}, Redis prefix {config.ENV.prefix}; "
            f"measuring ({config.PLAN.mode})...",
            flush=True,
        )
        warm = feed_ingest(
            source_id=bench.gtfs_source_id,
            payload=gtfs_payload([fleet.fix(i, whole_seconds=True) for i in range(10)]),
        )
        config.ACCEPTED["gtfs_rt"] += warm.accepted
        for batch, records, live in config.PLAN.ingest_records:
            ingest.append(run_feed_ingest(bench, fleet, batch, records, live=live))
            print(f"  {ingest[-1].what}: {ingest[-1].rate:,.0f} records/s", flush=True)
        insert_only = run_insert_only(bench, config.PLAN.insert_rows)
        ingest += insert_only
        http, latency = asyncio.run(run_server_phases(bench, fleet, cookie, log))
        ingest += http
    finally:
        session.delete()
        close_monitor()
        client = redis.Redis.from_url(settings.REDIS_URL)
        keys = list(client.scan_iter(match=f"{config.ENV.prefix}*", count=1000))
        for i in range(0, len(keys), 500):
            client.delete(*keys[i : i + 500])
        client.close()

    def rate(what: str, clients: int = 1) -> float:
        return next(t.rate for t in ingest if t.what == what and t.clients == clients)

    in_process = "feed_ingest in-process, GTFS-RT batch"
    osmand, push, n = "HTTP OsmAnd GET, 1 fix per request", "HTTP push, GTFS-RT batch 100", config.ARGS.http_clients
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
        "mode": config.PLAN.mode,
        "about": __doc__,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": info,
        "database": config.ENV.database,
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
        "out": str(config.ARGS.out),
    }
    config.ARGS.out.parent.mkdir(parents=True, exist_ok=True)
    config.ARGS.out.write_text(json.dumps(result, indent=2) + "\n")
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
        ok = rows == config.ACCEPTED[source.kind] == source.accepted_count
        lines.append(
            f"{source.name}: {rows:,} history rows, {config.ACCEPTED[source.kind]:,} accepted as answered, "
            f"{source.accepted_count:,} on the source's counter, {source.rejected_count} rejected: "
            + ("ok" if ok and not source.rejected_count else "MISMATCH")
        )
    failed = sum(t.errors for t in ingest) + sum(r["http_errors"] for r in latency)
    dead = DeadLetter.objects.filter(source__agency_id=bench.agency_id).count()
    lines.append(f"failed requests or unaccepted records: {failed}; dead letters: {dead}")
    return lines


if __name__ == "__main__":
    main()
