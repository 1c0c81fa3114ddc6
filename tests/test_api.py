"""The REST API as the map and integrations use it: GeoJSON layers, filters, errors, audit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditAction, AuditEvent
from apps.core.geo import destination

from . import factories as f

LAYERS = [
    "/api/incidents/",
    "/api/cameras/",
    "/api/units/",
    "/api/alpr/sites/",
    "/api/gunshots/",
    "/api/alerts/",
    "/api/zones/",
]


@pytest.fixture
def world(home, other_agency):
    """One record of every layer in each agency."""
    made = {}
    for agency in (home, other_agency):
        made[agency.code] = {
            "incident": f.incident(agency=agency),
            "camera": f.camera(agency=agency, heading=90),
            "unit": f.unit(agency=agency),
            "site": f.alpr_site(agency=agency),
            "read": f.alpr_read(agency=agency, plate="ABC1234"),
            "gunshot": f.gunshot(agency=agency),
            "alert": f.alert(agency=agency),
            "zone": f.zone(agency=agency),
        }
    return made


# ---- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [*LAYERS, "/api/alpr/reads/", "/api/audit/", "/api/schema/", "/api/health/"])
def test_anonymous_is_refused_everywhere(anon_client, world, url):
    response = anon_client.get(url)
    assert response.status_code in (401, 403)


@pytest.mark.parametrize(
    "persona, url, expected",
    [
        ("operator", "/api/incidents/", 200),
        ("planner", "/api/incidents/", 200),
        ("auditor", "/api/incidents/", 403),
        ("operator", "/api/alpr/reads/?reason=case-26-1", 200),
        ("commander", "/api/alpr/reads/?reason=case-26-1", 200),
        ("planner", "/api/alpr/reads/?reason=case-26-1", 403),
        ("auditor", "/api/alpr/reads/?reason=case-26-1", 403),
        ("operator", "/api/audit/", 403),
        ("planner", "/api/audit/", 403),
        ("auditor", "/api/audit/", 200),
    ],
)
def test_role_matrix(request, world, persona, url, expected):
    client = request.getfixturevalue(f"{persona}_client")
    assert client.get(url).status_code == expected


def test_user_without_agency_or_role_sees_nothing(world, db):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(f.user(agency=None, role=""))
    assert client.get("/api/incidents/").status_code == 403


@pytest.mark.parametrize("url", LAYERS)
def test_layers_are_geojson_and_scoped_to_the_agency(operator_client, outsider_client, world, url):
    mine = operator_client.get(url).json()
    assert mine["type"] == "FeatureCollection"
    assert mine["count"] == 1
    feature = mine["features"][0]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] in ("Point", "MultiPolygon")
    theirs = outsider_client.get(url).json()
    assert theirs["count"] == 1
    assert theirs["features"][0]["id"] != feature["id"]
    # Another agency's record is not found by id either.
    assert outsider_client.get(f"{url}{feature['id']}/").status_code == 404
    assert operator_client.get(f"{url}{feature['id']}/").status_code == 200


def test_camera_list_never_exposes_stream_urls(operator_client, world):
    data = operator_client.get("/api/cameras/").json()
    props = data["features"][0]["properties"]
    assert "stream_url" not in props
    assert props["view"]["type"] == "Polygon"
    detail = operator_client.get(f"/api/cameras/{data['features'][0]['id']}/").json()
    assert "stream_url" not in detail["properties"]


# ---- filters -----------------------------------------------------------------------------------


def test_in_bbox_filters_by_viewport(operator_client, home):
    inside = f.incident(agency=home)
    f.incident(agency=home, lon=-122.20, lat=47.70)
    lon, lat = f.LON, f.LAT
    data = operator_client.get(f"/api/incidents/?in_bbox={lon - 0.01},{lat - 0.01},{lon + 0.01},{lat + 0.01}").json()
    assert [feat["id"] for feat in data["features"]] == [inside.pk]


@pytest.mark.parametrize(
    "query, field",
    [
        ("in_bbox=1,2,3", "detail"),
        ("in_bbox=-122.3,47.7,-122.4,47.6", "detail"),
        ("in_bbox=-122.3,100,-122.2,101", "detail"),
        ("since=yesterday", "since"),
        ("until=2026-13-45", "until"),
        ("status=lost", "status"),
    ],
)
def test_bad_filters_are_400_with_a_reason(operator_client, world, query, field):
    response = operator_client.get(f"/api/incidents/?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_time_and_status_filters(operator_client, home):
    now = timezone.now()
    old = f.incident(agency=home, received_at=now - timedelta(days=10), status="closed")
    new = f.incident(agency=home, received_at=now - timedelta(hours=1), status="pending")
    since = (now - timedelta(days=1)).isoformat().replace("+00:00", "Z")
    ids = [x["id"] for x in operator_client.get("/api/incidents/", {"since": since}).json()["features"]]
    assert ids == [new.pk]
    ids = [x["id"] for x in operator_client.get("/api/incidents/", {"until": since}).json()["features"]]
    assert ids == [old.pk]
    ids = [x["id"] for x in operator_client.get("/api/incidents/?status=pending,dispatched").json()["features"]]
    assert ids == [new.pk]


def test_pagination(operator_client, home):
    for _ in range(5):
        f.incident(agency=home)
    page = operator_client.get("/api/incidents/?page_size=2").json()
    assert page["count"] == 5 and len(page["features"]) == 2 and page["next"]
    last = operator_client.get("/api/incidents/?page_size=2&page=3").json()
    assert len(last["features"]) == 1 and last["next"] is None
    assert operator_client.get("/api/incidents/?page=99").status_code == 404


def test_unknown_and_malformed_ids_are_404(operator_client, world):
    assert operator_client.get("/api/incidents/999999/").status_code == 404
    response = operator_client.get("/api/incidents/abc/")
    assert response.status_code == 404 and "not a valid id" in response.json()["detail"]
    assert operator_client.get("/api/incidents/999999/cameras/").status_code == 404


# ---- incident → cameras and units ----------------------------------------------------------------


def test_incident_cameras_and_units(operator_client, home):
    incident = f.incident(agency=home)
    lon, lat = destination(f.LON, f.LAT, 270, 40)
    seer = f.camera(agency=home, name="seer", lon=lon, lat=lat, heading=90, fov_angle=60, fov_range=80)
    lon, lat = destination(f.LON, f.LAT, 0, 10)
    f.camera(agency=home, name="nearer-but-away", lon=lon, lat=lat, heading=0, fov_angle=60, fov_range=80)
    lon, lat = destination(f.LON, f.LAT, 90, 300)
    f.unit(agency=home, call_sign="1A1", lon=lon, lat=lat)
    data = operator_client.get(f"/api/incidents/{incident.pk}/cameras/?limit=5").json()
    assert data["incident"] == incident.pk
    first = data["results"][0]
    assert first["camera"]["id"] == seer.pk and first["can_see"] is True
    assert first["distance_m"] == pytest.approx(40, abs=0.5) and first["reason"]
    assert data["results"][1]["camera"]["name"] == "nearer-but-away"
    units = operator_client.get(f"/api/incidents/{incident.pk}/units/").json()["results"]
    assert units[0]["unit"]["call_sign"] == "1A1" and units[0]["distance_m"] == pytest.approx(300, abs=1)
    for bad in ("0", "51", "x"):
        assert operator_client.get(f"/api/incidents/{incident.pk}/cameras/?limit={bad}").status_code == 400


def test_incident_detail_has_narrative_and_units(operator_client, home):
    from apps.incidents.services import incident_add_narrative

    incident = f.incident(agency=home)
    unit = f.unit(agency=home, call_sign="2B2")
    incident.assigned_units.add(unit)
    incident_add_narrative(incident=incident, text="Suspect fled north on foot", entered_at=timezone.now())
    props = operator_client.get(f"/api/incidents/{incident.pk}/").json()["properties"]
    assert props["narrative"][0]["text"] == "Suspect fled north on foot"
    assert props["assigned_units"] == [{"id": unit.pk, "call_sign": "2B2"}]


# ---- camera streams (audited) ---------------------------------------------------------------------


def test_opening_a_stream_is_audited(operator_client, operator, home):
    camera = f.camera(agency=home)
    incident = f.incident(agency=home)
    response = operator_client.post(f"/api/cameras/{camera.pk}/stream/", {"incident": incident.pk}, format="json")
    assert response.status_code == 200
    # A proxy URL with a grant, never the camera's own address (tests/test_stream_proxy.py).
    assert response.json()["url"].startswith("/api/streams/") and camera.stream_url not in response.content.decode()
    event = AuditEvent.objects.get(action=AuditAction.CAMERA_STREAM_OPEN)
    assert event.user == operator and event.object_id == str(camera.pk)
    assert event.detail["incident"] == incident.pk


def test_stream_refusals(operator_client, planner_client, outsider_client, home):
    community = f.camera(agency=home, owner_kind="community", sharing="on_request")
    live = f.camera(agency=home)
    refused = operator_client.post(f"/api/cameras/{community.pk}/stream/", {"reason": "case 26-1"}, format="json")
    assert refused.status_code == 403 and "on request" in refused.json()["detail"]
    no_reason = operator_client.post(f"/api/cameras/{live.pk}/stream/", {}, format="json")
    assert no_reason.status_code == 400 and "reason" in no_reason.json()
    bad_incident = operator_client.post(f"/api/cameras/{live.pk}/stream/", {"incident": 987654}, format="json")
    assert bad_incident.status_code == 400
    wrong_type = operator_client.post(f"/api/cameras/{live.pk}/stream/", {"incident": "abc"}, format="json")
    assert wrong_type.status_code == 400
    assert planner_client.post(f"/api/cameras/{live.pk}/stream/", {"reason": "x"}, format="json").status_code == 403
    assert outsider_client.post(f"/api/cameras/{live.pk}/stream/", {"reason": "x"}, format="json").status_code == 404
    assert not AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).exists()


# ---- ALPR (audited) --------------------------------------------------------------------------------


def test_plate_search_needs_a_reason_and_is_audited(operator_client, operator, home):
    f.alpr_read(agency=home, plate="ABC1234")
    f.alpr_read(agency=home, plate="XYZ9876")
    refused = operator_client.get("/api/alpr/reads/?plate=ABC1234")
    assert refused.status_code == 400 and "reason" in refused.json()
    found = operator_client.get("/api/alpr/reads/", {"plate": "abc-1234", "reason": "case 2026-001"}).json()
    assert [x["properties"]["plate"] for x in found["features"]] == ["ABC1234"]
    partial = operator_client.get("/api/alpr/reads/", {"plate": "AB*34", "reason": "case 2026-001"}).json()
    assert partial["count"] == 1
    event = AuditEvent.objects.filter(action=AuditAction.PLATE_SEARCH).first()
    assert event.user == operator and event.reason == "case 2026-001"
    assert AuditEvent.objects.filter(action=AuditAction.PLATE_SEARCH).count() == 2


def test_read_queries_are_audited_and_hits_filter(operator_client, home):
    from apps.alpr.services import alpr_read_record
    from apps.core.geo import make_point
    from apps.sensors.models import Alert

    entry = f.hotlist_entry(agency=home, plate="STOLEN1")
    hit, _ = alpr_read_record(
        agency_id=home.pk, plate="stolen 1", read_at=timezone.now(), location=make_point(f.LON, f.LAT)
    )
    alpr_read_record(agency_id=home.pk, plate="CLEAN22", read_at=timezone.now(), location=make_point(f.LON, f.LAT))
    assert hit.hit == entry
    alert = Alert.objects.get(alpr_read=hit)
    assert alert.kind == "hotlist_hit" and "STOLEN1" in alert.title
    data = operator_client.get("/api/alpr/reads/?hits=1").json()
    assert [x["properties"]["plate"] for x in data["features"]] == ["STOLEN1"]
    assert data["features"][0]["properties"]["hit"]["reason"] == "Stolen vehicle"
    assert AuditEvent.objects.filter(action=AuditAction.ALPR_READ_QUERY).count() == 1
    assert operator_client.get("/api/alpr/reads/?hits=maybe").status_code == 400


# ---- alerts ------------------------------------------------------------------------------------


def test_acknowledge_alert(operator_client, commander_client, planner_client, operator, home):
    alert = f.alert(agency=home)
    assert planner_client.post(f"/api/alerts/{alert.pk}/acknowledge/", {}, format="json").status_code == 403
    response = operator_client.post(f"/api/alerts/{alert.pk}/acknowledge/", {"note": "units en route"}, format="json")
    assert response.status_code == 200
    props = response.json()["properties"]
    assert props["status"] == "acknowledged" and props["acknowledged_by"] == "operator"
    again = commander_client.post(f"/api/alerts/{alert.pk}/acknowledge/", {}, format="json")
    assert again.status_code == 409 and "already acknowledged" in again.json()["detail"]
    event = AuditEvent.objects.get(action=AuditAction.ALERT_ACK)
    assert event.user == operator and event.reason == "units en route"
    open_ids = [x["id"] for x in operator_client.get("/api/alerts/?status=open").json()["features"]]
    assert alert.pk not in open_ids


# ---- audit trail, schema, health ----------------------------------------------------------------------


def test_audit_trail_for_auditors(auditor_client, operator_client, home, other_agency):
    camera = f.camera(agency=home)
    operator_client.post(f"/api/cameras/{camera.pk}/stream/", {"reason": "case 7"}, format="json")
    data = auditor_client.get("/api/audit/?action=camera.stream_open").json()
    assert data["count"] == 1 and data["results"][0]["username"] == "operator"
    assert auditor_client.get("/api/audit/?action=nope").status_code == 400
    # The refused query returned nothing, so only the good one is on record.
    assert AuditEvent.objects.filter(action=AuditAction.AUDIT_QUERY).count() == 1


def test_audit_rows_cannot_be_changed(operator, db):
    from django.db import connection, transaction
    from django.db.utils import ProgrammingError

    from apps.audit.services import audit_record

    event = audit_record(user=operator, action=AuditAction.PLATE_SEARCH, reason="case 1")
    with pytest.raises(ValueError):
        event.save()
    with pytest.raises(ValueError):
        event.delete()
    # The app role has no UPDATE or DELETE on the table; the triggers stand behind that even for the owner
    # (tests/test_audit_chain.py).
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("UPDATE audit_auditevent SET reason = 'edited' WHERE id = %s", [event.pk])
    with pytest.raises(ProgrammingError, match="permission denied"), transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


def test_schema_and_health(operator_client):
    schema = operator_client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/incidents/", "/api/incidents/{id}/cameras/", "/api/alpr/reads/", "/api/cameras/{id}/stream/"):
        assert path in paths
    health = operator_client.get("/api/health/").json()
    assert health["ok"] and health["database"]["postgis"] and health["redis"]["ok"]
