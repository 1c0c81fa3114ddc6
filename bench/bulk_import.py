"""Bulk import of incidents: `import_layer` (the real path) beside a raw COPY of the same rows, and the old
row-by-row service for reference.

    .venv/bin/python bench/bulk_import.py              # 50,000 rows (about a minute)
    .venv/bin/python bench/bulk_import.py --quick      # 5,000 rows (`make bench BENCH_QUICK=1` passes --rows 5000)

A CAD-like CSV of `--rows` calls (CAD number, type, priority, status, call source, disposition, address,
lon/lat over a 0.3 x 0.2 degree city, received time, and two columns no field takes, kept in `attributes`)
is written to a temporary folder, for one bench agency with 400 beats (a 20 x 20 grid) in this script's own
database (rtcc_bench_bulk_import; its incidents are emptied before each scenario). Then, in this process:

  import (new)        apps.intake.importer.import_layer over the file: read, map, convert every row, write in
                      chunks (INSERT ... ON CONFLICT ... DO UPDATE ... WHERE differs, beat found in the same
                      statement), one audit event, one live `layer.reloaded` event. Every row is created.
  import (same file)  the same import again: every row is unchanged (nothing written, counted as unchanged).
  import (changed)    the file with every status changed: every row is updated.
  COPY (raw)          psycopg COPY of the same rows (already parsed) straight into incidents_incident, without
                      beats, checks, mapping or audit: the floor a bulk load cannot beat.
  row by row          apps.incidents.services.incident_upsert per row (a savepoint, a SELECT FOR UPDATE, a beat
                      lookup, a save and a live event each), as imports ran before, on the first --row-by-row rows.

Reported: rows, seconds, rows/s and each scenario's time relative to COPY, the load average before and after
(the box is shared: compare the ratio to COPY across runs, not the bare rate), and whether all-new rows clear
the 5,000 rows/s of issue 11. Writes bench/results/bulk_import.json.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._support import CENTER, isolate, machine, table, write_result  # noqa: E402

parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
parser.add_argument("--rows", type=int, default=None, help="rows in the file (default 50,000; --quick: 5,000)")
parser.add_argument("--row-by-row", type=int, default=None, help="rows written one by one for reference (0: skip)")
parser.add_argument("--quick", action="store_true", help="5,000 rows and 500 row by row (seconds, not a minute)")
parser.add_argument("--database", default="rtcc_bench_bulk_import")
ARGS = parser.parse_args()
ARGS.rows = ARGS.rows or (5_000 if ARGS.quick else 50_000)
ARGS.row_by_row = ARGS.row_by_row if ARGS.row_by_row is not None else (500 if ARGS.quick else 2_000)
# Issue 11: a bulk import of new incidents at this many rows a second or more.
TARGET_ROWS_PER_SECOND = 5_000
ENV = isolate(ARGS.database, "bulk-import")

import django  # noqa: E402

django.setup()

from django.contrib.gis.geos import MultiPolygon, Polygon  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from apps.accounts.models import Agency  # noqa: E402
from apps.core.geo import make_point  # noqa: E402
from apps.incidents.models import Incident  # noqa: E402
from apps.incidents.services import incident_upsert  # noqa: E402
from apps.intake.importer import import_layer  # noqa: E402
from apps.intake.mapping import mapping_spec_from_dict  # noqa: E402
from apps.zones.models import Zone  # noqa: E402

HALF_LON, HALF_LAT = 0.15, 0.1
GRID = 20
TYPES = ["DIST", "THEFT", "ALARM - COMMERCIAL BURGLARY", "TRAFFIC STOP", "SUSPICIOUS PERSON OR VEHICLE IN AREA"]
SOURCES = ["911", "phone", "onview", "alarm"]
MAPPING = mapping_spec_from_dict(
    data={
        "layer": "incidents",
        "fields": {
            "cad_number": "Event",
            "type_code": "Type",
            "priority": "Pri",
            "status": "Status",
            "call_source": "Source",
            "disposition": "Disposition",
            "address": "Address",
            "lon": "X",
            "lat": "Y",
            "received_at": "Received",
        },
        "datetime_format": "%Y-%m-%d %H:%M:%S",
        "tz": "America/Los_Angeles",
    }
)
HEADER = ["Event", "Type", "Pri", "Status", "Source", "Disposition", "Address", "X", "Y", "Received", "Zone", "Shift"]


def agency_with_beats() -> Agency:
    agency, _ = Agency.objects.get_or_create(code="BULKBENCH", defaults={"name": "Bulk import bench"})
    Zone.objects.filter(agency=agency).delete()
    step_lon, step_lat = 2 * HALF_LON / GRID, 2 * HALF_LAT / GRID
    west, south = CENTER[0] - HALF_LON, CENTER[1] - HALF_LAT
    Zone.objects.bulk_create(
        Zone(
            agency=agency,
            kind="beat",
            code=f"B{i}-{j}",
            name=f"B{i}-{j}",
            geom=MultiPolygon(
                Polygon.from_bbox(
                    (west + i * step_lon, south + j * step_lat, west + (i + 1) * step_lon, south + (j + 1) * step_lat)
                ),
                srid=4326,
            ),
        )
        for i in range(GRID)
        for j in range(GRID)
    )
    with connection.cursor() as cursor:
        # As autovacuum does soon after a zone import: without statistics the planner may scan the agency's
        # beats one by one instead of using the spatial index.
        cursor.execute("ANALYZE zones_zone")
    return agency


def rows(count: int, *, status: str = "closed") -> list[list[str]]:
    rng = random.Random(7)
    start = datetime(2024, 1, 1, 0, 0)
    out = []
    for n in range(count):
        lon = CENTER[0] + rng.uniform(-HALF_LON, HALF_LON)
        lat = CENTER[1] + rng.uniform(-HALF_LAT, HALF_LAT)
        at = start + timedelta(seconds=37 * n)
        out.append(
            [f"24-{n:07d}", rng.choice(TYPES), str(rng.randint(1, 5)), status, rng.choice(SOURCES), "REPORT WRITTEN",
             f"{rng.randint(1, 99)}XX {rng.choice(['PINE', 'PIKE', 'UNION'])} ST", f"{lon:.6f}", f"{lat:.6f}",
             at.strftime("%Y-%m-%d %H:%M:%S"), rng.choice("NESW"), rng.choice(["A", "B", "C"])]
        )  # fmt: skip
    return out


def write_csv(path: Path, data: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(data)
    return path


def empty(agency: Agency) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM incidents_incident WHERE agency_id = %s", [agency.pk])
        cursor.execute("VACUUM ANALYZE incidents_incident")


def timed_import(agency: Agency, path: Path) -> tuple[float, str]:
    started = time.perf_counter()
    result = import_layer(layer="incidents", path=path, agency=agency, spec=MAPPING)
    seconds = time.perf_counter() - started
    assert not result.rejected, result.rejected[:3]
    return seconds, result.summary()


def timed_copy(agency: Agency, data: list[list[str]]) -> float:
    tz = UTC
    parsed = [
        (row[0], row[1], int(row[2]), row[3], row[4], row[5], row[6], float(row[7]), float(row[8]),
         datetime.strptime(row[9], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz))
        for row in data
    ]  # fmt: skip
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        raw = cursor.connection  # psycopg 3
        with raw.cursor().copy(
            "COPY incidents_incident (created_at, updated_at, agency_id, cad_number, type_code, type_description,"
            " priority, status, call_source, disposition, address, location, received_at, source, legal_hold)"
            " FROM STDIN"
        ) as copy:
            now = datetime.now(tz)
            for cad, type_code, pri, status, source, disposition, address, lon, lat, at in parsed:
                copy.write_row(
                    (now, now, agency.pk, cad, type_code, "", pri, status, source, disposition, address,
                     f"SRID=4326;POINT({lon} {lat})", at, "bench", False)
                )  # fmt: skip
    return time.perf_counter() - started


def timed_row_by_row(agency: Agency, data: list[list[str]]) -> float:
    started = time.perf_counter()
    with transaction.atomic():
        for row in data:
            with transaction.atomic():
                incident_upsert(
                    agency_id=agency.pk,
                    cad_number=row[0],
                    type_code=row[1],
                    priority=int(row[2]),
                    status=row[3],
                    address=row[6],
                    location=make_point(float(row[7]), float(row[8])),
                    received_at=datetime.strptime(row[9], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC),
                    source="bench",
                )
    return time.perf_counter() - started


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    load_before = load_average()
    agency = agency_with_beats()
    data = rows(ARGS.rows)
    figures: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = write_csv(Path(folder) / "calls.csv", data)
        changed = write_csv(Path(folder) / "changed.csv", rows(ARGS.rows, status="on_scene"))

        empty(agency)
        seconds, summary = timed_import(agency, path)
        print(summary)
        figures.append(("import (new)", ARGS.rows, seconds))
        with_beat = Incident.objects.filter(agency=agency, beat__isnull=False).count()
        seconds, summary = timed_import(agency, path)
        print(summary)
        figures.append(("import (same file)", ARGS.rows, seconds))
        seconds, summary = timed_import(agency, changed)
        print(summary)
        figures.append(("import (changed)", ARGS.rows, seconds))

        empty(agency)
        figures.append(("COPY (raw)", ARGS.rows, timed_copy(agency, data)))
        if ARGS.row_by_row:
            empty(agency)
            count = min(ARGS.row_by_row, ARGS.rows)
            figures.append(("row by row (old path)", count, timed_row_by_row(agency, data[:count])))
        empty(agency)

    load_after = load_average()
    copy_rate = ARGS.rows / next(s for name, _, s in figures if name == "COPY (raw)")
    new_rate = ARGS.rows / next(s for name, _, s in figures if name == "import (new)")
    lines = [
        (name, f"{count:,}", f"{seconds:.2f}", f"{count / seconds:,.0f}", f"{copy_rate / (count / seconds):.1f}x")
        for name, count, seconds in figures
    ]
    print()
    print(table(["scenario", "rows", "seconds", "rows/s", "time vs COPY"], lines))
    print(f"\n{with_beat:,} of {ARGS.rows:,} imported incidents got a beat in the same statement")
    verdict = "clears" if new_rate >= TARGET_ROWS_PER_SECOND else "MISSES"
    print(
        f"import (new) {new_rate:,.0f} rows/s vs COPY {copy_rate:,.0f} rows/s:"
        f" {new_rate / copy_rate:.2f} of COPY's rate; {verdict} {TARGET_ROWS_PER_SECOND:,} rows/s."
        f" Load average (1, 5, 15 min) before {load_before}, after {load_after} on {os.cpu_count()} cores."
    )
    out = write_result(
        "bulk_import",
        {
            "rows": ARGS.rows,
            "machine": machine(),
            "load_average_before": load_before,
            "load_average_after": load_after,
            "new_rows_per_second_vs_copy": round(new_rate / copy_rate, 3),
            "target_rows_per_second": TARGET_ROWS_PER_SECOND,
            "scenarios": [
                {"name": name, "rows": count, "seconds": round(seconds, 3), "rows_per_second": round(count / seconds)}
                for name, count, seconds in figures
            ],
        },
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
