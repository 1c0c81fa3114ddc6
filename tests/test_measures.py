"""Measures of success (apps.measures): marking incidents RTCC-assisted, and the figures computed
from planted events over a fixed week (2026-02-02..08, America/Los_Angeles, UTC-8 then).

Audit events are planted with chosen times the way `audit_record` chains them (same lock, same
hash), so the trail still verifies; everything else is written through the real services or API.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from apps.accounts.choices import Role
from apps.accounts.models import User
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.services import audit_chain_verify
from apps.measures.models import IncidentAssist
from apps.measures.period import Period
from apps.measures.selectors import workload
from apps.measures.services import incident_assist_create
from apps.measures.shifts import parse_shifts
from apps.sensors.models import Alert

from . import factories as f

LA = ZoneInfo("America/Los_Angeles")


def quick_user(agency, role: str, username: str) -> User:
    """A persona without a password hash (hashing is slow on purpose; these sign in with force_login)."""
    user = User(username=username, agency=agency, role=role)
    user.set_unusable_password()
    user.save()
    return user


@pytest.fixture
def operator(home):
    return quick_user(home, Role.OPERATOR, "operator")


@pytest.fixture
def commander(home):
    return quick_user(home, Role.WATCH_COMMANDER, "commander")


@pytest.fixture
def planner(home):
    return quick_user(home, Role.PLANNER, "planner")


@pytest.fixture
def auditor(home):
    return quick_user(home, Role.AUDITOR, "auditor")


@pytest.fixture
def outsider(other_agency):
    return quick_user(other_agency, Role.OPERATOR, "outsider")


WEEK = {"from": "2026-02-02", "to": "2026-02-08"}


def local(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 2) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=LA)


def plant_audit(*, user, action: str, at: datetime, detail: dict | None = None, agency_id=None) -> AuditEvent:
    """An audit event at `at`, chained exactly as audit_record chains one (which always uses now)."""
    return f.audit_event_at(at=at, user=user, action=action, detail=detail, agency_id=agency_id)


def stream_open(user, incident, at: datetime) -> AuditEvent:
    return plant_audit(
        user=user, action=AuditAction.CAMERA_STREAM_OPEN, at=at, detail={"incident": incident.pk if incident else None}
    )


def mark(incident, user, kind: str, at: datetime) -> IncidentAssist:
    assist = incident_assist_create(incident=incident, user=user, kind=kind, note="")
    IncidentAssist.objects.filter(pk=assist.pk).update(created_at=at)  # when it happened, for the figures
    return assist


@pytest.fixture
def la_home(home):
    home.time_zone = "America/Los_Angeles"
    home.save(update_fields=["time_zone"])
    return home


@pytest.fixture
def incident_world(la_home, other_agency, operator, commander):
    """10 home incidents in the week (3 assisted, 1 'no assist possible', 5 engaged), plus noise."""
    received = [
        local(2, 0, 0, 0),  # the first instant of the period counts
        local(3, 10),
        local(3, 11),
        local(3, 12),
        local(5, 23, 30),  # Feb 6 07:30 UTC: still Feb 5 in Los Angeles
        *[local(6, 9 + k) for k in range(5)],
    ]
    inc = [f.incident(agency=la_home, received_at=at) for at in received]
    f.incident(agency=la_home, received_at=local(1, 23, 59, 59))  # before the period
    late = f.incident(agency=la_home, received_at=local(9, 0, 0, 0))  # the day after `to`
    mark(late, operator, "camera_suspect", local(9, 0, 5))

    # inc0: stream +60 s, marks +120 and +600 -> 60 s; 2 views (+60, +400)
    stream_open(operator, inc[0], inc[0].received_at + timedelta(seconds=60))
    stream_open(operator, inc[0], inc[0].received_at + timedelta(seconds=400))
    mark(inc[0], operator, "camera_suspect", inc[0].received_at + timedelta(seconds=120))
    mark(inc[0], commander, "units_redirected", inc[0].received_at + timedelta(seconds=600))
    # inc1: mark +300 -> 300 s
    mark(inc[1], operator, "camera_vehicle", inc[1].received_at + timedelta(seconds=300))
    # inc2: mark +900, stream +1200 -> 900 s; 1 view
    mark(inc[2], operator, "detective_lead", inc[2].received_at + timedelta(seconds=900))
    stream_open(operator, inc[2], inc[2].received_at + timedelta(seconds=1200))
    # inc3: looked, could not help, +30 -> engaged 30 s, not assisted
    mark(inc[3], operator, "no_assist", inc[3].received_at + timedelta(seconds=30))
    # inc4: streams only (+180, +200, +5000) -> 180 s, 3 views, not assisted
    for s in (180, 200, 5000):
        stream_open(operator, inc[4], inc[4].received_at + timedelta(seconds=s))
    # A stream opened with a reason only, in the period: unlinked.
    stream_open(operator, None, local(4, 12))

    # Another agency: its incidents, marks and views never count for home; nor does its user
    # opening a stream that names a home incident.
    kcso_cmd = quick_user(other_agency, Role.WATCH_COMMANDER, "kcso-cmd")
    theirs = [f.incident(agency=other_agency, received_at=local(3, 10 + k)) for k in range(4)]
    mark(theirs[0], kcso_cmd, "camera_suspect", theirs[0].received_at + timedelta(seconds=10))
    mark(theirs[1], kcso_cmd, "units_redirected", theirs[1].received_at + timedelta(seconds=20))
    stream_open(kcso_cmd, theirs[2], theirs[2].received_at + timedelta(seconds=5))
    stream_open(kcso_cmd, inc[5], inc[5].received_at + timedelta(seconds=5))
    return {"incidents": inc, "kcso_cmd": kcso_cmd}


def test_incident_measures_from_planted_events(incident_world, commander_client):
    response = commander_client.get("/api/measures/", WEEK)
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["time_zone"] == "America/Los_Angeles"
    assert data["incidents"]["total"] == 10
    assert data["incidents"]["assisted"] == 3
    assert data["incidents"]["assisted_share"] == 0.3
    by_kind = {row["kind"]: row["incidents"] for row in data["incidents"]["by_kind"]}
    assert by_kind == {
        "camera_suspect": 1,
        "camera_vehicle": 1,
        "units_redirected": 1,
        "detective_lead": 1,
        "hotlist_hit": 0,
        "realtime_info": 0,
        "other": 0,
        "no_assist": 1,
    }
    # Engagement seconds 60, 300, 900, 30, 180: median 180, p90 300 + 0.6 * 600, mean 294.
    assert data["engagement"] == {"engaged": 5, "p50_s": 180.0, "p90_s": 660.0, "mean_s": 294.0}
    assert data["camera_views"] == {
        "views": 6,
        "incidents_viewed": 3,
        "per_viewed_incident": 2.0,
        "per_incident": 0.6,
        "max_per_incident": 3,
        "unlinked": 1,
    }
    series = {row["bucket"]: row for row in data["series"]}
    assert list(series) == [f"2026-02-0{d}" for d in range(2, 9)]
    assert [series[b]["incidents"] for b in series] == [1, 3, 0, 1, 5, 0, 0]
    assert [series[b]["assisted"] for b in series] == [1, 2, 0, 0, 0, 0, 0]
    assert series["2026-02-03"]["engaged"] == 3
    assert series["2026-02-03"]["engagement_p50_s"] == 300.0  # 300, 900, 30
    assert series["2026-02-05"]["camera_views"] == 3
    assert series["2026-02-04"]["engagement_p50_s"] is None

    weekly = commander_client.get("/api/measures/", {**WEEK, "bucket": "week"}).json()
    assert [(row["bucket"], row["incidents"], row["assisted"]) for row in weekly["series"]] == [("2026-02-02", 10, 3)]


def test_other_agency_sees_only_its_own_figures(incident_world):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(incident_world["kcso_cmd"])
    data = client.get("/api/measures/", WEEK).json()
    assert data["incidents"]["total"] == 4
    assert data["incidents"]["assisted"] == 2
    assert data["engagement"]["engaged"] == 3
    assert data["camera_views"]["views"] == 1  # its stream naming a home incident is not its incident


@pytest.fixture
def alert_world(la_home, other_agency, operator):
    def alert(kind: str, raised: datetime, ack_after: int | None = None, outcome: str = ""):
        acked = ack_after is not None
        return f.alert(
            agency=la_home,
            kind=kind,
            raised_at=raised,
            status="acknowledged" if acked else "open",
            acknowledged_by=operator if acked else None,
            acknowledged_at=raised + timedelta(seconds=ack_after) if acked else None,
            ack_outcome=outcome,
        )

    alert("hotlist_hit", local(3, 8), 60, "confirmed")
    alert("hotlist_hit", local(3, 9), 120, "confirmed")
    alert("hotlist_hit", local(4, 10), 240, "false_positive")
    alert("hotlist_hit", local(4, 11), 600, "unknown")
    alert("hotlist_hit", local(5, 12))  # still open
    alert("panic", local(6, 13), 30)
    alert("gunshot", local(7, 14))
    alert("hotlist_hit", local(1, 12), 5, "confirmed")  # before the period
    f.alert(
        agency=other_agency,
        kind="hotlist_hit",
        raised_at=local(3, 8),
        status="acknowledged",
        acknowledged_at=local(3, 8, 1),
        ack_outcome="false_positive",
    )


def test_alert_and_hotlist_measures(alert_world, planner_client):
    data = planner_client.get("/api/measures/", WEEK).json()
    assert data["hotlist_hits"] == {
        "total": 5,
        "acknowledged": 4,
        "confirmed": 2,
        "false_positive": 1,
        "unknown": 1,
        "open": 1,
    }
    # Acknowledged after 60, 120, 240, 600, 30 s: median 120, p90 240 + 0.6 * 360 = 456, mean 210.
    alerts = data["alerts"]
    assert (alerts["total"], alerts["acknowledged"]) == (7, 5)
    assert (alerts["ack_p50_s"], alerts["ack_p90_s"], alerts["ack_mean_s"]) == (120.0, 456.0, 210.0)
    assert alerts["acknowledged_share"] == round(5 / 7, 4)
    kinds = {row["kind"]: (row["alerts"], row["acknowledged"], row["ack_p50_s"]) for row in alerts["by_kind"]}
    assert kinds == {"hotlist_hit": (5, 4, 180.0), "panic": (1, 1, 30.0), "gunshot": (1, 0, None)}
    series = {row["bucket"]: row for row in data["series"]}
    assert (series["2026-02-03"]["hotlist_confirmed"], series["2026-02-04"]["hotlist_false_positive"]) == (2, 1)
    assert series["2026-02-03"]["ack_p50_s"] == 90.0


def test_workload_per_operator_and_shift_boundaries(la_home, other_agency, operator, commander):
    other_op = quick_user(other_agency, Role.OPERATOR, "kcso-op")
    events = [
        (operator, AuditAction.CAMERA_STREAM_OPEN, local(3, 6, 59, 59)),  # night (before 07:00)
        (operator, AuditAction.ALERT_ACK, local(3, 7, 0, 0)),  # day starts at 07:00 sharp
        (operator, AuditAction.SEARCH, local(3, 14, 59, 59)),  # day
        (operator, AuditAction.PLATE_SEARCH, local(3, 15, 0, 0)),  # swing
        (operator, AuditAction.INCIDENT_ASSIST, local(3, 22, 59, 59)),  # swing
        (operator, AuditAction.CAMERA_STREAM_OPEN, local(3, 23, 0, 0)),  # night
        (operator, AuditAction.ALERT_ACK, local(4, 0, 30)),  # night, past midnight
        (operator, AuditAction.INCIDENT_ASSIST, local(4, 6, 0)),  # night
        (commander, AuditAction.SEARCH, local(5, 16)),  # swing
        (commander, AuditAction.AUDIT_QUERY, local(5, 16)),  # not workload
        (operator, AuditAction.SEARCH, local(1, 23, 59, 59)),  # before the period
        (operator, AuditAction.SEARCH, local(9, 0, 0, 0)),  # after it
        (other_op, AuditAction.SEARCH, local(3, 8)),  # another agency
    ]
    for user, action, at in events:
        plant_audit(user=user, action=action, at=at)

    period = Period(first_day=local(2).date(), last_day=local(8).date(), bucket="day", tz=LA)
    result = workload(user=commander, period=period, shifts=parse_shifts(["day=07:00", "swing=15:00", "night=23:00"]))
    rows = {(r["username"], r["shift"]): r for r in result["by_operator"]}
    assert set(rows) == {("operator", "day"), ("operator", "swing"), ("operator", "night"), ("commander", "swing")}
    night = rows[("operator", "night")]
    assert (night["stream_opens"], night["acknowledgements"], night["assists"], night["searches"]) == (2, 1, 1, 0)
    day = rows[("operator", "day")]
    assert (day["acknowledgements"], day["searches"], day["total"]) == (1, 1, 2)
    swing = rows[("operator", "swing")]
    assert (swing["searches"], swing["assists"], swing["total"]) == (1, 1, 2)
    assert rows[("commander", "swing")]["total"] == 1
    assert [(r["shift"], r["total"]) for r in result["by_shift"]] == [("day", 2), ("swing", 3), ("night", 4)]
    assert audit_chain_verify().ok  # the planted events chain like real ones

    # The shifts are a setting: one shift for the whole day takes everything.
    whole = workload(user=commander, period=period, shifts=parse_shifts(["all=05:00"]))
    assert [(r["shift"], r["total"]) for r in whole["by_shift"]] == [("all", 9)]


def test_shift_setting_is_checked():
    shifts = parse_shifts(["night=23:00", "day=07:00", "swing=15:00"])
    assert [(s.name, f"{s.start:%H:%M}", f"{s.end:%H:%M}", s.crosses_midnight) for s in shifts] == [
        ("day", "07:00", "15:00", False),
        ("swing", "15:00", "23:00", False),
        ("night", "23:00", "07:00", True),
    ]
    for bad in ([], ["day=7:00"], ["day=07:00", "day=15:00"], ["a=07:00", "b=07:00"], ["Day=25:00"]):
        with pytest.raises(ImproperlyConfigured):
            parse_shifts(bad)


def test_csv_export_is_the_summary_and_is_audited(incident_world, commander, commander_client):
    response = commander_client.get("/api/measures/export.csv", WEEK, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "rtcc-measures-2026-02-02-2026-02-08.csv" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["section", "bucket", "username", "shift", "measure", "value"]
    assert ["incidents", "", "", "", "assisted", "3"] in rows
    assert ["incidents", "", "", "", "assisted_share", "0.3"] in rows
    assert ["engagement", "", "", "", "p50_s", "180.0"] in rows
    assert ["incidents_by_kind", "", "", "", "camera_suspect", "1"] in rows
    assert ["series", "2026-02-06", "", "", "incidents", "5"] in rows
    # The operator's planted stream opens: five at night (00:01, 00:06, 23:33, 23:33, 00:53), two by day.
    assert ["workload", "", "operator", "night", "stream_opens", "5"] in rows
    assert ["workload", "", "operator", "day", "stream_opens", "2"] in rows
    assert ["workload_by_shift", "", "", "swing", "total", "0"] in rows
    event = AuditEvent.objects.filter(action=AuditAction.EXPORT, user=commander).get()
    assert event.object_type == "measures.summary"
    assert event.detail["format"] == "csv" and event.detail["period"] == ["2026-02-02", "2026-02-08"]


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "02/01/2026"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-02-09", "to": "2026-02-08"}, "from"),
        ({"from": "2025-01-01", "to": "2026-02-08"}, "to"),
        ({"bucket": "month"}, "bucket"),
    ],
)
def test_bad_periods_are_400s_naming_the_parameter(commander_client, query, param):
    for url in ("/api/measures/", "/api/measures/export.csv"):
        response = commander_client.get(url, query)
        assert response.status_code == 400, (url, query)
        assert param in response.json()
    assert not AuditEvent.objects.filter(action=AuditAction.EXPORT).exists()


def test_measures_permissions(operator_client, planner_client, auditor_client, anon_client, home):
    assert planner_client.get("/api/measures/").status_code == 200
    assert operator_client.get("/api/measures/").status_code == 403
    assert auditor_client.get("/api/measures/export.csv").status_code == 403
    assert anon_client.get("/api/measures/").status_code == 401


def test_default_period_is_the_last_30_days(la_home, planner_client):
    data = planner_client.get("/api/measures/").json()
    today = timezone.now().astimezone(LA).date()
    assert data["to"] == today.isoformat()
    assert data["from"] == (today - timedelta(days=29)).isoformat()
    assert len(data["series"]) == 30 and data["bucket"] == "day"


# --- marking an incident RTCC-assisted -------------------------------------------------------------


def test_operator_marks_an_incident_assisted(home, operator, operator_client):
    incident = f.incident(agency=home)
    url = f"/api/incidents/{incident.pk}/assists/"
    body = {"kind": "camera_vehicle", "note": "  Plate seen on 3rd Ave cam  "}
    response = operator_client.post(url, body, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["kind_label"], body["note"], body["created_by"]) == (
        "camera_vehicle",
        "Camera located vehicle",
        "Plate seen on 3rd Ave cam",
        "operator",
    )
    assist = IncidentAssist.objects.get()
    assert (assist.incident_id, assist.agency_id, assist.created_by_id) == (incident.pk, home.pk, operator.pk)
    event = AuditEvent.objects.get(action=AuditAction.INCIDENT_ASSIST)
    assert (event.object_type, event.object_id, event.user_id) == ("incidents.incident", str(incident.pk), operator.pk)
    assert event.detail == {"assist": assist.pk, "kind": "camera_vehicle"}

    listed = operator_client.get(url).json()
    assert [m["kind"] for m in listed["results"]] == ["camera_vehicle"]
    assert {"value": "no_assist", "label": "No assist possible"} in listed["kinds"]

    again = operator_client.post(url, {"kind": "camera_vehicle"}, format="json")
    assert again.status_code == 400 and "already marked" in again.json()["kind"][0]
    bad = operator_client.post(url, {"kind": "psychic"}, format="json")
    assert bad.status_code == 400 and "kind" in bad.json()
    missing = operator_client.post(url, {}, format="json")
    assert missing.status_code == 400 and "kind" in missing.json()
    long_note = operator_client.post(url, {"kind": "other", "note": "x" * 2001}, format="json")
    assert long_note.status_code == 400 and "note" in long_note.json()
    assert IncidentAssist.objects.count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.INCIDENT_ASSIST).count() == 1


def test_marks_are_scoped_and_need_the_permission(home, other_agency, outsider_client, planner_client):
    incident = f.incident(agency=home)
    url = f"/api/incidents/{incident.pk}/assists/"
    assert outsider_client.post(url, {"kind": "other"}, format="json").status_code == 404
    assert outsider_client.get(url).status_code == 404
    assert planner_client.post(url, {"kind": "other"}, format="json").status_code == 403
    assert planner_client.get(url).status_code == 200
    assert not IncidentAssist.objects.exists()


# --- what the map records feeds the figures -------------------------------------------------------------


def test_stream_opened_for_an_incident_and_ack_outcome_count(home, operator_client, commander_client):
    incident = f.incident(agency=home, received_at=timezone.now() - timedelta(minutes=10))
    camera = f.camera(agency=home)
    opened = operator_client.post(f"/api/cameras/{camera.pk}/stream/", {"incident": incident.pk}, format="json")
    assert opened.status_code == 200
    hit = f.alert(agency=home, kind="hotlist_hit", raised_at=timezone.now() - timedelta(minutes=2))
    acked = operator_client.post(f"/api/alerts/{hit.pk}/acknowledge/", {"outcome": "false_positive"}, format="json")
    assert acked.status_code == 200 and acked.json()["properties"]["ack_outcome"] == "false_positive"
    assert Alert.objects.get(pk=hit.pk).ack_outcome == "false_positive"
    ack_event = AuditEvent.objects.get(action=AuditAction.ALERT_ACK)
    assert ack_event.detail == {"kind": "hotlist_hit", "outcome": "false_positive"}
    other = f.alert(agency=home, kind="hotlist_hit")
    refused = operator_client.post(f"/api/alerts/{other.pk}/acknowledge/", {"outcome": "maybe"}, format="json")
    assert refused.status_code == 400 and "outcome" in refused.json()

    data = commander_client.get("/api/measures/").json()
    assert data["camera_views"]["views"] == 1
    assert data["engagement"]["engaged"] == 1
    assert 600 <= data["engagement"]["p50_s"] < 660  # opened about ten minutes after the call came in
    assert data["hotlist_hits"]["false_positive"] == 1
    assert data["hotlist_hits"]["open"] == 1
    workload_rows = {(r["username"], r["shift"]) for r in data["workload"]["by_operator"]}
    assert {username for username, _ in workload_rows} == {"operator"}


def test_measures_page(client, home, commander, operator):
    client.force_login(operator)
    assert client.get("/measures/").status_code == 403
    assert 'id="measures-link"' not in client.get("/").content.decode()
    client.force_login(commander)
    page = client.get("/measures/", {"from": "nonsense"})
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="measures-config"' in html and "vendor/chartjs/chart.umd.js" in html
    assert 'id="measures-link"' in client.get("/").content.decode()
