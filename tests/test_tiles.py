"""Vector tiles (apps.tiles): decoded with GDAL's MVT driver and checked feature by feature."""

from __future__ import annotations

import math
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.contrib.gis.gdal import DataSource
from django.contrib.gis.geos import LineString, Point
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from apps.accounts.choices import Role
from apps.audit.models import AuditAction, AuditEvent
from apps.tiles.layers import TILE_LAYERS, TileFilters
from apps.tiles.models import Street
from apps.tiles.tiles import TileAddress, tile_sql
from apps.units.models import UnitPosition

from . import factories as f
from .browser_support import ARTIFACTS

MVT = "application/vnd.mapbox-vector-tile"
LON, LAT = f.LON, f.LAT  # Pike Place Market


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180.0) / 360.0 * n)
    y = int((1.0 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2.0 * n)
    return x, y


def url(layer: str, lon: float, lat: float, z: int) -> str:
    x, y = tile_of(lon, lat, z)
    return f"/api/tiles/{layer}/{z}/{x}/{y}.mvt"


def decode(blob: bytes, path: str, tmp_path: Path) -> dict[str, list[dict]]:
    """Layer name -> features (attributes plus `_point`: lon/lat, or `_wkt`), via GDAL's MVT driver.

    The driver places a lone tile from its z/x/y path, so the file is written at tmp/z/x/y.mvt."""
    if not blob:
        return {}
    z, x, y = path.removesuffix(".mvt").split("/")[-3:]
    file = tmp_path / z / x / f"{y}.mvt"
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_bytes(blob)
    layers: dict[str, list[dict]] = {}
    for layer in DataSource(str(file)):
        features = []
        for feature in layer:
            geom = feature.geom
            geom.transform(4326)
            row = {name: feature.get(name) for name in feature.fields}
            row["_geom"] = geom
            features.append(row)
        layers[layer.name] = features
    return layers


def get_tile(client, path: str, tmp_path: Path, **params):
    response = client.get(path, params)
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == MVT
    return response, decode(response.content, path, tmp_path)


@pytest.fixture
def commander_history(home, other_agency):
    """Incidents in the home agency around Pike Place, one far away, one of another agency."""
    now = timezone.now()
    near = f.incident(agency=home, type_code="ROBBERY", priority=1, received_at=now - timedelta(days=3))
    f.incident(
        agency=home,
        lon=LON + 0.0004,
        lat=LAT - 0.0003,
        type_code="THEFT",
        priority=4,
        received_at=now - timedelta(days=40),
    )
    f.incident(agency=home, lon=-122.30, lat=47.66, type_code="BURGLARY", priority=3)  # other z14 tile
    f.incident(agency=other_agency, lon=LON + 0.0002, lat=LAT, type_code="ASSAULT", priority=2)
    return near


def test_incident_history_tile_at_z16_has_each_incident_where_it_is(commander_client, commander_history, tmp_path):
    path = url("incidents_history", LON, LAT, 16)
    response, layers = get_tile(commander_client, path, tmp_path)
    features = layers["incidents"]
    assert sorted(feat["type"] for feat in features) == ["ROBBERY", "THEFT"]  # other agency's ASSAULT not in
    robbery = next(feat for feat in features if feat["type"] == "ROBBERY")
    assert robbery["priority"] == 1
    assert robbery["status"] == "pending"
    assert robbery["received"] == int(commander_history.received_at.timestamp())
    # A z16 tile is quantized to 4096 units (~0.1 m here): the decoded point is where the incident is.
    point = robbery["_geom"]
    assert abs(point.x - LON) < 2e-6 and abs(point.y - LAT) < 2e-6
    assert response["Cache-Control"] == "private, max-age=60"


def test_incident_history_tile_at_z14_counts_cells(commander_client, commander_history, tmp_path):
    _, layers = get_tile(commander_client, url("incidents_history", LON, LAT, 14), tmp_path)
    cells = layers["incidents"]
    # A z14 cell is ~6 m: the two Pike Place incidents (35 m apart) have one cell each, with their own priority.
    assert sorted((cell["count"], cell["priority"]) for cell in cells) == [(1, 1), (1, 4)]
    robbery = next(cell for cell in cells if cell["priority"] == 1)
    assert abs(robbery["_geom"].x - LON) < 6e-5 and abs(robbery["_geom"].y - LAT) < 6e-5
    assert "type" not in robbery  # cells carry counts and aggregates only


def test_incident_history_tile_at_z10_aggregates_into_cells(commander_client, commander_history, tmp_path):
    path = url("incidents_history", LON, LAT, 10)
    _, layers = get_tile(commander_client, path, tmp_path)
    cells = layers["incidents"]
    # The two Pike Place incidents share a cell (a z10 cell is ~100 m); the one in the U-District has its own.
    assert sorted(cell["count"] for cell in cells) == [1, 2]
    pike = next(cell for cell in cells if cell["count"] == 2)
    assert pike["priority"] == 1  # the most urgent in the cell
    assert abs(pike["_geom"].x - LON) < 0.002 and abs(pike["_geom"].y - LAT) < 0.002


def test_incident_history_filters(commander_client, commander_history, tmp_path):
    path = url("incidents_history", LON, LAT, 16)
    since = (timezone.now() - timedelta(days=7)).isoformat()
    _, layers = get_tile(commander_client, path, tmp_path, since=since)
    assert [feat["type"] for feat in layers["incidents"]] == ["ROBBERY"]
    _, layers = get_tile(commander_client, path, tmp_path, type="THEFT,ARSON")
    assert [feat["type"] for feat in layers["incidents"]] == ["THEFT"]
    response = commander_client.get(path, {"since": "yesterday"})
    assert response.status_code == 400 and "since" in response.json()


def test_outsider_tile_has_none_of_the_home_agency(commander_history, other_agency, tmp_path, client):
    outsider_planner = f.user(agency=other_agency, role=Role.PLANNER, username="kc-planner")
    client.force_login(outsider_planner)
    _, layers = get_tile(client, url("incidents_history", LON, LAT, 16), tmp_path)
    assert [feat["type"] for feat in layers["incidents"]] == ["ASSAULT"]


def test_empty_tile_is_an_empty_body(commander_client, commander_history):
    response = commander_client.get(url("incidents_history", 2.35, 48.85, 14))  # Paris
    assert response.status_code == 200
    assert response.content == b""


def test_bad_addresses_are_400_and_unknown_layers_404(commander_client):
    assert commander_client.get("/api/tiles/incidents_history/21/0/0.mvt").status_code == 400
    response = commander_client.get("/api/tiles/incidents_history/3/8/0.mvt")
    assert response.status_code == 400 and "x" in response.json()
    response = commander_client.get("/api/tiles/incidents_history/3/0/9.mvt")
    assert response.status_code == 400 and "y" in response.json()
    assert commander_client.get("/api/tiles/nonsense/3/0/0.mvt").status_code == 404
    response = commander_client.get("/api/tiles/basemap/3/0/0.mvt", {"type": "THEFT"})
    assert response.status_code == 400 and "type" in response.json()


def test_etag_answers_304(commander_client, commander_history):
    path = url("incidents_history", LON, LAT, 14)
    first = commander_client.get(path)
    again = commander_client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and again.content == b""
    f.incident(agency=commander_history.agency, lon=LON + 0.0001, lat=LAT)
    changed = commander_client.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and changed["ETag"] != first["ETag"]


def test_history_needs_analytics(operator_client, commander_history, anon_client):
    assert operator_client.get(url("incidents_history", LON, LAT, 14)).status_code == 403
    assert anon_client.get(url("incidents_history", LON, LAT, 14)).status_code == 401


def test_alpr_read_tiles_need_a_reason_and_are_audited_once(operator_client, operator, home, planner_client, tmp_path):
    hotlist_entry = f.hotlist_entry(agency=home, plate="HOT123")
    f.alpr_read(agency=home, plate="ABC1234")
    f.alpr_read(agency=home, plate="HOT123", lon=LON + 0.0003, hit=hotlist_entry)
    path = url("alpr_reads", LON, LAT, 16)
    response = operator_client.get(path)
    assert response.status_code == 400 and "reason" in response.json()
    assert not AuditEvent.objects.filter(action=AuditAction.HISTORY_TILES).exists()

    _, layers = get_tile(operator_client, path, tmp_path, reason="case 26-0042")
    reads = {feat["plate"]: feat for feat in layers["alpr_reads"]}
    assert set(reads) == {"ABC1234", "HOT123"}
    assert reads["HOT123"]["is_hit"] and not reads["ABC1234"]["is_hit"]
    for z in (14, 15, 17):  # more tiles of the same look: no more events
        operator_client.get(url("alpr_reads", LON, LAT, z), {"reason": "case 26-0042"})
    events = AuditEvent.objects.filter(action=AuditAction.HISTORY_TILES)
    assert events.count() == 1
    event = events.get()
    assert (event.user_id, event.reason, event.object_type) == (operator.pk, "case 26-0042", "tiles.alpr_reads")
    operator_client.get(path, {"reason": "case 26-0043"})  # another reason is another look
    assert events.count() == 2
    assert planner_client.get(path, {"reason": "case 26-0042"}).status_code == 403


def test_unit_position_tiles_are_own_agency_and_audited(planner_client, home, other_agency, tmp_path, client):
    unit = f.unit(agency=home, call_sign="1A11")
    stranger = f.unit(agency=other_agency, call_sign="K9")
    now = timezone.now()
    for i, owner in enumerate([unit, unit, stranger]):
        UnitPosition.objects.create(
            unit=owner, location=Point(LON + i * 0.0002, LAT, srid=4326), recorded_at=now - timedelta(minutes=i)
        )
    path = url("unit_positions", LON, LAT, 16)
    assert planner_client.get(path).status_code == 400
    _, layers = get_tile(planner_client, path, tmp_path, reason="shooting 26-7")
    assert [feat["call_sign"] for feat in layers["unit_positions"]] == ["1A11", "1A11"]
    assert AuditEvent.objects.filter(action=AuditAction.UNIT_TRACK_REPLAY, reason="shooting 26-7").count() == 1
    client.force_login(f.user(agency=home, role=Role.PARTNER, username="partner"))
    assert client.get(path, {"reason": "x"}).status_code == 403


def test_basemap_has_streets_and_scoped_zones(operator_client, home, other_agency, tmp_path):
    f.zone(agency=home, kind="beat", code="M1", bbox=(LON - 0.01, LAT - 0.01, LON + 0.01, LAT + 0.01))
    f.zone(agency=other_agency, kind="beat", code="X9", bbox=(LON - 0.02, LAT - 0.02, LON + 0.02, LAT + 0.02))
    Street.objects.create(
        osm_id=1, name="Pike Street", kind="primary", geom=LineString((LON - 0.002, LAT), (LON + 0.002, LAT), srid=4326)
    )
    _, layers = get_tile(operator_client, url("basemap", LON, LAT, 15), tmp_path)
    assert [(z["kind"], z["code"]) for z in layers["zones"]] == [("beat", "M1")]
    [street] = layers["streets"]
    assert (street["name"], street["kind"]) == ("Pike Street", "primary")
    xs = [x for x, _ in street["_geom"].coords]
    assert min(xs) < LON - 0.0015 and max(xs) > LON + 0.0015


@pytest.mark.parametrize("zoom", [10, 16])  # aggregated cells, one feature per incident
def test_tile_query_uses_the_spatial_index(commander, commander_history, zoom):
    sources = TILE_LAYERS["incidents_history"].sources(user=commander, filters=TileFilters(), zoom=zoom)
    sql, params = tile_sql(address=TileAddress(zoom, *tile_of(LON, LAT, zoom)), sources=sources)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a 4-row table would be scanned anyway
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert re.search(r"Index Scan using incidents_incident_location_\w+ on incidents_incident", plan), plan
    assert "Index Cond: (location && " in plan, plan


SHARED_OSM = Path(settings.RTCC_SHARED_DATA_DIR) / "seattle_osm" / "seattle_osm2streets_merged.osm.pbf"


@pytest.mark.skipif(not SHARED_OSM.exists(), reason=f"real OSM extract not present at {SHARED_OSM}")
def test_import_streets_from_the_real_osm_file(db, tmp_path):
    call_command("import_streets", str(SHARED_OSM), verbosity=0)
    count = Street.objects.count()
    assert count > 900  # 971 ways with a highway tag, 3 of them under construction
    assert Street.objects.filter(kind="motorway").exists()
    assert Street.objects.filter(name__icontains="Avenue").exists()
    # Within Seattle, and every way has a class.
    assert not Street.objects.filter(kind="").exists()
    extent = Street.objects.aggregate(e=Extent("geom"))["e"]
    assert -122.45 < extent[0] and extent[2] < -122.2 and 47.5 < extent[1] and extent[3] < 47.75
    call_command("import_streets", str(SHARED_OSM), verbosity=0)  # again: replaces, no duplicates
    assert Street.objects.count() == count
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT, object_type="streets").count() == 2


# ---- the map page draws them (headless Chromium) ----------------------------------------------------

# Canvas pixels of the tile layer inside `selector` that are painted (alpha > 0): the tiles were drawn.
PAINTED_PIXELS = """(selector) => {
  let painted = 0;
  for (const canvas of document.querySelectorAll(selector)) {
    const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
  }
  return painted;
}"""


def wait_painted(page, selector: str, least: int, seconds: float = 10.0) -> None:
    # Polled from here: the page's CSP forbids the eval that page.wait_for_function would need.
    deadline = time.monotonic() + seconds
    painted = 0
    while time.monotonic() < deadline:
        painted = page.evaluate(PAINTED_PIXELS, selector)
        if painted >= least:
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"{selector}: {painted} painted pixels after {seconds}s, wanted {least}")


@pytest.mark.browser
def test_map_draws_our_own_basemap_and_the_history_overlay(browser, live_server, settings, home):
    """No tile server configured: streets and zones come as vector tiles from our server, nothing from
    any other host, and a planner's history overlay draws incident tiles when switched on."""
    settings.RTCC_LIVE_MAP_ENABLED = False  # live_server is WSGI only
    f.user(agency=home, role=Role.PLANNER, username="tiles-planner")
    f.zone(agency=home, kind="district", code="WEST", bbox=(LON - 0.03, LAT - 0.02, LON + 0.03, LAT + 0.02))
    for i in range(-3, 4):  # a small grid of avenues and streets around Pike Place
        Street.objects.create(
            osm_id=100 + i,
            name=f"{i} Ave",
            kind="primary",
            geom=LineString((LON + i * 0.004, LAT - 0.02), (LON + i * 0.004, LAT + 0.02), srid=4326),
        )
        Street.objects.create(
            osm_id=200 + i,
            name=f"{i} St",
            kind="residential",
            geom=LineString((LON - 0.02, LAT + i * 0.003), (LON + 0.02, LAT + i * 0.003), srid=4326),
        )
    for i in range(30):
        f.incident(
            agency=home,
            lon=LON + (i % 6) * 0.002,
            lat=LAT + (i // 6) * 0.002,
            status="closed",
            received_at=timezone.now() - timedelta(days=i + 1),
        )

    sync_api = pytest.importorskip("playwright.sync_api")
    from .browser_support import PageWatch

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    tiles: list[tuple[str, int]] = []
    page.on("response", lambda res: "/api/tiles/" in res.url and tiles.append((res.url, res.status)))
    expect = sync_api.expect
    try:
        page.goto(f"{live_server.url}/")
        page.fill("#id_username", "tiles-planner")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        expect(page.locator("#map.basemap-own")).to_have_count(1)
        wait_painted(page, ".basemap-vector canvas", 500)
        assert any("/api/tiles/basemap/" in url and status == 200 for url, status in tiles)

        expect(page.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap contributors")
        history = page.locator('.layer-row[data-layer="history"]')
        expect(history).to_have_class(re.compile(r"\boff\b"))  # off until switched on
        assert not [url for url, _ in tiles if "incidents_history" in url]
        history.locator("label").click()
        wait_painted(page, ".leaflet-history-pane canvas", 50)
        assert any("/api/tiles/incidents_history/" in url and status == 200 for url, status in tiles)
        page.screenshot(path=str(ARTIFACTS / "map-basemap-history.png"))
        watch.assert_clean()  # no console errors, no failed request, no other host
    finally:
        context.close()


def test_map_config_points_at_our_basemap_unless_an_agency_tile_server_is_set(operator, settings):
    from apps.console.views import map_config

    assert map_config(operator)["basemap"] == {"url": "/api/tiles/basemap/{z}/{x}/{y}.mvt", "attribution": ""}
    Street.objects.create(osm_id=1, kind="primary", geom=LineString((LON, LAT), (LON + 0.001, LAT), srid=4326))
    assert map_config(operator)["basemap"]["attribution"] == "Streets © OpenStreetMap contributors"
    settings.LEAFLET_CONFIG = {**settings.LEAFLET_CONFIG, "TILES": [("Agency tiles", "/t/{z}/{x}/{y}.png", {})]}
    assert map_config(operator)["basemap"] is None


@pytest.mark.parametrize(
    "content",
    [
        b'<OGRVRTDataSource><OGRVRTLayer name="x"><SrcDataSource>/vsicurl/http://example.org/x</SrcDataSource>'
        b"</OGRVRTLayer></OGRVRTDataSource>",
        b"not a map at all",
    ],
)
def test_street_import_refuses_anything_but_osm(db, tmp_path, content):
    from apps.tiles.services import StreetImportError, streets_import_osm

    path = tmp_path / "streets.osm.pbf"
    path.write_bytes(content)
    with pytest.raises(StreetImportError, match="not an OpenStreetMap"):
        streets_import_osm(path=path)
    assert not Street.objects.exists()
