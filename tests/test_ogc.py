"""The OGC API - Features endpoint: what QGIS reads (landing, conformance, collections, paged items)."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.models import ApiToken
from apps.audit.models import AuditAction, AuditEvent

from . import factories as f

BASE = "/api/ogc"
GEOJSON = "application/geo+json"


@pytest.fixture
def incidents(home, other_agency):
    start = timezone.now().replace(microsecond=0) - timedelta(hours=10)
    mine = [
        f.incident(
            agency=home,
            cad_number=f"CAD-{i}",
            lon=-122.34 + i * 0.01,
            lat=47.61,
            received_at=start + timedelta(hours=i),
        )
        for i in range(5)
    ]
    f.incident(agency=other_agency, cad_number="KC-1")
    return start, mine


def test_landing_page_links_conformance_and_collections(commander_client):
    response = commander_client.get(f"{BASE}/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    rels = {link["rel"]: link["href"] for link in response.json()["links"]}
    assert rels["conformance"] == "http://testserver/api/ogc/conformance"
    assert rels["data"] == "http://testserver/api/ogc/collections"
    assert {"self", "service-desc"} <= rels.keys()


def test_conformance_declares_core_and_geojson(commander_client):
    conforms = commander_client.get(f"{BASE}/conformance", {"f": "json"}).json()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core" in conforms
    assert "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson" in conforms
    assert commander_client.get(f"{BASE}/conformance", {"f": "html"}).status_code == 400


def test_collections_list_only_what_the_role_may_read(commander_client, planner_client, operator_client, incidents):
    def ids(client):
        return [c["id"] for c in client.get(f"{BASE}/collections").json()["collections"]]

    assert ids(commander_client) == [
        "incidents",
        "cameras",
        "units",
        "alpr_sites",
        "alpr_reads",
        "gunshots",
        "alerts",
        "zones",
    ]
    assert "alpr_reads" not in ids(planner_client)  # a planner may export layers but not read plates
    assert planner_client.get(f"{BASE}/collections/alpr_reads").status_code == 404
    assert operator_client.get(f"{BASE}/collections").status_code == 403  # no EXPORT_LAYERS


def test_collection_metadata_has_extent_and_items_link(commander_client, incidents):
    start, _ = incidents
    body = commander_client.get(f"{BASE}/collections/incidents").json()
    assert body["id"] == "incidents" and body["itemType"] == "feature"
    [[minx, miny, maxx, maxy]] = body["extent"]["spatial"]["bbox"]
    assert (round(minx, 4), round(maxx, 4), round(miny, 4)) == (-122.34, -122.30, 47.61)  # own agency only
    [[first, last]] = body["extent"]["temporal"]["interval"]
    assert first.startswith(start.astimezone(UTC).strftime("%Y-%m-%dT%H"))
    items = next(link for link in body["links"] if link["rel"] == "items")
    assert items["type"] == GEOJSON and items["href"].endswith("/api/ogc/collections/incidents/items")
    assert commander_client.get(f"{BASE}/collections/nothing").status_code == 404


def test_items_are_paged_with_next_and_prev_links(commander_client, incidents):
    _, mine = incidents
    response = commander_client.get(f"{BASE}/collections/incidents/items", {"limit": 2}, HTTP_ACCEPT=GEOJSON)
    assert response.status_code == 200 and response["Content-Type"].startswith(GEOJSON)
    page = response.json()
    assert page["type"] == "FeatureCollection"
    assert (page["numberMatched"], page["numberReturned"]) == (5, 2)
    assert [feat["id"] for feat in page["features"]] == [mine[0].pk, mine[1].pk]
    assert page["features"][0]["geometry"] == {"type": "Point", "coordinates": [-122.34, 47.61]}
    links = {link["rel"]: link["href"] for link in page["links"]}
    assert "prev" not in links
    seen = [feat["id"] for feat in page["features"]]
    while "next" in links:  # follow the links as QGIS does, to the end
        page = commander_client.get(links["next"]).json()
        seen += [feat["id"] for feat in page["features"]]
        links = {link["rel"]: link["href"] for link in page["links"]}
    assert seen == [i.pk for i in mine]
    assert "offset=2" in links["prev"] and page["numberReturned"] == 1


def test_items_bbox_and_datetime_filters(commander_client, incidents):
    start, mine = incidents

    def ids(**params):
        page = commander_client.get(f"{BASE}/collections/incidents/items", params).json()
        return [feat["id"] for feat in page["features"]]

    assert ids(bbox="-122.335,47.60,-122.315,47.62") == [mine[1].pk, mine[2].pk]
    instant = (start + timedelta(hours=3)).isoformat()
    assert ids(datetime=instant) == [mine[3].pk]
    assert ids(datetime=f"{(start + timedelta(hours=1)).isoformat()}/{instant}") == [i.pk for i in mine[1:4]]
    assert ids(datetime=f"../{(start + timedelta(minutes=90)).isoformat()}") == [mine[0].pk, mine[1].pk]
    assert ids(datetime=f"{instant}/..") == [mine[3].pk, mine[4].pk]
    for bad in ({"bbox": "1,2,3"}, {"datetime": "soon"}, {"limit": "0"}, {"bbox-crs": "EPSG:3857"}):
        response = commander_client.get(f"{BASE}/collections/incidents/items", bad)
        assert response.status_code == 400 and next(iter(bad)) in response.json()
    # Zones have no time: a time filter on them is refused, not silently ignored.
    assert commander_client.get(f"{BASE}/collections/zones/items", {"datetime": instant}).status_code == 400


def test_item_by_id_scoped(commander_client, incidents, other_agency):
    _, mine = incidents
    response = commander_client.get(f"{BASE}/collections/incidents/items/{mine[2].pk}")
    assert response.status_code == 200
    feat = response.json()
    assert feat["type"] == "Feature" and feat["properties"]["cad_number"] == "CAD-2"
    theirs = other_agency and f.incident(agency=other_agency, cad_number="KC-2")
    assert commander_client.get(f"{BASE}/collections/incidents/items/{theirs.pk}").status_code == 404
    assert commander_client.get(f"{BASE}/collections/incidents/items/abc").status_code == 404


def test_reads_audited_once_per_request_and_plate_reads_need_a_reason(commander_client, commander, incidents, home):
    commander_client.get(f"{BASE}/collections/incidents/items", {"limit": 3})
    [event] = AuditEvent.objects.filter(action=AuditAction.EXPORT)
    assert event.user == commander and event.reason == "OGC API Features read"
    assert event.detail["layer"] == "incidents" and event.detail["via"] == "ogc" and event.detail["rows"] == 3
    f.alpr_read(agency=home, plate="ABC1234")
    response = commander_client.get(f"{BASE}/collections/alpr_reads/items")
    assert response.status_code == 400 and "reason" in response.json()
    page = commander_client.get(f"{BASE}/collections/alpr_reads/items", {"reason": "case 9"}).json()
    assert [feat["properties"]["plate"] for feat in page["features"]] == ["ABC1234"]
    assert AuditEvent.objects.filter(action=AuditAction.EXPORT, reason="case 9").count() == 1


def test_api_token_authenticates_a_gis_client(home, incidents):
    user = f.user(agency=home, role=Role.PLANNER)
    _, key = ApiToken.objects.issue(user=user, name="QGIS")
    client = APIClient()
    assert client.get(f"{BASE}/collections").status_code == 401
    response = client.get(f"{BASE}/collections/incidents/items", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200 and response.json()["numberMatched"] == 5
    assert client.get(f"{BASE}/collections", HTTP_AUTHORIZATION="Token wrong").status_code == 401
