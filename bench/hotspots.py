"""Hotspot computation time: Getis-Ord Gi* on an H3 grid over 100,000 and 1,000,000 incidents, by stage.

    .venv/bin/python bench/hotspots.py                      # 100k and 1M incidents (about 3-5 minutes)
    .venv/bin/python bench/hotspots.py --sizes 100000       # quicker

Runs in its own database (`rtcc_bench_hotspots` on the project's server: created and migrated if missing). For
each size the bench agency's incidents are replaced by `--sizes` rows from one INSERT ... SELECT FROM
generate_series: 20,000 address points over a 14 x 11 km city box (18,000 uniform, 2,000 around three centres),
each incident at one of them (70% any address, 30% a clustered one), six types, received over the last 365 days;
then VACUUM ANALYZE. The agency has no zones, so the study area is the incidents' convex hull.

Stages of one Gi* run (resolution 8, all incidents of the year), as apps.hotspots.services runs them:
db        the filtered incidents grouped by location in SQL (one row per address: ~20k rows cross to Python)
h3        H3 cell of every distinct location (h3.latlng_to_cell, one C call each) and counts per cell
grid      the study area's cells (hull polyfill) and each cell's exposure (share inside the area, shapely)
weights   libpysal W from H3 adjacency
gi_star   esda.G_Local(star=True), 999 conditional permutations (p_sim) besides the analytical z (p_norm)
Then the naive alternatives in the same run, with the ratio naive / ours:
fetch     every incident row fetched (ST_X, ST_Y per row, no GROUP BY) + H3 per row + counting in Python
          (collections.Counter) against `db` + `h3`
p_norm    G_Local with permutations=0 (analytical inference only) against 999 permutations
And the whole run through hotspot_run_compute (gistar, default permutations; KDE, 300 m bandwidth), and one
filtered Gi* run (two types, 22:00-03:59, Friday and Saturday, local time, filtered in SQL).
Writes bench/results/hotspots.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench._support import bench_base_url, ensure_database  # noqa: E402  (one copy: CREATE DATABASE, PostGIS, migrate)

RESULTS = ROOT / "bench" / "results"
AGENCY_CODE = "BENCHHOT"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="incident counts, comma-separated")
    parser.add_argument("--database", default="rtcc_bench_hotspots", help="the bench's own database (same server)")
    parser.add_argument("--out", type=Path, default=RESULTS / "hotspots.json")
    parser.add_argument("--reuse", action="store_true", help="keep the incidents already there when the count matches")
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


ARGS = parse_args()
URL = prepare_environment(ARGS.database)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import FloatField, Func  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.accounts.models import Agency  # noqa: E402
from apps.hotspots import analysis, selectors  # noqa: E402
from apps.hotspots.models import HotspotRun  # noqa: E402
from apps.hotspots.params import SEED, normalise  # noqa: E402
from apps.hotspots.services import hotspot_run_compute, hotspot_run_request  # noqa: E402

_FILL = """
WITH addr AS (
    SELECT g AS id,
           CASE WHEN g <= 18000 THEN -122.40 + random() * 0.19
                ELSE (ARRAY[-122.335, -122.31, -122.36])[1 + g %% 3] + 0.004 * sqrt(-2 * ln(1 - random()))
                     * cos(2 * pi() * random()) END AS x,
           CASE WHEN g <= 18000 THEN 47.55 + random() * 0.10
                ELSE (ARRAY[47.608, 47.62, 47.58])[1 + g %% 3] + 0.0027 * sqrt(-2 * ln(1 - random()))
                     * cos(2 * pi() * random()) END AS y
    FROM generate_series(1, 20000) AS g
), a AS (SELECT array_agg(x ORDER BY id) AS xs, array_agg(y ORDER BY id) AS ys FROM addr)
INSERT INTO incidents_incident (agency_id, cad_number, type_code, type_description, priority, status, address,
                                location, received_at, source, legal_hold, created_at, updated_at)
SELECT %(agency)s, 'B' || g,
       (ARRAY['THEFT', 'THEFT', 'BURGLARY', 'ASSAULT', 'ROBBERY', 'VANDALISM'])[1 + g %% 6], '', 3, 'closed', '',
       ST_SetSRID(ST_MakePoint(a.xs[i.k], a.ys[i.k]), 4326),
       now() - random() * interval '364 days', 'bench', false, now(), now()
FROM generate_series(1, %(rows)s::int) AS g
CROSS JOIN a
CROSS JOIN LATERAL (SELECT CASE WHEN random() < 0.3 THEN 18001 + floor(random() * 2000)::int
                                ELSE 1 + floor(random() * 20000)::int END + 0 * g AS k) AS i
"""


def setup_agency() -> Agency:
    if settings.DATABASES["default"]["NAME"] != ARGS.database:
        raise SystemExit("refusing to write: Django is not connected to the bench database")
    agency, _ = Agency.objects.get_or_create(
        code=AGENCY_CODE, defaults={"name": "Hotspot bench agency", "time_zone": "America/Los_Angeles"}
    )
    return agency


def fill(agency: Agency, rows: int) -> float:
    t0 = time.perf_counter()
    HotspotRun.objects.filter(agency=agency).delete()
    if ARGS.reuse and agency_incidents(agency) == rows:
        return 0.0
    with connection.cursor() as cur:
        cur.execute("DELETE FROM incidents_incident WHERE agency_id = %s", [agency.pk])
        cur.execute(_FILL, {"agency": agency.pk, "rows": rows})
    seconds = time.perf_counter() - t0
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE incidents_incident")
    return seconds


def agency_incidents(agency: Agency) -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM incidents_incident WHERE agency_id = %s", [agency.pk])
        return cur.fetchone()[0]


def ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)


def stages(agency: Agency, params: dict) -> dict[str, Any]:
    """One Gi* run, stage by stage, then the naive alternatives."""
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    points = selectors.incident_points(agency=agency, params=params)
    out["db_ms"] = ms(t0)
    out["incidents"] = points.total
    out["rows_fetched"] = len(points.lon)
    t0 = time.perf_counter()
    counts = analysis.cell_counts(points, params["resolution"])
    out["h3_ms"] = ms(t0)
    t0 = time.perf_counter()
    grid = analysis.study_grid(occupied=set(counts), resolution=params["resolution"], area=None, points=points)
    out["grid_ms"] = ms(t0)
    out["cells"] = len(grid.cells)
    t0 = time.perf_counter()
    w = analysis.adjacency_weights(grid.cells)
    out["weights_ms"] = ms(t0)
    t0 = time.perf_counter()
    gi = analysis.gi_star(grid, counts, w, permutations=999, seed=SEED)
    out["gi_star_999_ms"] = ms(t0)
    out["hot95_cells"] = sum(analysis.confidence(c) >= 95 for c in gi.classes)
    out["total_ms"] = round(sum(out[k] for k in ("db_ms", "h3_ms", "grid_ms", "weights_ms", "gi_star_999_ms")), 1)

    # Naive: every row to Python, H3 per row, counted with a Counter.
    t0 = time.perf_counter()
    rows = list(
        selectors.incidents_filtered(agency=agency, params=params)
        .annotate(
            lon=Func("location", function="ST_X", output_field=FloatField()),
            lat=Func("location", function="ST_Y", output_field=FloatField()),
        )
        .values_list("lon", "lat")
    )
    out["naive_db_ms"] = ms(t0)
    t0 = time.perf_counter()
    naive_counts = Counter(analysis.h3i.latlng_to_cell(lat, lon, params["resolution"]) for lon, lat in rows)
    out["naive_h3_count_ms"] = ms(t0)
    if dict(naive_counts) != counts:
        raise SystemExit("naive counting disagrees with the grouped counts")
    out["naive_fetch_ratio"] = round((out["naive_db_ms"] + out["naive_h3_count_ms"]) / (out["db_ms"] + out["h3_ms"]), 1)
    t0 = time.perf_counter()
    gi0 = analysis.gi_star(grid, counts, w, permutations=0, seed=SEED)
    out["gi_star_p_norm_ms"] = ms(t0)
    if gi0.classes != gi.classes:
        raise SystemExit("classes differ between runs with and without permutations (normal inference)")
    out["permutation_ratio"] = round(out["gi_star_999_ms"] / max(out["gi_star_p_norm_ms"], 0.1), 1)
    return out


def full_run(agency: Agency, kind: str, raw: dict) -> dict[str, Any]:
    HotspotRun.objects.filter(agency=agency).delete()
    run, _ = hotspot_run_request(agency=agency, kind=kind, raw_params=raw, dispatch=False)
    t0 = time.perf_counter()
    run = hotspot_run_compute(run_id=run.pk)
    seconds = time.perf_counter() - t0
    if run is None or run.status != "done":
        raise SystemExit(f"{kind} run failed: {run and run.error}")
    size = len(json.dumps(run.result))
    return {
        "kind": kind,
        "params": raw,
        "seconds": round(seconds, 2),
        "incidents": run.incident_count,
        "features": run.summary["features"],
        "geojson_kb": round(size / 1024),
        "timings_ms": run.summary["timings_ms"],
    }


def warm_up() -> None:
    """The libraries' first import (several seconds for esda and libpysal) is not a stage of a run."""
    import importlib

    for name in ("esda", "libpysal.weights", "pyproj", "scipy.ndimage", "scipy.spatial", "shapely"):
        importlib.import_module(name)


def main() -> None:
    agency = setup_agency()
    today = timezone.localtime(timezone.now()).date()
    year = {"start": (today.replace(year=today.year - 1)).isoformat(), "end": today.isoformat()}
    warm_up()
    runs = []
    for size in [int(s) for s in ARGS.sizes.split(",") if s]:
        fill_s = fill(agency, size)
        print(f"{size:,} incidents: filled in {fill_s:.1f}s")
        known = selectors.incident_type_codes(agency_id=agency.pk)
        for resolution in (8, 10):
            params = normalise("gistar", {**year, "resolution": resolution}, known_types=known, today=today)
            runs.append(
                {
                    "size": size,
                    "resolution": resolution,
                    "fill_seconds": round(fill_s, 1),
                    "load_average": os.getloadavg()[0],
                    **stages(agency, params),
                }
            )
        runs[-1]["runs"] = [
            full_run(agency, "gistar", year),
            full_run(agency, "kde", year),
            full_run(
                agency,
                "gistar",
                {**year, "types": ["BURGLARY", "ROBBERY"], "hour_start": 22, "hour_end": 3, "days": [5, 6]},
            ),
        ]

    print(
        f"\n{'incidents':>10}{'res':>4}{'rows':>8}{'cells':>7}{'db':>8}{'h3':>7}{'grid':>7}{'weights':>9}{'G_Local':>9}"
        f"{'total':>8}   {'naive fetch+count':>18}{'ratio':>7}   {'p_norm only':>12}{'ratio':>7}   (ms)"
    )
    for r in runs:
        print(
            f"{r['incidents']:>10,}{r['resolution']:>4}{r['rows_fetched']:>8,}{r['cells']:>7,}{r['db_ms']:>8.0f}{r['h3_ms']:>7.0f}"
            f"{r['grid_ms']:>7.0f}{r['weights_ms']:>9.0f}{r['gi_star_999_ms']:>9.0f}{r['total_ms']:>8.0f}   "
            f"{r['naive_db_ms'] + r['naive_h3_count_ms']:>18.0f}{r['naive_fetch_ratio']:>6}x   "
            f"{r['gi_star_p_norm_ms']:>12.0f}{r['permutation_ratio']:>6}x"
        )
    print(f"\n{'incidents':>10}  {'run':<34}{'seconds':>8}{'features':>9}{'GeoJSON kB':>11}  stages (ms)")
    for r in runs:
        for run in r.get("runs", []):
            label = run["kind"] + (" filtered" if "types" in run["params"] else "")
            stages_text = " ".join(f"{k}={v:.0f}" for k, v in run["timings_ms"].items())
            print(
                f"{r['size']:>10,}  {label + ' (' + str(run['incidents']) + ' inc.)':<34}{run['seconds']:>8.2f}"
                f"{run['features']:>9,}{run['geojson_kb']:>11,}  {stages_text}"
            )
    result = {
        "bench": "hotspots",
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg(),
        },
        "postgres": connection.cursor().connection.info.parameter_status("server_version"),
        "runs": runs,
    }
    RESULTS.mkdir(exist_ok=True)
    ARGS.out.write_text(json.dumps(result, indent=2, default=float) + "\n")
    print(f"\nwritten {ARGS.out}")


if __name__ == "__main__":
    main()
