"""Every accountable act leaves exactly the expected audit event: who, what, which object, when, why."""

from __future__ import annotations

import csv
import io
from base64 import b32decode
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.models import AgencySharing
from apps.alpr.api.views import HIT_MONITOR_AUDIT_SECONDS, HIT_MONITOR_REASON
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.services import audit_chain_verify, audit_record

from . import factories as f

MIDDLEWARE = "apps.audit.middleware.AuditRequestMiddleware"


@pytest.fixture(autouse=True)
def _audit_middleware(settings):
    """The request-context middleware, where settings place it (added here if they do not yet)."""
    if MIDDLEWARE not in settings.MIDDLEWARE:
        after = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
        settings.MIDDLEWARE = [*settings.MIDDLEWARE[:after], MIDDLEWARE, *settings.MIDDLEWARE[after:]]


def _events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin_user(home):
    return f.user(agency=home, role=Role.AGENCY_ADMIN, username="chief", is_staff=True, is_superuser=True)


@pytest.fixture
def agency_admin(home):
    return f.user(agency=home, role=Role.AGENCY_ADMIN, username="agency-admin")


@pytest.fixture
def other_auditor(other_agency):
    return f.user(agency=other_agency, role=Role.AUDITOR, username="kc-auditor")


# ---- camera streams ------------------------------------------------------------------------------


def test_opening_a_stream_is_one_event_with_who_what_which_when_why(operator_client, operator, home):
    camera = f.camera(agency=home)
    before = timezone.now()
    response = operator_client.post(f"/api/cameras/{camera.pk}/stream/", {"reason": "case 9"}, format="json")
    assert response.status_code == 200
    [event] = _events(AuditAction.CAMERA_STREAM_OPEN)
    assert (event.user, event.username, event.agency) == (operator, "operator", home)
    assert (event.object_type, event.object_id, event.reason) == ("cameras.camera", str(camera.pk), "case 9")
    assert event.ip == "127.0.0.1" and before <= event.at <= timezone.now()


# ---- ALPR reads ----------------------------------------------------------------------------------


def test_every_read_query_needs_a_reason(operator_client, home):
    read = f.alpr_read(agency=home, plate="ABC1234")
    for url in ("/api/alpr/reads/", "/api/alpr/reads/?hits=0", f"/api/alpr/reads/{read.pk}/"):
        response = operator_client.get(url)
        assert response.status_code == 400 and "reason" in response.json(), url
    plate = operator_client.get("/api/alpr/reads/?plate=ABC1234&hits=1")
    assert plate.status_code == 400 and "plate search" in plate.json()["reason"]
    assert not AuditEvent.objects.filter(action__startswith="alpr.").exists()


def test_a_read_query_with_a_reason_is_one_event(operator_client, operator, home):
    f.alpr_read(agency=home, plate="ABC1234")
    data = operator_client.get("/api/alpr/reads/", {"reason": "case 2026-17", "since": "2020-01-01"}).json()
    assert data["count"] == 1
    [event] = _events(AuditAction.ALPR_READ_QUERY)
    assert event.user == operator and event.reason == "case 2026-17" and event.object_type == "alpr.alprread"
    assert event.detail == {"query": {"reason": "case 2026-17", "since": "2020-01-01"}, "count": 1}


def test_a_plate_search_is_one_plate_search_event(operator_client, home):
    f.alpr_read(agency=home, plate="ABC1234")
    assert operator_client.get("/api/alpr/reads/", {"plate": "AB*", "reason": "case 5"}).json()["count"] == 1
    [event] = _events(AuditAction.PLATE_SEARCH)
    assert event.reason == "case 5" and event.detail["query"]["plate"] == "AB*"
    assert not _events(AuditAction.ALPR_READ_QUERY)


def test_looking_at_one_read_is_audited_with_its_id(operator_client, home):
    read = f.alpr_read(agency=home, plate="ABC1234")
    assert operator_client.get(f"/api/alpr/reads/{read.pk}/", {"reason": "case 6"}).status_code == 200
    [event] = _events(AuditAction.ALPR_READ_QUERY)
    assert (event.object_id, event.reason) == (str(read.pk), "case 6")


def test_hit_monitoring_is_audited_once_per_user_per_window(operator_client, commander_client, operator, commander):
    for _ in range(3):  # the map panning
        assert operator_client.get("/api/alpr/reads/?hits=1").status_code == 200
    assert commander_client.get("/api/alpr/reads/?hits=true&in_bbox=-123,47,-122,48").status_code == 200
    events = _events(AuditAction.ALPR_READ_QUERY)
    assert [(e.user, e.reason) for e in events] == [(operator, HIT_MONITOR_REASON), (commander, HIT_MONITOR_REASON)]
    assert events[0].detail["throttle_seconds"] == HIT_MONITOR_AUDIT_SECONDS == 600
    # A deliberate look at hits, with a reason, is never folded into the monitoring event.
    operator_client.get("/api/alpr/reads/?hits=1&reason=case+8")
    operator_client.get("/api/alpr/reads/?hits=1&reason=case+8")
    assert [e.reason for e in _events(AuditAction.ALPR_READ_QUERY)][2:] == ["case 8", "case 8"]


def test_hit_monitoring_is_audited_when_the_cache_is_down(operator_client, monkeypatch):
    class DownCache:
        def add(self, *args, **kwargs):
            raise ConnectionError("redis down")

        delete = add

    monkeypatch.setattr("apps.audit.services.cache", DownCache())
    operator_client.get("/api/alpr/reads/?hits=1")
    operator_client.get("/api/alpr/reads/?hits=1")
    assert len(_events(AuditAction.ALPR_READ_QUERY)) == 2


def test_refused_roles_leave_no_read_event(planner_client, auditor_client):
    assert planner_client.get("/api/alpr/reads/?reason=x").status_code == 403
    assert auditor_client.get("/api/alpr/reads/?hits=1").status_code == 403
    assert not _events(AuditAction.ALPR_READ_QUERY)


# ---- the audit trail API: scope, detail, CSV export ------------------------------------------------


@pytest.fixture
def trail(operator, outsider):
    """One plate search in each agency, one with a reason a spreadsheet would run as a formula."""
    return {
        "home": audit_record(user=operator, action=AuditAction.PLATE_SEARCH, reason='=HYPERLINK("x")'),
        "other": audit_record(user=outsider, action=AuditAction.PLATE_SEARCH, reason="case KC-1"),
    }


def test_auditors_see_their_own_agency_only(auditor_client, other_auditor, admin_user, agency_admin, trail):
    mine = auditor_client.get("/api/audit/?action=alpr.plate_search").json()
    assert [r["id"] for r in mine["results"]] == [trail["home"].pk]
    assert mine["results"][0]["hash"] == trail["home"].hash
    theirs = _client(other_auditor).get("/api/audit/?action=alpr.plate_search").json()
    assert [r["id"] for r in theirs["results"]] == [trail["other"].pk]
    admins = _client(agency_admin).get("/api/audit/?action=alpr.plate_search").json()
    assert [r["id"] for r in admins["results"]] == [trail["home"].pk]
    everyone = _client(admin_user).get("/api/audit/?action=alpr.plate_search").json()
    assert {r["id"] for r in everyone["results"]} == {trail["home"].pk, trail["other"].pk}
    assert auditor_client.get(f"/api/audit/{trail['other'].pk}/").status_code == 404
    assert auditor_client.get(f"/api/audit/{trail['home'].pk}/").status_code == 200


def test_audit_filters(auditor_client, operator, trail):
    later = audit_record(user=operator, action=AuditAction.ALPR_READ_QUERY, object_type="alpr.alprread", object_id=4)

    def ids(**query: str) -> list[int]:
        return [r["id"] for r in auditor_client.get("/api/audit/", query).json()["results"]]

    assert ids(user="operator", object_type="alpr.alprread", object_id="4") == [later.pk]
    just_after = (later.at + timedelta(seconds=1)).isoformat()
    assert ids(action="alpr.plate_search", until=just_after) == [trail["home"].pk]
    assert ids(action="alpr.plate_search", since=just_after) == []
    assert auditor_client.get("/api/audit/", {"since": "yesterday"}).status_code == 400


def test_csv_export_is_scoped_filtered_escaped_and_audited(auditor_client, auditor, trail):
    response = auditor_client.get("/api/audit/export.csv?action=alpr.plate_search&reason=quarterly+review")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["id"]) for r in rows] == [trail["home"].pk]
    row = rows[0]
    assert row["username"] == "operator" and row["agency"] == "SPD" and row["hash"] == trail["home"].hash
    assert row["reason"] == '\'=HYPERLINK("x")'  # a formula is never live in a spreadsheet
    assert row["at"].endswith("Z") and row["prev_hash"] == trail["home"].prev_hash
    [export] = _events(AuditAction.EXPORT)
    assert (export.user, export.object_type, export.reason) == (auditor, "audit.auditevent", "quarterly review")
    assert export.detail == {"query": {"action": "alpr.plate_search", "reason": "quarterly review"}, "format": "csv"}


def test_csv_export_lists_itself_and_answers_a_csv_only_client(auditor_client):
    response = auditor_client.get("/api/audit/export.csv?action=data.export", HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["action"] for r in rows] == ["data.export"]


def test_csv_export_refusals_leave_no_export_event(operator_client, anon_client, auditor_client):
    assert operator_client.get("/api/audit/export.csv").status_code == 403
    assert anon_client.get("/api/audit/export.csv").status_code in (401, 403)
    bad = auditor_client.get("/api/audit/export.csv?action=nope", HTTP_ACCEPT="text/csv")
    assert bad.status_code == 400 and "action" in bad.json()
    assert not _events(AuditAction.EXPORT)


# ---- sign-in -------------------------------------------------------------------------------------


def test_login_and_failed_login(client, operator, home):
    url = reverse("login")
    client.post(url, {"username": "operator", "password": "not-the-password-123"}, REMOTE_ADDR="10.1.2.3")
    client.post(url, {"username": "nobody-here", "password": "guess-123"})
    client.post(url, {"username": "operator", "password": f.PASSWORD})
    failed = _events(AuditAction.LOGIN_FAILED)
    assert [(e.username, e.user, e.ip) for e in failed] == [
        ("operator", None, "10.1.2.3"),
        ("nobody-here", None, "127.0.0.1"),
    ]
    assert failed[0].agency == home and failed[0].object_id == str(operator.pk)
    assert failed[0].detail == {
        "username_tried": "operator",
        "known_user": True,
        "refused": "wrong username or password",
    }
    assert failed[1].agency is None and failed[1].detail["known_user"] is False
    text = repr([(e.reason, e.detail) for e in AuditEvent.objects.all()])
    assert "not-the-password" not in text and "guess-123" not in text and f.PASSWORD not in text
    [login] = _events(AuditAction.LOGIN)
    assert (login.user, login.agency, login.ip, login.object_id) == (operator, home, "127.0.0.1", str(operator.pk))
    # Saving last_login on sign-in is not a permission change (the one event is the account's creation).
    changes = AuditEvent.objects.filter(action=AuditAction.PERMISSION_CHANGE, object_id=str(operator.pk))
    assert [e.detail["created"] for e in changes] == [True]


def test_refusals_before_the_password_check_are_failed_logins(operator):
    """The sign-in forms report a locked account or a wrong second factor with the same signal."""
    from django.contrib.auth.signals import user_login_failed

    user_login_failed.send(sender="test", credentials={"username": "operator"}, request=None, reason="locked")
    [event] = _events(AuditAction.LOGIN_FAILED)
    assert event.username == "operator" and event.detail["refused"] == "locked"


# ---- permission changes --------------------------------------------------------------------------


def test_a_permission_change_in_the_admin_site_records_old_new_and_who(client, admin_user, operator, other_agency):
    group = Group.objects.create(name="Night shift")
    client.force_login(admin_user)
    data = {
        "username": "operator",
        "first_name": "",
        "last_name": "",
        "email": "",
        "is_active": "on",
        "is_staff": "on",
        "groups": [group.pk],
        "date_joined_0": "2026-01-05",
        "date_joined_1": "08:00:00",
        "agency": other_agency.pk,
        "role": Role.WATCH_COMMANDER,
    }
    response = client.post(reverse("admin:accounts_user_change", args=[operator.pk]), data, REMOTE_ADDR="10.9.8.7")
    assert response.status_code == 302, response.content[:2000]
    events = AuditEvent.objects.filter(action=AuditAction.PERMISSION_CHANGE, object_id=str(operator.pk)).order_by("id")
    fields, membership = [e for e in events if not e.detail.get("created")]
    assert fields.user == admin_user and fields.ip == "10.9.8.7" and fields.object_type == "accounts.user"
    assert fields.detail["changes"] == {
        "role": ["operator", "watch_commander"],
        "agency_id": [operator.agency_id, other_agency.pk],
        "agency": ["SPD", "KCSO"],
        "is_staff": [False, True],
    }
    assert fields.detail["via"] == f"/admin/accounts/user/{operator.pk}/change/"
    assert fields.agency == other_agency  # filed where the user now is
    assert membership.user == admin_user and membership.detail["changes"] == {"groups": {"added": ["Night shift"]}}


def test_creating_a_user_outside_a_request_is_recorded_as_system(home):
    user = f.user(agency=home, role=Role.OPERATOR, username="new-op")
    [event] = AuditEvent.objects.filter(action=AuditAction.PERMISSION_CHANGE, object_id=str(user.pk))
    assert event.user is None and event.detail["via"] == "system" and event.detail["created"] is True
    assert event.detail["changes"]["role"] == [None, "operator"] and event.agency == home


def test_second_factor_enrolment_and_reset_are_recorded_without_the_secret(operator):
    from django_otp.oath import totp as totp_code

    from apps.accounts.services import totp_device_confirm, totp_device_remove

    enrolled = timezone.now()
    code = str(totp_code(b32decode("JBSWY3DPEHPK3PXP"))).zfill(6)
    assert totp_device_confirm(user=operator, secret_b32="JBSWY3DPEHPK3PXP", code=code)
    totp_device_remove(user=operator)
    on, off = [e for e in _events(AuditAction.PERMISSION_CHANGE) if not e.detail.get("created")]
    stamp = on.detail["changes"]["totp_confirmed_at"][1]
    assert on.detail["changes"] == {"totp_confirmed_at": [None, stamp]} and stamp.startswith(str(enrolled.year))
    assert off.detail["changes"] == {"totp_confirmed_at": [stamp, None]}
    assert "JBSWY3DPEHPK3PXP" not in repr([on.detail, off.detail])


def test_saving_without_changes_records_nothing(operator):
    count = AuditEvent.objects.count()
    operator.first_name = "Pat"
    operator.save()
    operator.is_superuser = True
    operator.save(update_fields=["first_name"])  # the flag is not written, so nothing changed
    assert AuditEvent.objects.count() == count


def test_group_and_permission_changes_both_directions(operator):
    group = Group.objects.create(name="ALPR analysts")
    perm = Permission.objects.get(codename="view_alprread")
    start = AuditEvent.objects.count()
    operator.groups.add(group)
    operator.groups.add(group)  # already a member: nothing to record
    group.user_set.remove(operator)  # from the other side
    operator.user_permissions.add(perm)
    operator.user_permissions.clear()
    group.permissions.add(perm)
    events = list(AuditEvent.objects.filter(action=AuditAction.PERMISSION_CHANGE).order_by("id"))[-5:]
    assert AuditEvent.objects.count() - start == 5
    assert [(e.object_type, e.detail["changes"]) for e in events] == [
        ("accounts.user", {"groups": {"added": ["ALPR analysts"]}}),
        ("accounts.user", {"groups": {"removed": ["ALPR analysts"]}}),
        ("accounts.user", {"user_permissions": {"added": ["alpr.view_alprread"]}}),
        ("accounts.user", {"user_permissions": {"removed": ["alpr.view_alprread"]}}),
        ("auth.group", {"permissions": {"added": ["alpr.view_alprread"]}}),
    ]
    assert events[0].agency_id == operator.agency_id and events[-1].detail["group"] == "ALPR analysts"


def test_sharing_rules_created_changed_deleted(home, other_agency):
    rule = AgencySharing.objects.create(owner=home, partner=other_agency, layers=["incidents"])
    rule.layers = ["incidents", "units"]
    rule.save()
    rule.save()  # no change, no event
    rule_id = rule.pk
    rule.delete()
    events = _events(AuditAction.SHARING_CHANGE)
    assert len(events) == 3
    assert all(e.object_id == str(rule_id) and e.agency == home and e.detail["rule"] == "SPD -> KCSO" for e in events)
    assert events[0].detail["created"] and events[0].detail["changes"]["layers"] == [None, ["incidents"]]
    assert events[1].detail["changed"] and events[1].detail["changes"] == {
        "layers": [["incidents"], ["incidents", "units"]]
    }
    assert events[2].detail["deleted"] and events[2].detail["changes"]["partner_id"] == [other_agency.pk, None]


def test_the_chain_holds_over_all_of_it(operator_client, home):
    f.alpr_read(agency=home, plate="ABC1234")
    operator_client.get("/api/alpr/reads/?hits=1")
    operator_client.get("/api/alpr/reads/?plate=ABC1234&reason=case+1")
    result = audit_chain_verify()
    assert result.ok and result.checked == AuditEvent.objects.count()
