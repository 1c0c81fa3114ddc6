"""Feeds in: push endpoints with per-source tokens, dead letters, idempotency, order safety, health."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.alpr.models import AlprRead
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_ingest
from apps.incidents.models import Incident
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import Unit, UnitPosition

from .. import factories as f


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def make_source(agency, kind, **kw):
    source = FeedSource.objects.create(agency=agency, name=kw.pop("name", f"{kind} feed"), kind=kind, **kw)
    token = source.issue_token()
    return source, token


def push(token, body, content_type="application/json"):
    client = APIClient()
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post("/api/feeds/push/", data=data, content_type=content_type, HTTP_AUTHORIZATION=f"Bearer {token}")


def cad(cad_number, now, **kw):
    return {
        "cad_number": cad_number,
        "type_code": kw.pop("type_code", "ROBB"),
        "priority": kw.pop("priority", 1),
        "lon": kw.pop("lon", f.LON),
        "lat": kw.pop("lat", f.LAT),
        "received_at": iso(kw.pop("received_at", now)),
        **kw,
    }


def test_push_keeps_good_records_and_dead_letters_bad_ones(home, now):
    source, token = make_source(home, "cad_json")
    body = [cad("C1", now), cad("C2", now, lat=123.0), cad("C3", now, status="enroute", units=[])]
    response = push(token, body)
    assert response.status_code == 200, response.content
    report = response.json()
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert report["rejections"][0]["index"] == 1 and "latitude" in report["rejections"][0]["reason"]
    assert set(Incident.objects.values_list("cad_number", flat=True)) == {"C1", "C3"}
    assert Incident.objects.get(cad_number="C3").status == "dispatched"
    letter = DeadLetter.objects.get()
    assert letter.source == source and letter.index == 1 and "latitude" in letter.reason
    source.refresh_from_db()
    assert (source.accepted_count, source.rejected_count) == (2, 1)
    assert source.last_success_at is not None


def test_same_message_twice_changes_nothing(home, now):
    source, token = make_source(home, "cad_json")
    body = [cad("C1", now, narrative=[{"time": iso(now), "text": "Caller reports armed robbery"}])]
    assert push(token, body).json()["accepted"] == 1
    incident = Incident.objects.get()
    stamp = incident.updated_at
    again = push(token, body).json()
    assert (again["accepted"], again["duplicates"]) == (0, 1)
    incident.refresh_from_db()
    assert incident.updated_at == stamp and incident.narrative.count() == 1


def test_incident_lifecycle_moves_its_units(home, now):
    unit = f.unit(agency=home, call_sign="2A12")
    _, token = make_source(home, "cad_json")
    push(token, [cad("C9", now)])
    push(token, [cad("C9", now, status="dispatched", units=["2A12"], dispatched_at=iso(now))])
    unit.refresh_from_db()
    assert unit.status == "dispatched"
    push(token, [cad("C9", now, status="on_scene", units=["2A12"])])
    unit.refresh_from_db()
    assert unit.status == "on_scene"
    push(token, [cad("C9", now, status="closed", units=["2A12"], closed_at=iso(now))])
    unit.refresh_from_db()
    assert unit.status == "available"
    assert Incident.objects.get().status == "closed"


def test_garbage_payload_is_400_and_a_dead_letter(home):
    source, token = make_source(home, "cad_json")
    response = push(token, b'[{"cad_number": "C1", "type_', content_type="application/json")
    assert response.status_code == 400 and response.json()["detail"]
    letter = DeadLetter.objects.get()
    assert letter.index == -1 and letter.raw.startswith('[{"cad_number"')
    source.refresh_from_db()
    assert source.rejected_count == 1 and source.last_error


def test_tokens_authenticate_the_source(home, now):
    source, token = make_source(home, "cad_json")
    assert push("rtcc_wrong", [cad("C1", now)]).status_code == 401
    assert APIClient().post("/api/feeds/push/", data="[]", content_type="application/json").status_code == 401
    new_token = source.issue_token()  # the old token is revoked
    assert push(token, [cad("C1", now)]).status_code == 401
    assert push(new_token, [cad("C1", now)]).status_code == 200
    source.enabled = False
    source.save()
    assert push(new_token, [cad("C2", now)]).status_code == 401
    assert not source.token_hash.startswith("rtcc_") and len(source.token_hash) == 64


def test_oversized_payload_is_413(home, settings):
    settings.RTCC_FEED_MAX_BYTES = 1000
    _, token = make_source(home, "cad_json")
    response = push(token, b"[" + b" " * 2000 + b"]")
    assert response.status_code == 413 and "limit" in response.json()["detail"]


def test_positions_are_idempotent_and_order_safe(home, now):
    unit = f.unit(agency=home, call_sign="1A1", lon=None)
    source, _ = make_source(home, "osmand", unit_ids="call_sign")  # the phones report our call signs

    def fix(t, lon):
        return feed_ingest(
            source_id=source.pk,
            payload=b"",
            params={"id": "1A1", "lat": f"{f.LAT}", "lon": f"{lon}", "timestamp": str(int(t.timestamp()))},
        )

    assert fix(now, -122.30).accepted == 1
    assert fix(now, -122.30).duplicates == 1  # the same fix again
    assert fix(now - timedelta(minutes=5), -122.40).accepted == 1  # late, older fix: history only
    unit.refresh_from_db()
    assert unit.last_location.x == pytest.approx(-122.30) and unit.last_seen == now
    assert UnitPosition.objects.filter(unit=unit).count() == 2
    assert fix(now + timedelta(seconds=5), -122.31).accepted == 1
    unit.refresh_from_db()
    assert unit.last_location.x == pytest.approx(-122.31)


def test_unknown_devices_rejected_unless_auto_create(home, now):
    strict, _ = make_source(home, "osmand", name="strict")
    params = {"id": "phone-77", "lat": f"{f.LAT}", "lon": f"{f.LON}", "timestamp": str(int(now.timestamp()))}
    report = feed_ingest(source_id=strict.pk, payload=b"", params=params)
    assert report.accepted == 0 and "unknown unit" in report.rejected[0].reason
    open_source, _ = make_source(home, "osmand", name="open", auto_create_units=True)
    assert feed_ingest(source_id=open_source.pk, payload=b"", params=params).accepted == 1
    # Bound to the id in that source's namespace; the unit's device_id (an admin's statement) stays blank.
    assert Unit.objects.get(identities__external_id="phone-77", device_id="").last_location is not None


def test_osmand_endpoint(home, now):
    unit = f.unit(agency=home, call_sign="3B3", lon=None, device_id="phone-3b3")
    _, token = make_source(home, "osmand")
    url = f"/api/feeds/osmand/{token}/"
    stamp = int(now.timestamp())
    query = {"id": "phone-3b3", "lat": f.LAT, "lon": f.LON, "timestamp": stamp, "speed": 10, "bearing": 90}
    response = APIClient().get(url, query)
    assert response.status_code == 200 and response.json()["accepted"] == 1
    unit.refresh_from_db()
    assert unit.last_speed == pytest.approx(10 * 0.514444, rel=1e-3) and unit.last_heading == 90
    assert APIClient().get("/api/feeds/osmand/rtcc_nope/", query).status_code == 401
    bad = APIClient().get(url, {**query, "lat": 200}).json()
    assert bad["rejected"] == 1


def test_alpr_push_matches_hotlists(home, now):
    f.hotlist_entry(agency=home, plate="HOT123")
    site = f.alpr_site(agency=home, external_id="S1")
    _, token = make_source(home, "alpr_json")
    body = [
        {"plate": "HOT 123", "state": "WA", "read_at": iso(now), "lon": f.LON, "lat": f.LAT, "site": "S1"},
        {"plate": "CLEAN1", "read_at": iso(now), "lon": f.LON, "lat": f.LAT, "site": "S1"},
        {"plate": "CLEAN2", "read_at": iso(now), "lon": f.LON, "lat": f.LAT, "site": "NOPE"},
    ]
    report = push(token, body).json()
    assert (report["accepted"], report["rejected"]) == (2, 1)
    assert "unknown ALPR site" in report["rejections"][0]["reason"]
    hit = AlprRead.objects.get(plate="HOT123")
    assert hit.hit is not None and hit.site == site
    assert Alert.objects.get(alpr_read=hit).kind == "hotlist_hit"
    assert push(token, body[:2]).json()["duplicates"] == 2
    assert AlprRead.objects.count() == 2 and Alert.objects.count() == 1


def test_gunshots_and_cap_alerts(home, now):
    _, gs_token = make_source(home, "gunshot_json")
    body = [{"id": "G-1", "lon": f.LON, "lat": f.LAT, "detected_at": iso(now), "rounds": 3, "confidence": 95}]
    assert push(gs_token, body).json()["accepted"] == 1
    assert push(gs_token, body).json()["duplicates"] == 1
    shot = GunshotDetection.objects.get()
    assert shot.rounds == 3 and shot.confidence == pytest.approx(0.95)
    assert Alert.objects.get(gunshot=shot).kind == "gunshot"

    _, cap_token = make_source(home, "cap")
    cap = f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>PB-77</identifier><sender>alarms@example.org</sender><sent>{now.isoformat()}</sent>
  <status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><category>Security</category><event>Panic alarm</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Observed</certainty><headline>Panic button: City Hall</headline>
    <area><areaDesc>City Hall</areaDesc><circle>{f.LAT},{f.LON} 0</circle></area></info>
</alert>"""
    report = push(cap_token, cap, content_type="application/cap+xml").json()
    assert report["accepted"] == 1, report
    alert = Alert.objects.get(source_id__contains="PB-77")
    assert alert.location is not None and "City Hall" in alert.title + alert.detail


def test_feed_health_api(home, now, commander_client, operator_client, planner_client):
    source, token = make_source(home, "cad_json", expected_interval=60)
    assert commander_client.get("/api/feeds/").json()[0]["stale"] is False
    FeedSource.objects.filter(pk=source.pk).update(created_at=now - timedelta(minutes=5))
    data = commander_client.get("/api/feeds/").json()[0]
    assert data["stale"] is True and "token_hash" not in data and data["token_hint"].startswith("rtcc_")
    push(token, [cad("C1", now)])
    data = commander_client.get(f"/api/feeds/{source.pk}/").json()
    assert data["stale"] is False and data["accepted_count"] == 1
    assert operator_client.get("/api/feeds/").status_code == 403
    assert commander_client.get(f"/api/feeds/{source.pk}/dead-letters/").status_code == 403


def test_dead_letters_api_for_agency_admins(home, other_agency, now):
    source, token = make_source(home, "cad_json")
    push(token, [cad("C1", now, lat=999)])
    admin = APIClient()
    admin.force_authenticate(f.user(agency=home, role="agency_admin"))
    data = admin.get(f"/api/feeds/{source.pk}/dead-letters/").json()
    assert data["count"] == 1 and "latitude" in data["results"][0]["reason"]
    foreign = APIClient()
    foreign.force_authenticate(f.user(agency=other_agency, role="agency_admin"))
    assert foreign.get(f"/api/feeds/{source.pk}/dead-letters/").status_code == 404
