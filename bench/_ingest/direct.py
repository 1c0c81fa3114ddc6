"""Measurements in this process: feed_ingest() batches (1a) and the history insert alone (1b)."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from unittest import mock

from django.db import connection, transaction

from apps.core.geo import make_point
from apps.feeds.services import feed_ingest
from apps.units.models import UnitPosition
from apps.units.services import _INSERT as UNNEST_INSERT  # (the statement itself is measured)

from . import config
from .config import CENTER
from .fleet import Bench, Fleet, gtfs_payload
from .measure import CpuMeter, Throughput, spread


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
    config.ACCEPTED["gtfs_rt"] += accepted
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
