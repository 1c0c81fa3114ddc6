"""Where a GTFS-RT batch's time goes: feed_ingest() of 1000-record batches under pyinstrument.

    .venv/bin/python bench/profile_ingest.py                 # 5 batches of 1000, label "current"
    .venv/bin/python bench/profile_ingest.py --label before  # keep a profile to compare with

Runs in this process against its own bench database (rtcc_bench_perf, created and migrated when missing)
and private Redis prefixes, 200 bench units, publish() live (Redis stream + channel group, no map
connected), as a Celery worker calls it. Prints records/s and the profile, and writes
bench/results/profile_ingest-<label>.txt (the pyinstrument text) and .json (the figures).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._support import RESULTS, drop_redis_keys, fleet_setup, isolate, machine, write_result  # noqa: E402

parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
parser.add_argument("--batches", type=int, default=5)
parser.add_argument("--batch", type=int, default=1000)
parser.add_argument("--units", type=int, default=200)
parser.add_argument("--label", default="current")
parser.add_argument("--database", default="rtcc_bench_perf")
ARGS = parser.parse_args()
ENV = isolate(ARGS.database, "profile")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from apps.feeds.services import feed_ingest  # noqa: E402
from bench._support import Walk  # noqa: E402


def main() -> None:
    fleet = fleet_setup(ARGS.units)
    walk = Walk(fleet.units, int(time.time()) - 86_400)
    try:
        # Warm-up (imports, serializer caches, Redis pool) is not profiled.
        feed_ingest(source_id=fleet.gtfs_source_id, payload=walk.payload(50))
        payloads = [walk.payload(ARGS.batch, first=b * ARGS.batch) for b in range(2 * ARGS.batches)]
        # First without the profiler (the figure to quote), then the same amount of work under it.
        plain = 0
        started = time.perf_counter()
        for payload in payloads[: ARGS.batches]:
            plain += feed_ingest(source_id=fleet.gtfs_source_id, payload=payload).accepted
        plain_seconds = time.perf_counter() - started
        profiler = Profiler(interval=0.001)
        accepted = 0
        profiler.start()
        started = time.perf_counter()
        for payload in payloads[ARGS.batches :]:
            accepted += feed_ingest(source_id=fleet.gtfs_source_id, payload=payload).accepted
        elapsed = time.perf_counter() - started
        profiler.stop()
    finally:
        drop_redis_keys(settings.REDIS_URL, ENV.prefix)
    text = profiler.output_text(unicode=False, color=False, show_all=False)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"profile_ingest-{ARGS.label}.txt"
    out.write_text(text)
    rate = accepted / elapsed
    plain_rate = plain / plain_seconds
    write_result(
        f"profile_ingest-{ARGS.label}",
        {
            "label": ARGS.label,
            "batches": ARGS.batches,
            "batch": ARGS.batch,
            "accepted": accepted,
            "seconds": round(elapsed, 3),
            "records_per_s": round(plain_rate, 1),
            "records_per_s_profiled": round(rate, 1),
            "machine": machine(),
            "profile": str(out),
        },
    )
    print(text)
    print(
        f"{ARGS.batches} x feed_ingest(GTFS-RT, {ARGS.batch} records over {ARGS.units} units): "
        f"{plain_rate:,.0f} records/s ({plain} in {plain_seconds:.2f} s); under the profiler {rate:,.0f} records/s"
    )
    print(f"written: {out}")


if __name__ == "__main__":
    main()
