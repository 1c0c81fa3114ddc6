"""Hotspots: Gi* finds a planted cluster and not a uniform field, filters count in the agency's time
zone, periods compare, coverage gaps follow the cameras, and the runs API (perms, 400s, cache)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.hotspots import analysis
from apps.hotspots.choices import RunStatus
from apps.hotspots.models import HotspotRun
from apps.hotspots.params import normalise
from apps.hotspots.selectors import incidents_filtered
from apps.hotspots.services import hotspot_run_compute, hotspot_run_request, hotspots_refresh_defaults
from apps.hotspots.tasks import hotspot_runs_fail_stale_task
from apps.incidents.models import Incident
from rtcc_gis.celery import app

from . import factories as f

TZ = ZoneInfo("America/Los_Angeles")
# A box of about 6 x 5.5 km around downtown Seattle: some 45 H3 cells at resolution 8.
BOX = (-122.38, 47.58, -122.30, 47.63)
HOT = h3.latlng_to_cell(47.605, -122.34, 8)
HOT_LAT, HOT_LON = h3.cell_to_latlng(HOT)
TODAY = timezone.localtime(timezone.now(), TZ).date()


def _bulk(agency, points, *, when=None, type_code="ROBBERY"):
    """Incidents at (lon, lat) points; `when` a datetime or a callable(i) -> datetime."""
    start = Incident.objects.count()
    rows = []
    for i, (lon, lat) in enumerate(points):
        at = when(i) if callable(when) else (when or timezone.now() - timedelta(days=1, minutes=i))
        rows.append(
            Incident(
                agency=agency,
                cad_number=f"H{start + i}",
                type_code=type_code,
                location=f"SRID=4326;POINT({lon} {lat})",
                received_at=at,
            )
        )
    Incident.objects.bulk_create(rows)


def _uniform(rng, n):
    lon = rng.uniform(BOX[0], BOX[2], n)
    lat = rng.uniform(BOX[1], BOX[3], n)
    return list(zip(lon.tolist(), lat.tolist(), strict=True))


def _in_cell(rng, cell, n):
    """n points inside one H3 cell (near its centre: well within its edge)."""
    lat, lon = h3.cell_to_latlng(cell)
    pts = []
    while len(pts) < n:
        p = (lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.0013, 0.0013))
        if h3.latlng_to_cell(p[1], p[0], 8) == cell:
            pts.append(p)
    return pts


def _run(agency, kind, params=None):
    run, _ = hotspot_run_request(agency=agency, kind=kind, raw_params=params or {}, dispatch=False)
    return hotspot_run_compute(run_id=run.pk)


def _by_cell(run):
    return {feat["properties"]["cell"]: feat["properties"] for feat in run.result["features"]}


@pytest.fixture
def cluster(home):
    """A sparse uniform background (about 2 per cell) and 40 incidents planted in cell HOT."""
    rng = np.random.default_rng(11)
    _bulk(home, _uniform(rng, 90))
    _bulk(home, _in_cell(rng, HOT, 40))
    return home


# ---- Gi* ---------------------------------------------------------------------------------------------


def test_planted_cluster_is_a_significant_hot_spot(cluster):
    run = _run(cluster, "gistar", {"permutations": 999})
    assert run.status == RunStatus.DONE, run.error
    cells = _by_cell(run)
    hot = cells[HOT]
    assert hot["count"] >= 40  # the planted 40, plus whatever background fell in it
    assert hot["class"] in ("hot95", "hot99") and hot["z"] > 1.96
    assert hot["p_norm"] < 0.025 and hot["p_sim"] is not None
    assert run.incident_count == 130
    # The answer covers the study area (zero-count cells included in the statistic).
    assert run.summary["cells"] > len([c for c in cells.values() if c["count"]])
    far = [c for c in cells.values() if h3.grid_distance(HOT, c["cell"]) >= 3]
    assert far and not [c for c in far if c["class"].startswith("hot")]


def test_uniform_field_has_no_significant_hot_spots_beyond_chance(home):
    rng = np.random.default_rng(5)
    _bulk(home, _uniform(rng, 700))
    run = _run(home, "gistar")
    assert run.status == RunStatus.DONE, run.error
    classes = run.summary["classes"]
    assert classes["hot99"] == 0
    assert (classes["hot99"] + classes["hot95"]) / run.summary["cells"] < 0.1


def test_false_hot_rate_over_many_uniform_fields_is_nominal():
    """Over 20 uniform fields the share of cells called hot stays near what the test's level allows
    (2.5% one-sided at 95%, 0.5% at 99%); without the edge-exposure correction it was 8-12%."""
    hot95 = hot99 = cells = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        lon, lat = rng.uniform(BOX[0], BOX[2], 1500), rng.uniform(BOX[1], BOX[3], 1500)
        points = analysis.Points(lon, lat, np.ones(1500))
        counts = analysis.cell_counts(points, 8)
        grid = analysis.study_grid(occupied=set(counts), resolution=8, area=None, points=points)
        gi = analysis.gi_star(grid, counts, analysis.adjacency_weights(grid.cells), permutations=0, seed=1)
        hot95 += sum(c in ("hot95", "hot99") for c in gi.classes)
        hot99 += gi.classes.count("hot99")
        cells += len(gi.cells)
    assert hot95 / cells < 0.05 and hot99 / cells < 0.015


def test_h3_adjacency_weights_and_classes():
    """The weights are H3 adjacency: each interior cell has 6 neighbours; a spike is hot."""
    cells = sorted(h3.api.basic_int.grid_disk(h3.str_to_int(HOT), 3))
    w = analysis.adjacency_weights(cells)
    assert max(w.cardinalities.values()) == 6 and w.cardinalities[h3.str_to_int(HOT)] == 6
    counts = {c: 1 for c in cells} | {h3.str_to_int(HOT): 30}
    gi = analysis.gi_star(analysis.Grid(cells, np.ones(len(cells))), counts, w, permutations=99, seed=1)
    spike = cells.index(h3.str_to_int(HOT))
    assert gi.classes[spike] in ("hot95", "hot99") and gi.z[spike] > 1.96 and gi.p_sim[spike] <= 0.05
    assert analysis.classify(np.array([-3.0, 1.7, 0.5]), np.array([0.001, 0.045, 0.3])) == ["cold99", "hot90", "none"]


def test_study_area_uses_the_agency_zones(home):
    f.zone(agency=home, kind="district", bbox=BOX)
    _bulk(home, [(HOT_LON, HOT_LAT)] * 5)
    run = _run(home, "gistar", {"permutations": 0})
    # One incident location, yet the grid is the whole district (its cells polyfilled).
    assert run.summary["cells"] > 30
    assert _by_cell(run)[HOT]["p_sim"] is None  # no permutations asked


# ---- filters ----------------------------------------------------------------------------------------


def _local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 30, tzinfo=TZ)


def test_filters_count_in_the_agency_time_zone(home):
    monday = TODAY - timedelta(days=TODAY.weekday() + 7)  # last week's Monday
    at = [
        (_local(monday, 23), "ROBBERY"),  # Monday 23:30 local is Tuesday in UTC
        (_local(monday + timedelta(days=1), 1), "ROBBERY"),  # Tuesday 01:30
        (_local(monday + timedelta(days=1), 12), "BURGLARY"),  # Tuesday 12:30
        (_local(monday + timedelta(days=5), 22), "ROBBERY"),  # Saturday 22:30
        (_local(monday - timedelta(days=60), 23), "ROBBERY"),  # outside the range
    ]
    for when, code in at:
        _bulk(home, [(HOT_LON, HOT_LAT)], when=when, type_code=code)
    assert at[0][0].astimezone(UTC).weekday() == 1  # the trap: UTC says Tuesday

    def count(**raw):
        params = normalise("gistar", raw, known_types={"ROBBERY", "BURGLARY"}, today=TODAY)
        return incidents_filtered(agency=home, params=params).count()

    assert count() == 4
    assert count(hour_start=22, hour_end=2) == 3  # wraps midnight: 23:30, 01:30, 22:30
    assert count(hour_start=2, hour_end=22) == 2  # 12:30 and 22:30 (both ends included)
    assert count(days=[1]) == 1  # Monday (local), not Tuesday
    assert count(days=[2]) == 2
    assert count(days=[6, 7], hour_start=22, hour_end=23) == 1
    assert count(types=["BURGLARY"]) == 1
    assert count(start=(monday - timedelta(days=61)).isoformat(), end=TODAY.isoformat()) == 5


# ---- compare and coverage gaps ---------------------------------------------------------------------------


def test_compare_two_periods(home):
    rng = np.random.default_rng(3)
    other = h3.grid_ring(HOT, 4)[0]
    this_month = timezone.now() - timedelta(days=2)
    last_year = this_month - timedelta(days=365)
    _bulk(home, _uniform(rng, 90), when=this_month)
    _bulk(home, _in_cell(rng, HOT, 40), when=this_month)
    _bulk(home, _uniform(rng, 90), when=last_year)
    _bulk(home, _in_cell(rng, other, 40), when=last_year)
    run = _run(home, "compare", {"start": (TODAY - timedelta(days=27)).isoformat()})
    assert run.status == RunStatus.DONE, run.error
    assert run.params["compare_end"] == TODAY.replace(year=TODAY.year - 1).isoformat()
    cells = _by_cell(run)
    assert cells[HOT]["hot_a"] and not cells[HOT]["hot_b"] and cells[HOT]["trend"] == "new"
    assert cells[other]["hot_b"] and not cells[other]["hot_a"] and cells[other]["trend"] == "cooled"
    assert cells[HOT]["count_a"] >= 40 and cells[HOT]["change"] == cells[HOT]["count_a"] - cells[HOT]["count_b"]
    assert run.summary["count_a"] == 130 and run.summary["count_b"] == 130


def test_a_camera_over_the_hot_cell_closes_its_gap(cluster):
    gaps = _by_cell(_run(cluster, "gaps"))
    assert gaps[HOT]["gap"] and gaps[HOT]["covered"] == 0 and gaps[HOT]["cameras"] == 0
    assert all(g["class"] in ("hot95", "hot99") for g in gaps.values())
    # A community registry camera looking all round from the cell's centre, 700 m: sees all of it.
    f.camera(agency=cluster, lon=HOT_LON, lat=HOT_LAT, heading=None, fov_range=700, owner_kind="community")
    f.camera(agency=f.agency("KCSO"), lon=HOT_LON, lat=HOT_LAT, heading=None, fov_range=700)  # not ours
    HotspotRun.objects.all().delete()  # no cache: the cameras changed
    covered = _by_cell(_run(cluster, "gaps"))
    assert not covered[HOT]["gap"] and covered[HOT]["cameras"] == 1
    assert covered[HOT]["covered"] > 0.99 and covered[HOT]["covered_community"] > 0.99
    assert covered[HOT]["covered_agency"] == 0


def test_kde_surface_peaks_at_the_cluster(cluster):
    run = _run(cluster, "kde", {"bandwidth_m": 200, "cell_m": 100})
    assert run.status == RunStatus.DONE, run.error
    feats = run.result["features"]
    assert 0 < len(feats) <= analysis.MAX_KDE_CELLS
    peak = max(feats, key=lambda x: x["properties"]["density"])
    ring = np.array(peak["geometry"]["coordinates"][0])
    lon, lat = ring[:4, 0].mean(), ring[:4, 1].mean()
    assert h3.grid_distance(h3.latlng_to_cell(lat, lon, 8), HOT) <= 1
    assert run.summary["crs"] == "EPSG:32610" and peak["properties"]["level"] == 1.0


def test_binned_kde_agrees_with_the_exact_estimate():
    from pyproj import Transformer
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(2)
    lon = np.concatenate([rng.uniform(BOX[0], BOX[2], 200), rng.normal(HOT_LON, 0.003, 100)])
    lat = np.concatenate([rng.uniform(BOX[1], BOX[3], 200), rng.normal(HOT_LAT, 0.002, 100)])
    points = analysis.Points(lon, lat, rng.integers(1, 4, 300).astype(float))
    features, summary = analysis.kde_surface(points, bandwidth_m=300, cell_m=50)
    to_utm = Transformer.from_crs("EPSG:4326", summary["crs"], always_xy=True)
    centres = np.array([np.array(feat["geometry"]["coordinates"][0][:4]).mean(axis=0) for feat in features])
    cx, cy = to_utm.transform(centres[:, 0], centres[:, 1])
    px, py = to_utm.transform(lon, lat)
    exact = KernelDensity(bandwidth=300).fit(np.column_stack([px, py]), sample_weight=points.n)
    expected = np.exp(exact.score_samples(np.column_stack([cx, cy]))) * points.total * 1e6
    got = np.array([feat["properties"]["density"] for feat in features])
    error = np.abs(got - expected).max() / expected.max()
    assert error < 0.03  # 1.4% when written


# ---- the runs API ---------------------------------------------------------------------------------------

URL = "/api/hotspots/runs/"


BAD_REQUESTS = [
    ({"kind": "nope"}, "kind"),
    ({"kind": "gistar", "params": {"resolution": 12}}, "resolution"),
    ({"kind": "gistar", "params": {"hour_start": 24, "hour_end": 3}}, "hour_start"),
    ({"kind": "gistar", "params": {"hour_start": 3}}, "hour_end"),
    ({"kind": "gistar", "params": {"days": [0, 8]}}, "days"),
    ({"kind": "gistar", "params": {"start": "2025-02-30"}}, "start"),
    ({"kind": "gistar", "params": {"start": "2025-03-02", "end": "2025-03-01"}}, "end"),
    ({"kind": "gistar", "params": {"start": "2019-01-01", "end": "2025-01-01"}}, "end"),
    ({"kind": "gistar", "params": {"types": ["ARSON"]}}, "types"),
    ({"kind": "kde", "params": {"bandwidth_m": 5}}, "bandwidth_m"),
    ({"kind": "kde", "params": {"resolution": 8}}, "resolution"),
    ({"kind": "gaps", "params": {"min_confidence": 80}}, "min_confidence"),
    ({"kind": "gistar", "params": {"colour": "red"}}, "colour"),
]


def test_bad_parameters_are_400s_naming_them(planner_client, home):
    f.incident(agency=home)
    for body, bad in BAD_REQUESTS:
        response = planner_client.post(URL, body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert bad in response.json(), (body, response.json())
    assert not HotspotRun.objects.exists()


def test_post_queues_then_get_returns_geojson(planner_client, planner, cluster, django_capture_on_commit_callbacks):
    from rtcc_gis.celery import app

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = planner_client.post(URL, {"kind": "gistar", "params": {"types": ["ROBBERY"]}}, format="json")
    assert response.status_code == 202 and response.json()["status"] == "pending"
    run_id = response.json()["id"]
    assert len(callbacks) == 1
    assert planner_client.get(f"{URL}{run_id}/").json()["result"] is None
    # The queued callback runs the Celery task (eagerly here, as a worker would).
    app.conf.task_always_eager = True
    try:
        callbacks[0]()
    finally:
        app.conf.task_always_eager = False
    body = planner_client.get(f"{URL}{run_id}/").json()
    assert body["status"] == "done" and body["result"]["type"] == "FeatureCollection"
    assert HotspotRun.objects.get(pk=run_id).created_by == planner
    # The same question again is the cached run, answered at once.
    again = planner_client.post(URL, {"kind": "gistar", "params": {"types": ["ROBBERY"]}}, format="json")
    assert again.status_code == 200 and again.json()["id"] == run_id and again.json()["reused"]
    assert again.json()["result"]["features"]
    other = planner_client.post(URL, {"kind": "gistar", "params": {"resolution": 9}}, format="json")
    assert other.status_code == 202 and other.json()["id"] != run_id
    listed = planner_client.get(URL, {"kind": "gistar"}).json()
    assert {r["id"] for r in listed["results"]} == {run_id, other.json()["id"]} and "result" not in listed["results"][0]


def test_stale_cache_is_not_reused(planner_client, home, settings):
    settings.RTCC_HOTSPOT_CACHE_SECONDS = 60
    f.incident(agency=home)
    first = planner_client.post(URL, {"kind": "kde"}, format="json").json()["id"]
    HotspotRun.objects.filter(pk=first).update(created_at=timezone.now() - timedelta(seconds=61))
    assert planner_client.post(URL, {"kind": "kde"}, format="json").json()["id"] != first


def test_a_run_pending_past_the_task_time_limit_counts_as_failed_and_is_not_reused(planner_client, home):
    """Its task was lost (broker restarted, worker killed): the planner polling it sees it fail, and
    asking again computes anew instead of waiting on it forever."""
    f.incident(agency=home)
    first = planner_client.post(URL, {"kind": "kde"}, format="json").json()["id"]
    HotspotRun.objects.filter(pk=first).update(created_at=timezone.now() - timedelta(minutes=11))
    polled = planner_client.get(f"{URL}{first}/").json()
    assert polled["status"] == "failed" and "not finished within" in polled["error"]
    listed = planner_client.get(URL).json()["results"]
    assert [(r["id"], r["status"]) for r in listed] == [(first, "failed")]
    again = planner_client.post(URL, {"kind": "kde"}, format="json")
    assert again.status_code == 202 and again.json()["id"] != first and not again.json()["reused"]


def test_reads_write_nothing_and_beat_persists_stale_runs(planner_client, home, other_agency, settings):
    """A GET derives "stale" without writing (a superuser's GET once failed every agency's stale runs);
    the periodic task, on the analytics queue with a soft limit below its hard one, writes it."""
    old = timezone.now() - timedelta(minutes=11)
    ours = HotspotRun.objects.create(agency=home, kind="kde", params={}, params_hash="a")
    theirs = HotspotRun.objects.create(agency=other_agency, kind="kde", params={}, params_hash="b")
    fresh = HotspotRun.objects.create(agency=home, kind="kde", params={}, params_hash="c")
    HotspotRun.objects.filter(pk__in=[ours.pk, theirs.pk]).update(created_at=old)
    root = f.user(agency=None, role=Role.WATCH_COMMANDER, username="root", is_superuser=True, is_staff=True)
    client = APIClient()
    client.force_authenticate(root)
    assert client.get(f"{URL}{theirs.pk}/").json()["status"] == "failed"
    assert planner_client.get(f"{URL}{ours.pk}/").json()["status"] == "failed"
    assert set(HotspotRun.objects.values_list("status", flat=True)) == {"pending"}  # nothing written

    assert hotspot_runs_fail_stale_task.apply().get() == 2
    assert dict(HotspotRun.objects.values_list("pk", "status")) == {
        ours.pk: "failed",
        theirs.pk: "failed",
        fresh.pk: "pending",
    }
    assert HotspotRun.objects.get(pk=ours.pk).error.startswith("not finished within")
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == hotspot_runs_fail_stale_task.name)
    assert entry["schedule"] <= 600
    assert app.amqp.router.route({}, hotspot_runs_fail_stale_task.name)["queue"].name == "analytics"
    assert hotspot_runs_fail_stale_task.soft_time_limit < hotspot_runs_fail_stale_task.time_limit


def test_runs_are_scoped_to_the_agency(commander_client, home, other_agency):
    theirs = HotspotRun.objects.create(agency=other_agency, kind="gistar", params={}, params_hash="x")
    ours = HotspotRun.objects.create(agency=home, kind="gistar", params={}, params_hash="y")
    assert commander_client.get(f"{URL}{theirs.pk}/").status_code == 404
    assert commander_client.get(f"{URL}{ours.pk}/").status_code == 200
    assert [r["id"] for r in commander_client.get(URL).json()["results"]] == [ours.pk]
    outsider_commander = f.user(agency=other_agency, role=Role.WATCH_COMMANDER)
    f.incident(agency=home, type_code="ARSON")
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(outsider_commander)
    # Another agency's incident types are not known to this one.
    assert client.post(URL, {"kind": "gistar", "params": {"types": ["ARSON"]}}, format="json").status_code == 400


def test_role_without_analytics_is_refused(operator_client, auditor_client, anon_client):
    assert operator_client.get(URL).status_code == 403
    assert operator_client.post(URL, {"kind": "gistar"}, format="json").status_code == 403
    assert auditor_client.get(URL).status_code == 403
    assert anon_client.get(URL).status_code == 401


def test_periodic_refresh_computes_defaults_once(home):
    f.incident(agency=home)
    first = hotspots_refresh_defaults()
    assert len(first) == 2
    assert set(HotspotRun.objects.values_list("kind", "status")) == {("gistar", "done"), ("kde", "done")}
    assert hotspots_refresh_defaults() == []  # fresh identical runs exist


def test_beat_schedules_the_refresh(settings):
    from rtcc_gis.celery import app

    app.loader.import_default_modules()
    tasks = {e["task"] for e in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "apps.hotspots.tasks.hotspots_refresh_defaults_task" in tasks
    assert "apps.hotspots.tasks.hotspots_refresh_defaults_task" in app.tasks
