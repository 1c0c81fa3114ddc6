"""Nearest cameras for an incident: the real selector against 1k, 100k and 1M cameras, and the naive sort.

    .venv/bin/python bench/cameras.py            # 1k, 100k, 1M cameras (about 3 minutes, most of it loading)
    .venv/bin/python bench/cameras.py --quick    # 1k and 100k

For each size, cameras of one bench agency are generated in SQL (generate_series; 360-degree cameras,
30-120 m range, 80% online, 70% live view) spread uniformly over a 0.6 x 0.4 degree metro area around the
demo city (about 45 x 45 km, so density grows with the count), in this script's own database
(rtcc_bench_perf). Then, for random incident locations in that area:

  selector  apps.cameras.selectors.cameras_seeing_point(user=<bench operator>, point, limit=5): scoped to
            the user, GiST-prefiltered to RTCC_CAMERA_SEARCH_RADIUS_M, ranked (sees it & live first, then
            nearest), materialized as the incident panel gets it. What the API pays.
  knn       SELECT ... ORDER BY location <-> point LIMIT 5: plain nearest five through the GiST index
            (the indexed nearest-neighbour query, for reference).
  naive     SELECT ... ORDER BY ST_Distance(location, point) LIMIT 5: what one writes without a spatial index
            in mind: every camera's distance computed, then sorted. The same (planar) order as knn, so both
            must name the same five; with ::geography distances it is slower still.

Query times are wall times per call in this process (ms), p50/p99. The ratio is naive p50 / selector p50.
The bench cameras are deleted at the end (and at the start, left over from an interrupted run).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._support import CENTER, fmt, isolate, machine, spread, table, write_result  # noqa: E402

parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="1k and 100k cameras only")
parser.add_argument("--queries", type=int, default=200, help="selector and knn queries per size")
parser.add_argument("--naive-queries", type=int, default=30, help="naive queries per size (they are slow)")
parser.add_argument("--database", default="rtcc_bench_perf")
ARGS = parser.parse_args()
ENV = isolate(ARGS.database, "cameras")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

from apps.accounts.choices import Role  # noqa: E402
from apps.accounts.models import Agency, User  # noqa: E402
from apps.cameras.selectors import cameras_seeing_point  # noqa: E402
from apps.core.geo import make_point  # noqa: E402

SIZES = (1_000, 100_000) if ARGS.quick else (1_000, 100_000, 1_000_000)
HALF_LON, HALF_LAT = 0.3, 0.2

GENERATE = """
INSERT INTO cameras_camera (created_at, updated_at, name, external_id, owner_kind, owner_name, owner_contact,
                            location, heading, fov_angle, fov_range, ptz, view, status, stream_url, stream_kind,
                            sharing, active, agency_id)
SELECT now(), now(), 'bench camera ' || g, 'bench-' || g, 'agency', '', '', pt, NULL, 360, r, false,
       ST_Buffer(pt, r * 1.1 / 75000.0, 4),  -- covers the whole range circle (lon degrees are the shorter)
       CASE WHEN random() < 0.8 THEN 'online' ELSE 'offline' END, '', '',
       CASE WHEN random() < 0.7 THEN 'live' ELSE 'on_request' END, true, %(agency)s
FROM (
    SELECT g, ST_SetSRID(ST_MakePoint(%(lon)s + (random() * 2 - 1) * %(hlon)s,
                                      %(lat)s + (random() * 2 - 1) * %(hlat)s), 4326) AS pt,
           30 + random() * 90 AS r
    FROM generate_series(%(first)s, %(last)s) AS g
) AS s
"""

KNN = """
SELECT id FROM cameras_camera WHERE agency_id = %s AND active
ORDER BY location <-> ST_SetSRID(ST_MakePoint(%s, %s), 4326) LIMIT 5
"""

NAIVE = """
SELECT id, ST_Distance(location, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) AS d
FROM cameras_camera WHERE agency_id = %s AND active ORDER BY d LIMIT 5
"""


def setup() -> tuple[Agency, User]:
    if "bench" not in settings.DATABASES["default"]["NAME"]:
        raise SystemExit("refusing to write: Django is not connected to a bench database")
    agency, _ = Agency.objects.get_or_create(code="BENCHCAM", defaults={"name": "Camera bench agency"})
    user, _ = User.objects.get_or_create(
        username="benchcam-operator", defaults={"agency": agency, "role": Role.OPERATOR}
    )
    return agency, user


def delete_cameras(agency: Agency) -> None:
    with connection.cursor() as cur:
        cur.execute("DELETE FROM cameras_camera WHERE agency_id = %s", [agency.pk])
        # A million dead rows would otherwise stay in the heap and the next run's sequential scans (the
        # naive query) would read them all: 1k cameras would look like 1M.
        cur.execute("VACUUM ANALYZE cameras_camera")


def grow_to(agency: Agency, have: int, want: int) -> float:
    started = time.perf_counter()
    step = 200_000
    with connection.cursor() as cur:
        for first in range(have + 1, want + 1, step):
            cur.execute(
                GENERATE,
                {
                    "agency": agency.pk,
                    "lon": CENTER[0],
                    "lat": CENTER[1],
                    "hlon": HALF_LON,
                    "hlat": HALF_LAT,
                    "first": first,
                    "last": min(want, first + step - 1),
                },
            )
        cur.execute("ANALYZE cameras_camera")
    return time.perf_counter() - started


def timed(fn, points) -> tuple[list[float], list]:
    times, answers = [], []
    for lon, lat in points:
        t = time.perf_counter()
        answers.append(fn(lon, lat))
        times.append((time.perf_counter() - t) * 1000)
    return times, answers


def measure(agency: Agency, user: User, size: int, rng: random.Random) -> dict:
    points = [
        (CENTER[0] + rng.uniform(-HALF_LON, HALF_LON) * 0.9, CENTER[1] + rng.uniform(-HALF_LAT, HALF_LAT) * 0.9)
        for _ in range(ARGS.queries)
    ]

    def selector(lon: float, lat: float) -> list[int]:
        return [r["camera"]["id"] for r in cameras_seeing_point(user=user, point=make_point(lon, lat), limit=5)]

    def knn(lon: float, lat: float) -> list[int]:
        with connection.cursor() as cur:
            cur.execute(KNN, [agency.pk, lon, lat])
            return [row[0] for row in cur.fetchall()]

    def naive(lon: float, lat: float) -> list[int]:
        with connection.cursor() as cur:
            cur.execute(NAIVE, [lon, lat, agency.pk])
            return [row[0] for row in cur.fetchall()]

    selector(*points[0])  # warm the cache of plans and pages once
    sel_ms, sel_ids = timed(selector, points)
    knn_ms, knn_ids = timed(knn, points)
    naive_points = points[: ARGS.naive_queries]
    naive_ms, naive_ids = timed(naive, naive_points)
    # The indexed nearest five and the full sort must name the same cameras (ties aside).
    agree = sum(set(a) == set(b) for a, b in zip(knn_ids, naive_ids, strict=False)) / len(naive_ids)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM cameras_camera WHERE agency_id = %s AND ST_DWithin(location::geography, "
            "ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography, %s)",
            [agency.pk, points[0][0], points[0][1], settings.RTCC_CAMERA_SEARCH_RADIUS_M],
        )
        in_radius = cur.fetchone()[0]
    sel, kn, nv = spread(sel_ms), spread(knn_ms), spread(naive_ms)
    return {
        "cameras": size,
        "cameras_within_radius_of_first_point": in_radius,
        "radius_m": settings.RTCC_CAMERA_SEARCH_RADIUS_M,
        "selector_ms": sel,
        "knn_ms": kn,
        "naive_ms": nv,
        "selector_answers_non_empty": sum(bool(a) for a in sel_ids) / len(sel_ids),
        "knn_matches_naive": round(agree, 3),
        "ratio_naive_vs_selector_p50": round(nv["p50"] / sel["p50"], 1) if sel["p50"] else None,
        "ratio_naive_vs_knn_p50": round(nv["p50"] / kn["p50"], 1) if kn["p50"] else None,
    }


def main() -> None:
    info = machine()
    agency, user = setup()
    delete_cameras(agency)
    rng = random.Random(11)
    rows = []
    have = 0
    started = time.perf_counter()
    try:
        for size in SIZES:
            load_s = grow_to(agency, have, size)
            have = size
            row = measure(agency, user, size, rng)
            row["load_seconds"] = round(load_s, 1)
            rows.append(row)
            print(
                f"  {size:>9,} cameras: selector p50 {row['selector_ms']['p50']} ms, "
                f"naive p50 {row['naive_ms']['p50']} ms",
                flush=True,
            )
    finally:
        delete_cameras(agency)
    result = {
        "benchmark": "cameras",
        "mode": "quick" if ARGS.quick else "full",
        "about": __doc__,
        "machine": info,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "rows": rows,
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    out = write_result("cameras", result)
    print()
    print("3. Nearest cameras for an incident (ms per query; selector = cameras_seeing_point, limit 5)")
    print(
        table(
            [
                "cameras",
                "in radius",
                "selector p50",
                "p99",
                "knn p50",
                "p99",
                "naive p50",
                "p99",
                "naive/selector",
                "naive/knn",
                "knn=naive",
            ],
            [
                [
                    f"{r['cameras']:,}",
                    f"{r['cameras_within_radius_of_first_point']:,}",
                    fmt(r["selector_ms"]["p50"], 2),
                    fmt(r["selector_ms"]["p99"], 2),
                    fmt(r["knn_ms"]["p50"], 2),
                    fmt(r["knn_ms"]["p99"], 2),
                    fmt(r["naive_ms"]["p50"], 1),
                    fmt(r["naive_ms"]["p99"], 1),
                    f"{r['ratio_naive_vs_selector_p50']}x",
                    f"{r['ratio_naive_vs_knn_p50']}x",
                    f"{r['knn_matches_naive']:.0%}",
                ]
                for r in rows
            ],
        )
    )
    print(
        f"   {ARGS.queries} selector/knn queries and {ARGS.naive_queries} naive ones per size, random points in the\n"
        f"   area; 'in radius': cameras within {settings.RTCC_CAMERA_SEARCH_RADIUS_M} m of the first point (the\n"
        "   selector ranks all of them); knn=naive: share of queries where both found the same five."
    )
    print(
        f"   {info['cores']} cores; load average {info['load_average_at_start']} at start, "
        f"{result['load_average_at_end']} at end (other work on the machine lowers every figure)"
    )
    print(f"\nwritten: {out}  (total {result['total_seconds']} s)")


if __name__ == "__main__":
    main()
