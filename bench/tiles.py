"""History at scale: vector tiles vs GeoJSON over 1,000,000 incidents.

    .venv/bin/python bench/tiles.py                     # 1M incidents (the first run loads them: minutes)
    .venv/bin/python bench/tiles.py --rows 100000       # quicker

Runs in its own database (`rtcc_bench_tiles` on the project's server, created and migrated if missing). Its
incidents table is filled once with `--rows` incidents of one agency (one INSERT ... SELECT FROM generate_series:
60% around eight hot spots, 40% spread over Seattle, two years of calls), then VACUUM ANALYZE; a later run with
the same --rows reuses them. Every request goes through the real view in this process (Django test client signed
in as a watch commander: authentication, permission, scoping subquery, query, ETag), so the figures are server
time without the network. Scenarios, each timed per request (p50/p99 over --samples requests, --naive-samples for
the naive and GeoJSON ones, after one warm-up):

mvt z10 view       GET /api/tiles/incidents_history/10/x/y.mvt of the tile holding the city, through the view:
                   every incident in it, counted by PostgreSQL into one feature per cell of a 256 grid (count,
                   most urgent priority), selected by `location && ST_Transform(ST_TileEnvelope(...), 4326)`
                   on the GiST index.
mvt z10 per-feature  the same tile as ST_AsMVT is usually written: one feature per incident with its attributes
                   (SQL run directly, index filter).
mvt z14 view       z14 tiles over downtown through the view (cells; a different tile per request, round robin).
mvt z14 per-feature  the same tiles, one feature per incident, index filter (SQL only).
mvt z14 naive      the same, with the tutorial filter `ST_Transform(location, 3857) && ST_TileEnvelope(...)`,
                   which the index cannot answer (SQL only).
mvt z16 view       z16 tiles over downtown through the view: one feature per incident (the first such zoom).
geojson city       GET /api/incidents/?in_bbox=<city>&page_size=500 and 5000: the REST layer at the city view. It
                   returns one page of a million.
geojson z14 area   GET /api/incidents/?in_bbox=<z14 tile bounds>&page_size=5000: the REST layer for the area of a
                   z14 tile (more than one page where the tile holds more than 5000).

Columns: "incidents" in the tile's area (mean over its tiles; a GeoJSON row: the features it returned), "KiB"
the response (mean), p50/p99 in milliseconds. Writes bench/results/tiles.json.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._support import fmt, isolate, machine, spread, table, write_result  # noqa: E402

CITY = (-122.42, 47.50, -122.25, 47.73)  # lon/lat box of the generated incidents
DOWNTOWN = (-122.345, 47.600, -122.325, 47.615)  # z14 tiles are sampled here
HOT_SPOTS = [
    (-122.335, 47.608),
    (-122.320, 47.615),
    (-122.313, 47.662),
    (-122.300, 47.545),
    (-122.355, 47.690),
    (-122.385, 47.565),
    (-122.290, 47.700),
    (-122.340, 47.625),
]
SOURCE = "bench:tiles"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="incidents in the bench database")
    parser.add_argument("--samples", type=int, default=20, help="timed requests per tile scenario")
    parser.add_argument(
        "--naive-samples", type=int, default=3, help="timed requests per naive tile scenario and per GeoJSON scenario"
    )
    parser.add_argument("--database", default="rtcc_bench_tiles", help="the bench's own database (same server)")
    return parser.parse_args()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    return int((lon + 180.0) / 360.0 * n), int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    n = 1 << z

    def lat(yy: int) -> float:
        return math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * yy / n))))

    return x / n * 360.0 - 180.0, lat(y + 1), (x + 1) / n * 360.0 - 180.0, lat(y)


def load_incidents(agency_id: int, rows: int) -> tuple[int, float]:
    """The bench agency's incidents, exactly `rows` of them (reloaded when the count differs). Returns
    (rows, seconds spent loading; 0 when reused)."""
    from django.db import connection

    from apps.incidents.models import Incident

    have = Incident.objects.filter(agency_id=agency_id).count()
    if have == rows:
        return rows, 0.0
    started = time.monotonic()
    centres_lon = ",".join(str(lon) for lon, _ in HOT_SPOTS)
    centres_lat = ",".join(str(lat) for _, lat in HOT_SPOTS)
    min_lon, min_lat, max_lon, max_lat = CITY
    with connection.cursor() as cur:
        cur.execute("DELETE FROM incidents_incident WHERE agency_id = %s", [agency_id])
        cur.execute("SELECT setseed(0.42)")
        cur.execute(
            f"""
            INSERT INTO incidents_incident (created_at, updated_at, cad_number, type_code, type_description,
                priority, status, address, location, received_at, source, agency_id, legal_hold)
            SELECT now(), now(), 'BENCH-' || g,
                   (ARRAY['THEFT','BURGLARY','ASSAULT','DISTURB','TRAFFIC','ALARM','ROBBERY','SUSP'])[1 + (g * 7) %% 8],
                   '', 1 + (g * 13) %% 5, CASE WHEN g %% 50 = 0 THEN 'pending' ELSE 'closed' END, '',
                   ST_SetSRID(ST_MakePoint(LEAST(GREATEST(p.lon, {min_lon}), {max_lon}),
                                           LEAST(GREATEST(p.lat, {min_lat}), {max_lat})), 4326),
                   now() - r.u4 * interval '730 days', %s, %s, false
            FROM generate_series(1, %s) AS g
            CROSS JOIN LATERAL (SELECT GREATEST(random(), 1e-12) AS u1, random() AS u2, random() AS u3,
                                       random() AS u4, g %% 8 + 1 AS spot) r
            CROSS JOIN LATERAL (
                SELECT CASE WHEN r.u3 < 0.6
                            THEN (ARRAY[{centres_lon}])[r.spot] + 0.012 * sqrt(-2 * ln(r.u1)) * cos(2 * pi() * r.u2)
                            ELSE {min_lon} + r.u1 * {max_lon - min_lon} END AS lon,
                       CASE WHEN r.u3 < 0.6
                            THEN (ARRAY[{centres_lat}])[r.spot] + 0.008 * sqrt(-2 * ln(r.u1)) * sin(2 * pi() * r.u2)
                            ELSE {min_lat} + r.u2 * {max_lat - min_lat} END AS lat
            ) p
            """,
            [SOURCE, agency_id, rows],
        )
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE incidents_incident")
    return rows, time.monotonic() - started


def timed(run: Callable[[], Any], samples: int) -> tuple[list[float], Any]:
    """Milliseconds per call over `samples` calls after one warm-up; and the last call's result."""
    result = run()
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return times, result


def main() -> None:
    args = parse_args()
    isolate(args.database, "tiles")
    import django

    django.setup()
    from django.db import connection
    from django.test import Client

    from apps.accounts.choices import Role
    from apps.accounts.models import Agency, User

    agency, _ = Agency.objects.get_or_create(code="BENCH", defaults={"name": "Bench agency"})
    user, _ = User.objects.get_or_create(
        username="bench-commander", defaults={"agency": agency, "role": Role.WATCH_COMMANDER}
    )
    rows, load_seconds = load_incidents(agency.pk, args.rows)
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    print(
        f"{rows:,} incidents in {args.database}"
        + (f" (loaded in {load_seconds:.1f}s)" if load_seconds else " (reused)")
    )

    def get(path: str, **params: Any):
        response = client.get(path, params)
        assert response.status_code == 200, (path, response.status_code, response.content[:200])
        return response

    def raw(sql: str, params: list) -> bytes:
        with connection.cursor() as cur:
            cur.execute(sql, params)
            return bytes(cur.fetchone()[0] or b"")

    def area_count(bounds: tuple[float, float, float, float]) -> int:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM incidents_incident"
                " WHERE agency_id = %s AND location && ST_MakeEnvelope(%s, %s, %s, %s, 4326)",
                [agency.pk, *bounds],
            )
            return cur.fetchone()[0]

    z10 = (10, *tile_of(-122.335, 47.615, 10))
    z14_tiles, z16_tiles = (
        sorted({(z, *tile_of(lon, lat, z)) for lon in (DOWNTOWN[0], DOWNTOWN[2]) for lat in (DOWNTOWN[1], DOWNTOWN[3])})
        for z in (14, 16)
    )
    results: dict[str, Any] = {}
    report_rows = []

    def record(name: str, times: list[float], *, features: int | None, size: int | None, note: str = "") -> None:
        figures = spread(times)
        results[name] = {**figures, "features": features, "bytes": size, "note": note}
        report_rows.append(
            [
                name,
                figures["n"],
                fmt(figures["p50"]),
                fmt(figures["p99"]),
                fmt(features, 0) if features is not None else "-",
                f"{size / 1024:,.0f}" if size is not None else "-",
                note,
            ]
        )

    # Per-feature MVT as usually written: one feature per incident, every attribute, over ST_AsMVTGeom;
    # filtered on the index (`indexed`) or the tutorial way on a reprojected geometry (`transformed`).
    per_feature_sql = """
        SELECT ST_AsMVT(t, 'incidents', 4096, 'geom') FROM (
            SELECT ST_AsMVTGeom(ST_Transform(location, 3857), ST_TileEnvelope(%s, %s, %s), 4096, 64, true) AS geom,
                   type_code AS type, priority, status, floor(EXTRACT(EPOCH FROM received_at))::bigint AS received
            FROM incidents_incident
            WHERE agency_id = %s AND {where}
        ) t"""
    transformed = "ST_Transform(location, 3857) && ST_TileEnvelope(%s, %s, %s)"
    indexed = "location && ST_Transform(ST_TileEnvelope(%s, %s, %s), 4326)"
    path = "/api/tiles/incidents_history/{}/{}/{}.mvt"

    def round_robin(tiles: list[tuple[int, int, int]]) -> Callable[[], tuple[int, int, int]]:
        state = {"i": 0}

        def pick() -> tuple[int, int, int]:
            state["i"] += 1
            return tiles[state["i"] % len(tiles)]

        return pick

    def view_scenario(name: str, tiles: list[tuple[int, int, int]], note: str) -> None:
        pick, sizes = round_robin(tiles), []

        def one():
            response = get(path.format(*pick()))
            sizes.append(len(response.content))

        times, _ = timed(one, args.samples)
        counts = [area_count(tile_bounds(*t)) for t in tiles]
        record(name, times, features=round(sum(counts) / len(counts)), size=round(sum(sizes) / len(sizes)), note=note)

    def sql_scenario(name: str, tiles: list[tuple[int, int, int]], where: str, samples: int, note: str) -> None:
        pick, sizes = round_robin(tiles), []

        def one():
            tile = pick()
            sizes.append(len(raw(per_feature_sql.format(where=where), [*tile, agency.pk, *tile])))

        times, _ = timed(one, samples)
        counts = [area_count(tile_bounds(*t)) for t in tiles]
        record(name, times, features=round(sum(counts) / len(counts)), size=round(sum(sizes) / len(sizes)), note=note)

    view_scenario("mvt z10 view", [z10], "the city in one tile: cells")
    sql_scenario("mvt z10 per-feature", [z10], indexed, args.naive_samples, "same tile, one feature per incident")
    view_scenario("mvt z14 view", z14_tiles, "downtown tiles: cells")
    sql_scenario("mvt z14 per-feature", z14_tiles, indexed, args.samples, "index && on stored 4326")
    sql_scenario("mvt z14 naive", z14_tiles, transformed, args.naive_samples, "ST_Transform(location) &&: no index")
    view_scenario("mvt z16 view", z16_tiles, "downtown tiles: one feature each")
    z14_counts = [area_count(tile_bounds(*t)) for t in z14_tiles]

    # GeoJSON: the REST layer.
    city_bbox = ",".join(f"{v:.6f}" for v in CITY)
    for page_size in (500, 5000):
        times, response = timed(
            lambda ps=page_size: get("/api/incidents/", in_bbox=city_bbox, page_size=ps), args.naive_samples
        )
        body = response.json()
        record(
            f"geojson city p{page_size}",
            times,
            features=len(body["features"]),
            size=len(response.content),
            note=f"first page of {rows:,}",
        )
    z14_box = tile_bounds(*z14_tiles[0])
    box = ",".join(f"{v:.6f}" for v in z14_box)

    def all_pages():
        url, params, features, size = "/api/incidents/", {"in_bbox": box, "page_size": 5000}, 0, 0
        while url:
            response = client.get(url, params)
            body = response.json()
            features += len(body["features"])
            size += len(response.content)
            url, params = body.get("next"), {}
        return features, size

    times, (features, size) = timed(all_pages, args.naive_samples)
    record("geojson z14 area", times, features=features, size=size, note="every page, 5000 per page")

    ratios = {
        "z10: per-feature / view (cells)": results["mvt z10 per-feature"]["p50"] / results["mvt z10 view"]["p50"],
        "z14: naive (no index) / per-feature (index)": (
            results["mvt z14 naive"]["p50"] / results["mvt z14 per-feature"]["p50"]
        ),
        "z14: naive (no index) / view (cells)": results["mvt z14 naive"]["p50"] / results["mvt z14 view"]["p50"],
        "z14 area: geojson (all pages) / view": results["geojson z14 area"]["p50"] / results["mvt z14 view"]["p50"],
    }
    print()
    print(table(["scenario", "n", "p50 ms", "p99 ms", "incidents", "KiB", "note"], report_rows))
    print(f"\n  load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work here slows every row)")
    for name, ratio in ratios.items():
        print(f"  ratio {name}: {ratio:.1f}x")
    out = write_result(
        "tiles",
        {
            "rows": rows,
            "load_seconds": round(load_seconds, 1),
            "z10_tile": z10,
            "z14_tiles": z14_tiles,
            "z16_tiles": z16_tiles,
            "z14_tile_incidents": z14_counts,
            "scenarios": results,
            "ratios_p50": {k: round(v, 1) for k, v in ratios.items()},
            "machine": machine() | {"load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        },
    )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
