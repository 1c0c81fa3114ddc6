"""Unit trails for the map: the last minutes of the own agency's units, in one query, never a
partner's or another agency's."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.permissions import Layer
from apps.accounts.services import agency_sharing_create
from apps.audit.models import AuditEvent
from apps.core.geo import make_point
from apps.units import selectors
from apps.units.models import UnitPosition

from . import factories as f

URL = "/api/units/trails/"


def _fixes(unit, *minutes_ago_lon: tuple[float, float], lat: float = 47.61) -> None:
    now = timezone.now()
    for minutes, lon in minutes_ago_lon:
        UnitPosition.objects.create(
            unit=unit, location=make_point(lon, lat), recorded_at=now - timedelta(minutes=minutes)
        )


@pytest.fixture
def units(home):
    near = f.unit(agency=home, call_sign="2B4", lon=-122.30, lat=47.61)
    # Out of order on purpose; the 30-minute-old fix is outside a 10-minute trail.
    _fixes(near, (2, -122.31), (30, -122.40), (8, -122.33), (5, -122.32))
    alone = f.unit(agency=home, call_sign="1A1", lon=-122.25, lat=47.61)
    _fixes(alone, (1, -122.25))
    far = f.unit(agency=home, call_sign="9Z9", lon=-121.0, lat=47.0)
    _fixes(far, (3, -121.0))
    retired = f.unit(agency=home, call_sign="0X0", active=False)
    _fixes(retired, (3, -122.3))
    return {"near": near, "alone": alone, "far": far}


def test_trails_are_per_unit_oldest_first_within_the_window(operator_client, units, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):  # session, user, and the trails themselves
        response = operator_client.get(URL, {"minutes": 10})
    assert response.status_code == 200
    body = response.json()
    assert body["type"] == "FeatureCollection" and body["minutes"] == 10 and body["truncated"] is False
    by_sign = {feature["properties"]["call_sign"]: feature for feature in body["features"]}
    assert set(by_sign) == {"1A1", "2B4", "9Z9"}  # the retired unit has no trail on the map
    trail = by_sign["2B4"]
    assert trail["id"] == units["near"].pk
    assert trail["geometry"] == {
        "type": "LineString",
        "coordinates": [[-122.33, 47.61], [-122.32, 47.61], [-122.31, 47.61]],
    }
    times = trail["properties"]["times"]
    assert len(times) == 3 and times == sorted(times)
    assert by_sign["1A1"]["geometry"] == {"type": "Point", "coordinates": [-122.25, 47.61]}


def test_in_bbox_keeps_units_located_in_the_view(operator_client, units):
    response = operator_client.get(URL, {"minutes": 60, "in_bbox": "-122.5,47.5,-122.2,47.7"})
    assert response.status_code == 200
    features = response.json()["features"]
    assert [feature["properties"]["call_sign"] for feature in features] == ["1A1", "2B4"]
    assert len(features[1]["geometry"]["coordinates"]) == 4  # the hour holds the 30-minute-old fix too


def test_another_agency_sees_no_trails(outsider_client, units):
    response = outsider_client.get(URL, {"minutes": 60})
    assert response.status_code == 200
    assert response.json()["features"] == []


def test_a_partner_sees_shared_units_but_not_their_trails(home, units):
    from rest_framework.test import APIClient

    partner_agency = f.agency("BPD")
    agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=[Layer.UNITS])
    partner_unit = f.unit(agency=partner_agency, call_sign="B-7")
    _fixes(partner_unit, (1, -122.2))
    client = APIClient()
    client.force_login(f.user(agency=partner_agency, role=Role.PARTNER))
    assert {u["properties"]["call_sign"] for u in client.get("/api/units/").json()["features"]} >= {"2B4", "B-7"}
    # Not even their own agency's: a partner takes no look at where units have been (README's role table).
    response = client.get(URL, {"minutes": 60})
    assert response.status_code == 200 and response.json()["features"] == []
    # Nor a track replay of their own unit, and the map they get draws no trails.
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    assert client.get(f"/api/units/{partner_unit.pk}/track/", {"since": since, "reason": "x"}).status_code == 404
    page = client.get("/")
    assert page.status_code == 200 and page.context["config"]["unitTrailMinutes"] == 0
    # Unit features name their agency: the map extends live trails for its own agency's units only.
    shown = client.get("/api/units/").json()["features"]
    agencies = {u["properties"]["call_sign"]: u["properties"]["agency"] for u in shown}
    assert agencies["2B4"] == home.pk and agencies["B-7"] == partner_agency.pk


def test_trails_are_not_audited_but_need_a_role(operator_client, auditor_client, anon_client, units):
    before = AuditEvent.objects.count()  # (signing in is audited)
    assert operator_client.get(URL).status_code == 200
    assert AuditEvent.objects.count() == before
    assert auditor_client.get(URL).status_code == 403
    assert anon_client.get(URL).status_code == 401


@pytest.mark.parametrize(
    "params, field",
    [
        ({"minutes": "ten"}, "minutes"),
        ({"minutes": "0"}, "minutes"),
        ({"minutes": "61"}, "minutes"),
        ({"in_bbox": "1,2,3"}, "detail"),
    ],
)
def test_bad_parameters_are_400s_naming_them(operator_client, params, field):
    response = operator_client.get(URL, params)
    assert response.status_code == 400
    assert field in response.json()


def test_a_long_answer_keeps_every_unit_s_newest_fixes(operator_client, home, monkeypatch):
    monkeypatch.setattr(selectors, "TRAIL_MAX_POINTS", 4)
    a = f.unit(agency=home, call_sign="A1")
    b = f.unit(agency=home, call_sign="B1")
    _fixes(a, (1, -122.31), (2, -122.32), (3, -122.33))
    _fixes(b, (1.5, -122.21), (2.5, -122.22), (3.5, -122.23))
    body = operator_client.get(URL, {"minutes": 10}).json()
    assert body["truncated"] is True
    coords = {feature["properties"]["call_sign"]: feature["geometry"]["coordinates"] for feature in body["features"]}
    assert coords == {"A1": [[-122.32, 47.61], [-122.31, 47.61]], "B1": [[-122.22, 47.61], [-122.21, 47.61]]}
