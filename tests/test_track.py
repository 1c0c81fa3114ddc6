"""Unit track replay: a bounded, reasoned, audited look at where a unit has been."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditAction, AuditEvent
from apps.core.geo import make_point
from apps.units.models import UnitPosition

from . import factories as f

T0 = timezone.now().replace(microsecond=0) - timedelta(hours=3)


@pytest.fixture
def unit(home):
    unit = f.unit(agency=home, call_sign="2B4")
    # Out of order on purpose: the replay is in time order whatever order fixes arrived in.
    for minutes, lon in ((10, -122.30), (0, -122.32), (5, -122.31), (90, -122.20)):
        UnitPosition.objects.create(
            unit=unit,
            location=make_point(lon, 47.61),
            recorded_at=T0 + timedelta(minutes=minutes),
            heading=90.0,
            speed=12.5,
        )
    return unit


def _url(unit_id: int) -> str:
    return f"/api/units/{unit_id}/track/"


def _window(**extra) -> dict:
    return {"since": T0.isoformat(), "until": (T0 + timedelta(hours=1)).isoformat(), "reason": "case 26-77", **extra}


def test_track_is_a_linestring_feature_with_timed_points(operator_client, unit, django_assert_max_num_queries):
    with django_assert_max_num_queries(8):  # unit, fixes, and the audit append (lock, allocate, insert)
        response = operator_client.get(_url(unit.pk), _window())
    assert response.status_code == 200
    feature = response.json()
    assert feature["type"] == "Feature" and feature["id"] == unit.pk
    line = [[-122.32, 47.61], [-122.31, 47.61], [-122.30, 47.61]]
    assert feature["geometry"] == {"type": "LineString", "coordinates": line}
    props = feature["properties"]
    assert props["unit"] == {"id": unit.pk, "call_sign": "2B4", "kind": "patrol"}
    assert props["count"] == 3 and props["truncated"] is False
    times = [p["t"] for p in props["points"]]
    assert times == sorted(times) and len(times) == 3
    first = props["points"][0]
    assert (first["lon"], first["lat"], first["heading"], first["speed"]) == (-122.32, 47.61, 90.0, 12.5)


def test_a_replay_is_one_audited_track_replay(operator_client, operator, unit):
    operator_client.get(_url(unit.pk), _window())
    [event] = AuditEvent.objects.filter(action=AuditAction.UNIT_TRACK_REPLAY)
    assert (event.user, event.agency_id, event.ip) == (operator, unit.agency_id, "127.0.0.1")
    assert (event.object_type, event.object_id, event.reason) == ("units.unit", str(unit.pk), "case 26-77")
    assert event.detail["points"] == 3 and event.detail["truncated"] is False
    assert event.detail["since"] == T0.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    "params, field",
    [
        ({"reason": ""}, "reason"),
        ({"reason": "   "}, "reason"),
        ({"since": ""}, "since"),
        ({"since": "last tuesday"}, "since"),
        ({"until": "2026-13-40"}, "until"),
        ({"until": T0.isoformat()}, "until"),  # empty window
        ({"until": (T0 - timedelta(minutes=1)).isoformat()}, "until"),
        ({"until": (T0 + timedelta(hours=24, seconds=1)).isoformat()}, "since"),  # over 24 h
    ],
)
def test_bad_requests_are_400_and_not_audited(operator_client, unit, params, field):
    response = operator_client.get(_url(unit.pk), _window(**params))
    assert response.status_code == 400 and field in response.json()
    assert not AuditEvent.objects.filter(action=AuditAction.UNIT_TRACK_REPLAY).exists()


def test_exactly_24_hours_is_allowed_and_until_defaults_to_now(operator_client, unit):
    day = operator_client.get(_url(unit.pk), _window(until=(T0 + timedelta(hours=24)).isoformat()))
    assert day.status_code == 200 and day.json()["properties"]["count"] == 4
    open_ended = operator_client.get(_url(unit.pk), {"since": T0.isoformat(), "reason": "case 1"})
    assert open_ended.status_code == 200 and open_ended.json()["properties"]["count"] == 4


def test_fewer_than_two_fixes_have_no_line(operator_client, unit):
    one = operator_client.get(_url(unit.pk), _window(until=(T0 + timedelta(minutes=1)).isoformat())).json()
    assert one["geometry"] is None and one["properties"]["count"] == 1
    earlier = _window(since=(T0 - timedelta(hours=2)).isoformat(), until=T0.isoformat())
    none = operator_client.get(_url(unit.pk), earlier).json()
    assert none["geometry"] is None and none["properties"]["points"] == []
    assert AuditEvent.objects.filter(action=AuditAction.UNIT_TRACK_REPLAY).count() == 2  # empty looks count too


def test_retired_units_can_be_replayed(operator_client, unit):
    unit.active = False
    unit.save()
    assert operator_client.get(_url(unit.pk), _window()).json()["properties"]["count"] == 3


def test_who_may_replay(planner_client, auditor_client, outsider_client, anon_client, unit):
    assert planner_client.get(_url(unit.pk), _window()).status_code == 200  # view layers
    assert auditor_client.get(_url(unit.pk), _window()).status_code == 403
    assert anon_client.get(_url(unit.pk), _window()).status_code in (401, 403)
    # Another agency's unit does not exist for them, whatever the parameters.
    assert outsider_client.get(_url(unit.pk), _window()).status_code == 404
    assert outsider_client.get(_url(unit.pk), {}).status_code == 404
    assert planner_client.get(_url(987654), _window()).status_code == 404
    assert planner_client.get("/api/units/abc/track/", _window()).status_code == 404
    assert AuditEvent.objects.filter(action=AuditAction.UNIT_TRACK_REPLAY).count() == 1


def test_track_is_in_the_schema(operator_client):
    paths = operator_client.get("/api/schema/?format=json").json()["paths"]
    assert "/api/units/{id}/track/" in paths
    assert "/api/audit/export.csv" in paths
