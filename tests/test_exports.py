"""Layer exports: every format parses with the right coordinates, scoped, permitted, reasoned, audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from defusedxml import ElementTree
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.permissions import Layer
from apps.accounts.services import agency_sharing_create
from apps.audit.models import AuditAction, AuditEvent
from apps.exports.api import views as export_views
from apps.exports.layers import LAYERS

from . import factories as f

KML = "{http://www.opengis.net/kml/2.2}"
REASON = {"reason": "case 26-0042"}


def _body(response) -> str:
    assert response.status_code == 200, getattr(response, "data", response)
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def world(home, other_agency):
    now = timezone.now()
    return {
        "robbery": f.incident(
            agency=home,
            lon=-122.3422,
            lat=47.6097,
            cad_number="CAD-1",
            address='=HYPERLINK("x") & <Pike> "St"',
            received_at=now - timedelta(hours=1),
        ),
        "burglary": f.incident(
            agency=home,
            lon=-122.30,
            lat=47.65,
            cad_number="CAD-2",
            type_code="BURGLARY",
            status="closed",
            received_at=now - timedelta(days=3),
        ),
        "theirs": f.incident(agency=other_agency, lon=-122.3422, lat=47.6097, cad_number="KC-1"),
        "zone": f.zone(agency=home, code="K2", bbox=(-122.35, 47.60, -122.33, 47.62)),
        "read": f.alpr_read(agency=home, plate="ABC1234", lon=-122.31, lat=47.62),
    }


def test_geojson_export_parses_with_coordinates_and_properties(commander_client, world):
    body = _body(commander_client.get("/api/exports/incidents.geojson", REASON))
    doc = json.loads(body)
    assert doc["type"] == "FeatureCollection"
    by_cad = {feat["properties"]["cad_number"]: feat for feat in doc["features"]}
    assert set(by_cad) == {"CAD-1", "CAD-2"}  # the other agency's incident is not there
    robbery = by_cad["CAD-1"]
    assert robbery["id"] == world["robbery"].pk
    assert robbery["geometry"] == {"type": "Point", "coordinates": [-122.3422, 47.6097]}
    assert robbery["properties"]["address"] == '=HYPERLINK("x") & <Pike> "St"'  # JSON needs no defusing


def test_csv_export_wkt_and_lonlat(commander_client, world):
    rows = list(csv.DictReader(io.StringIO(_body(commander_client.get("/api/exports/incidents.csv", REASON)))))
    assert [r["cad_number"] for r in rows] == ["CAD-1", "CAD-2"]  # id order
    assert rows[0]["wkt"] == "POINT(-122.3422 47.6097)"
    # A cell a spreadsheet would run as a formula is defused.
    assert rows[0]["address"] == "'" + '=HYPERLINK("x") & <Pike> "St"'
    lonlat = commander_client.get("/api/exports/incidents.csv", {**REASON, "csv_geometry": "lonlat"})
    rows = list(csv.DictReader(io.StringIO(_body(lonlat))))
    assert (float(rows[1]["lon"]), float(rows[1]["lat"])) == (-122.30, 47.65)
    assert "wkt" not in rows[1]


def test_kml_export_is_well_formed_with_escaped_text_and_right_coordinates(commander_client, world):
    root = ElementTree.fromstring(_body(commander_client.get("/api/exports/incidents.kml", REASON)).encode())
    placemarks = root.findall(f"{KML}Document/{KML}Placemark")
    assert [p.findtext(f"{KML}name") for p in placemarks] == ["CAD-1", "CAD-2"]
    first = placemarks[0]
    assert first.get("id") == f"incidents.{world['robbery'].pk}"
    data = {d.get("name"): d.findtext(f"{KML}value") for d in first.iter(f"{KML}Data")}
    assert data["address"] == '=HYPERLINK("x") & <Pike> "St"'
    coords = first.findtext(f"{KML}Point/{KML}coordinates").strip()
    assert [float(c) for c in coords.split(",")[:2]] == [-122.3422, 47.6097]
    assert first.findtext(f"{KML}TimeStamp/{KML}when").startswith(str(world["robbery"].received_at.year))


def test_zone_kml_polygon_and_csv_lonlat_refused(commander_client, world):
    root = ElementTree.fromstring(_body(commander_client.get("/api/exports/zones.kml", REASON)).encode())
    ring = root.find(f".//{KML}Placemark//{KML}Polygon//{KML}coordinates").text.split()
    lons = sorted({float(pair.split(",")[0]) for pair in ring})
    assert lons == [-122.35, -122.33]
    response = commander_client.get("/api/exports/zones.csv", {**REASON, "csv_geometry": "lonlat"})
    assert response.status_code == 400 and "csv_geometry" in response.json()


def test_selection_filters_bbox_time_status_type_ids(commander_client, world):
    def cads(**params):
        doc = json.loads(_body(commander_client.get("/api/exports/incidents.geojson", {**REASON, **params})))
        return sorted(feat["properties"]["cad_number"] for feat in doc["features"])

    assert cads(in_bbox="-122.35,47.60,-122.33,47.62") == ["CAD-1"]
    assert cads(since=(timezone.now() - timedelta(days=1)).isoformat()) == ["CAD-1"]
    assert cads(status="closed") == ["CAD-2"]
    assert cads(type="BURGLARY") == ["CAD-2"]
    assert cads(ids=f"{world['robbery'].pk},{world['theirs'].pk}") == ["CAD-1"]  # ids never widen the scope


@pytest.mark.parametrize(
    ("url", "params", "param"),
    [
        ("/api/exports/nothing.geojson", REASON, "layer"),
        ("/api/exports/incidents.shp", REASON, "format"),
        ("/api/exports/incidents.geojson", {}, "reason"),
        ("/api/exports/incidents.geojson", {**REASON, "in_bbox": "1,2,3"}, "detail"),
        ("/api/exports/incidents.geojson", {**REASON, "status": "bogus"}, "status"),
        ("/api/exports/alerts.kml", {**REASON, "type": "bogus"}, "type"),
        ("/api/exports/incidents.csv", {**REASON, "ids": "1,x"}, "ids"),
        ("/api/exports/incidents.csv", {**REASON, "since": "yesterday"}, "since"),
        ("/api/exports/zones.csv", {**REASON, "since": "2026-01-01"}, None),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(commander_client, world, url, params, param):
    response = commander_client.get(url, params)
    if param is None:  # zones have no time: since is not theirs to filter on, and is ignored
        assert response.status_code == 200
        return
    assert response.status_code == 400, response
    assert param in response.json()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_every_export_is_audited_with_layer_format_filters_and_rows(commander_client, commander, world):
    _body(commander_client.get("/api/exports/incidents.csv", {**REASON, "status": "pending"}))
    [event] = AuditEvent.objects.filter(action=AuditAction.EXPORT)
    assert event.user == commander and event.reason == "case 26-0042"
    assert event.object_type == "incidents.incident"
    assert event.detail == {"layer": "incidents", "format": "csv", "filters": {"status": "pending"}, "rows": 1}


def test_alpr_reads_need_the_reads_permission_too(commander_client, planner_client, world):
    assert planner_client.get("/api/exports/alpr_reads.csv", REASON).status_code == 403
    rows = list(csv.DictReader(io.StringIO(_body(commander_client.get("/api/exports/alpr_reads.csv", REASON)))))
    assert [r["plate"] for r in rows] == ["ABC1234"]


def test_roles_without_export_are_refused(operator_client, auditor_client, anon_client, world):
    assert anon_client.get("/api/exports/incidents.csv", REASON).status_code == 401
    assert operator_client.get("/api/exports/incidents.csv", REASON).status_code == 403
    assert auditor_client.get("/api/exports/incidents.csv", REASON).status_code == 403


def test_scoping_another_agency_and_sharing(home, other_agency, world):
    theirs = APIClient()
    theirs.force_authenticate(f.user(agency=other_agency, role=Role.WATCH_COMMANDER))
    doc = json.loads(_body(theirs.get("/api/exports/incidents.geojson", REASON)))
    assert [feat["properties"]["cad_number"] for feat in doc["features"]] == ["KC-1"]
    reads = list(csv.DictReader(io.StringIO(_body(theirs.get("/api/exports/alpr_reads.csv", REASON)))))
    assert reads == []
    # Once home shares incidents (and only incidents), the export follows the map's scope.
    agency_sharing_create(owner_id=home.pk, partner_id=other_agency.pk, layers=[Layer.INCIDENTS])
    doc = json.loads(_body(theirs.get("/api/exports/incidents.geojson", REASON)))
    assert sorted(feat["properties"]["cad_number"] for feat in doc["features"]) == ["CAD-1", "CAD-2", "KC-1"]
    assert list(csv.DictReader(io.StringIO(_body(theirs.get("/api/exports/alpr_reads.csv", REASON))))) == []


def test_a_selection_over_the_cap_is_refused_with_how_to_narrow_it(commander_client, world, monkeypatch):
    monkeypatch.setattr(export_views, "EXPORT_MAX_ROWS", 1)
    response = commander_client.get("/api/exports/incidents.geojson", REASON)
    assert response.status_code == 400
    assert "at most 1" in response.json()["detail"] and "in_bbox" in response.json()["detail"]
    assert commander_client.get("/api/exports/incidents.geojson", {**REASON, "status": "closed"}).status_code == 200


def test_every_layer_exports_in_every_format(commander_client, home):
    f.incident(agency=home)
    f.camera(agency=home)
    f.unit(agency=home)
    f.alpr_site(agency=home)
    f.alpr_read(agency=home, plate="XYZ9")
    shot = f.gunshot(agency=home)
    f.alert(agency=home, kind="gunshot", gunshot=shot, title="Shots <3> & more")
    f.zone(agency=home)
    for layer in LAYERS:
        doc = json.loads(_body(commander_client.get(f"/api/exports/{layer}.geojson", REASON)))
        assert len(doc["features"]) == 1 and doc["features"][0]["geometry"]["coordinates"], layer
        rows = list(csv.DictReader(io.StringIO(_body(commander_client.get(f"/api/exports/{layer}.csv", REASON)))))
        assert len(rows) == 1 and rows[0]["wkt"], layer
        root = ElementTree.fromstring(_body(commander_client.get(f"/api/exports/{layer}.kml", REASON)).encode())
        assert len(root.findall(f"{KML}Document/{KML}Placemark")) == 1, layer
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT).count() == 3 * len(LAYERS)


def test_export_queries_do_not_grow_with_rows(commander_client, home, django_assert_max_num_queries):
    for i in range(30):
        f.incident(agency=home, cad_number=f"Q-{i}")
    # Count, the audit append (lock, allocate, insert), and the rows from one server-side cursor.
    with django_assert_max_num_queries(12):
        doc = json.loads(_body(commander_client.get("/api/exports/incidents.geojson", REASON)))
    assert len(doc["features"]) == 30
