"""Playback: the frames of a window and the state at an instant T, exactly, for planted records."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.permissions import Layer
from apps.accounts.services import agency_sharing_create
from apps.audit.models import AuditAction, AuditEvent
from apps.core.geo import make_point, parse_bbox
from apps.playback.selectors import playback_frames, playback_state_at
from apps.units.models import UnitPosition

from . import factories as f

T0 = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=5)


def _m(minutes: float):
    return T0 + timedelta(minutes=minutes)


def _fix(unit, minutes: float, lon: float, lat: float = 47.61) -> None:
    UnitPosition.objects.create(unit=unit, location=make_point(lon, lat), recorded_at=_m(minutes), heading=90.0)


@pytest.fixture
def planted(home, other_agency):
    adam = f.unit(agency=home, call_sign="1A1")
    _fix(adam, -30, -122.30)
    _fix(adam, 5, -122.31)
    _fix(adam, 20, -122.32)
    _fix(adam, 70, -122.33)  # after the window
    boy = f.unit(agency=home, call_sign="1B2")
    _fix(boy, -180, -122.40)  # off the air: older than the look-back before the window
    _fix(boy, 10, -122.35, 47.65)
    theirs = f.unit(agency=other_agency, call_sign="K9")
    _fix(theirs, 5, -122.20)
    robbery = f.incident(
        agency=home,
        cad_number="R-1",
        received_at=_m(-60),
        dispatched_at=_m(2),
        on_scene_at=_m(12),
        closed_at=_m(40),
        status="closed",
    )
    later = f.incident(agency=home, cad_number="R-2", received_at=_m(30), status="pending")
    f.incident(agency=home, cad_number="R-OLD", received_at=_m(-90), closed_at=_m(-10), status="closed")
    shots = f.alert(agency=home, kind="gunshot", title="Shots", raised_at=_m(15), acknowledged_at=_m(25))
    panic = f.alert(agency=home, title="Panic", raised_at=_m(-120))
    f.alert(agency=home, title="Old", raised_at=_m(-120), acknowledged_at=_m(-60), status="acknowledged")
    gunshot = f.gunshot(agency=home, detected_at=_m(14))
    f.gunshot(agency=home, detected_at=_m(-5))
    return {
        "adam": adam,
        "boy": boy,
        "theirs": theirs,
        "robbery": robbery,
        "later": later,
        "shots": shots,
        "panic": panic,
        "gunshot": gunshot,
    }


def test_state_at_t_is_exactly_right(operator, planted):
    state = playback_state_at(user=operator, at=_m(10))
    units = {u["call_sign"]: (u["t"], u["lon"], u["lat"]) for u in state["units"]}
    # Adam's last fix at or before T is the one at +5; Boy's fix at exactly T counts.
    assert units == {"1A1": (_m(5), -122.31, 47.61), "1B2": (_m(10), -122.35, 47.65)}
    assert [(i["cad_number"], i["status_at"]) for i in state["incidents"]] == [("R-1", "dispatched")]
    assert [a["title"] for a in state["alerts"]] == ["Panic"]
    assert [g["id"] for g in state["gunshots"]] == []

    state = playback_state_at(user=operator, at=_m(15))
    assert [(i["cad_number"], i["status_at"]) for i in state["incidents"]] == [("R-1", "on_scene")]
    assert [a["title"] for a in state["alerts"]] == ["Panic", "Shots"]  # raised exactly at T
    assert [g["id"] for g in state["gunshots"]] == [planted["gunshot"].pk]

    state = playback_state_at(user=operator, at=_m(25))
    assert [a["title"] for a in state["alerts"]] == ["Panic"]  # acknowledged exactly at T
    units = {u["call_sign"]: u["t"] for u in state["units"]}
    assert units == {"1A1": _m(20), "1B2": _m(10)}

    state = playback_state_at(user=operator, at=_m(45))
    assert [(i["cad_number"], i["status_at"]) for i in state["incidents"]] == [("R-2", "pending")]

    # Before the window, Boy's only earlier fix is beyond the look-back: he is not on the picture.
    state = playback_state_at(user=operator, at=_m(0))
    assert [u["call_sign"] for u in state["units"]] == ["1A1"]


def test_state_at_t_in_a_box(operator, planted):
    bbox = parse_bbox("-122.36,47.64,-122.34,47.66")
    state = playback_state_at(user=operator, at=_m(10), bbox=bbox)
    assert [u["call_sign"] for u in state["units"]] == ["1B2"]
    assert state["incidents"] == [] and state["alerts"] == []


def test_frames_of_a_window(operator, planted):
    frames = playback_frames(user=operator, start=T0, end=_m(60))
    units = {u["call_sign"]: [(fx["t"], fx["lon"]) for fx in u["fixes"]] for u in frames["units"]}
    assert units == {
        "1A1": [(_m(-30), -122.30), (_m(5), -122.31), (_m(20), -122.32)],  # led by the last fix before start
        "1B2": [(_m(10), -122.35)],
    }
    by_cad = {i["cad_number"]: i for i in frames["incidents"]}
    assert set(by_cad) == {"R-1", "R-2"}
    assert [(c["status"], c["at"]) for c in by_cad["R-1"]["changes"]] == [
        ("pending", _m(-60)),
        ("dispatched", _m(2)),
        ("on_scene", _m(12)),
        ("closed", _m(40)),
    ]
    assert sorted(a["title"] for a in frames["alerts"]) == ["Panic", "Shots"]
    assert [g["id"] for g in frames["gunshots"]] == [planted["gunshot"].pk]
    assert frames["truncated"] == []


def _get(client, **params):
    return client.get("/api/playback/", {"reason": "case 26-0099", **params})


def test_replay_endpoint_audited_as_playback(operator_client, operator, planted):
    response = _get(operator_client, start=T0.isoformat(), end=_m(60).isoformat())
    assert response.status_code == 200
    body = response.json()
    assert [u["call_sign"] for u in body["units"]] == ["1A1", "1B2"]
    assert parse_datetime(body["units"][0]["fixes"][0]["t"]) == _m(-30)
    [event] = AuditEvent.objects.filter(action=AuditAction.PLAYBACK)
    assert event.user == operator and event.reason == "case 26-0099"
    assert event.detail["units"] == [planted["adam"].pk, planted["boy"].pk]
    assert event.detail["fixes"] == 4 and event.detail["incidents"] == 2 and event.detail["alerts"] == 2

    response = operator_client.get("/api/playback/state/", {"at": _m(10).isoformat(), "reason": "case 26-0099"})
    assert response.status_code == 200
    assert [i["status_at"] for i in response.json()["incidents"]] == ["dispatched"]
    assert AuditEvent.objects.filter(action=AuditAction.PLAYBACK).count() == 2


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"start": T0.isoformat(), "end": (T0 + timedelta(hours=6, seconds=1)).isoformat()}, "end"),
        ({"start": T0.isoformat(), "end": T0.isoformat()}, "end"),
        ({}, "start"),
        ({"start": "then"}, "start"),
        ({"start": T0.isoformat(), "in_bbox": "1,2"}, "detail"),
        ({"start": T0.isoformat(), "reason": " "}, "reason"),
    ],
)
def test_bad_windows_are_400s(operator_client, params, param):
    response = _get(operator_client, **params)
    assert response.status_code == 400 and param in response.json()
    assert not AuditEvent.objects.filter(action=AuditAction.PLAYBACK).exists()


def test_six_hours_is_allowed_and_end_defaults_to_an_hour(operator_client, planted):
    assert _get(operator_client, start=T0.isoformat(), end=(T0 + timedelta(hours=6)).isoformat()).status_code == 200
    body = _get(operator_client, start=T0.isoformat()).json()
    assert parse_datetime(body["end"]) == _m(60)


def test_partner_and_outsider_cannot_replay_home_units(home, other_agency, outsider_client, planted):
    body = _get(outsider_client, start=T0.isoformat()).json()
    assert [u["call_sign"] for u in body["units"]] == ["K9"]
    assert body["incidents"] == [] and body["alerts"] == []
    # Even with every layer shared, a partner-agency operator sees home incidents but no home unit's history.
    agency_sharing_create(owner_id=home.pk, partner_id=other_agency.pk, layers=list(Layer))
    body = _get(outsider_client, start=T0.isoformat()).json()
    assert [u["call_sign"] for u in body["units"]] == ["K9"]
    assert {i["cad_number"] for i in body["incidents"]} == {"R-1", "R-2"}
    partner = APIClient()
    partner.force_authenticate(f.user(agency=other_agency, role=Role.PARTNER))
    assert _get(partner, start=T0.isoformat()).status_code == 403


def test_roles_without_playback(auditor_client, anon_client):
    assert _get(auditor_client, start=T0.isoformat()).status_code == 403
    assert _get(anon_client, start=T0.isoformat()).status_code == 401
