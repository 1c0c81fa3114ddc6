"""A sensitive look is declared once (apps.audit.reads): the same reason rule on every audited endpoint,
and each look writes exactly one audit event.

The endpoint tests are parametrised over the registry of audited reads (READS), and CASES must name every
one of them: a new audited endpoint fails here until it is given a request below, and then it is held to the
same rule as all the others."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

import rtcc_gis.urls  # noqa: F401  (every view module imported: every audited read registered)
from apps.accounts.choices import Role
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.reads import READS, REASON_MAX_CHARS, AuditedRead, Reason, audited, parse_reason
from apps.audit.services import audit_record
from apps.core.params import ParamError

from . import factories as f

ROOT = Path(__file__).resolve().parent.parent


# ---- the rule itself ------------------------------------------------------------------------------


def test_a_reason_is_trimmed_and_kept_whole_up_to_the_cap():
    assert parse_reason("  case 26-0099 \n") == "case 26-0099"
    assert parse_reason("x" * REASON_MAX_CHARS) == "x" * REASON_MAX_CHARS == "x" * 500
    assert parse_reason("Fall 2026 — Überfall № 7, 事件") == "Fall 2026 — Überfall № 7, 事件"
    with pytest.raises(ParamError) as refused:
        parse_reason("x" * (REASON_MAX_CHARS + 1))
    assert refused.value.detail == {"reason": "at most 500 characters, got 501"}
    # Counted after trimming: padding does not push a reason over the cap.
    assert parse_reason(" " * 50 + "y" * REASON_MAX_CHARS + " " * 50) == "y" * REASON_MAX_CHARS


@pytest.mark.parametrize(
    "text",
    [
        "case\x007",  # NUL: PostgreSQL cannot store it
        "case\x017",
        "case\t7",
        "case\n7",  # a second line the trail's readers would take for another field
        "case\x7f7",
        "case\x857",  # C1 next line
        "case\u20287",  # line separator
        "case\u202e7",  # right-to-left override: the trail would read other than it stores
        "case\u20667",  # left-to-right isolate
        "case\ud8007",  # a lone surrogate (JSON allows "\\ud800"; UTF-8 does not)
    ],
)
def test_control_characters_are_refused_naming_the_field(text):
    with pytest.raises(ParamError) as refused:
        parse_reason(text, field="reason")
    assert list(refused.value.detail) == ["reason"]
    assert "control characters" in str(refused.value.detail["reason"])


def test_a_missing_reason_is_refused_only_where_required():
    with pytest.raises(ParamError) as refused:
        parse_reason("   ", required="a playback needs a reason")
    assert refused.value.detail == {"reason": "a playback needs a reason"}
    assert parse_reason(None) == "" and parse_reason("", default="routine") == "routine"
    with pytest.raises(ParamError):
        parse_reason(["case 1"])  # a JSON body may send anything


def test_a_read_must_declare_an_action_and_a_name_of_its_own():
    with pytest.raises(Exception, match="declares no audit action"):
        AuditedRead("test.no_action", actions=())
    with pytest.raises(Exception, match="two audited reads are named units.track"):
        AuditedRead("units.track", actions=(AuditAction.EXPORT,))


# ---- the wrapper ----------------------------------------------------------------------------------


class _Answer:
    status_code = 200


@pytest.fixture
def forgetful():
    """A declaration made for the test, out of the registry again afterwards."""
    yield AuditedRead("test.forgetful", actions=(AuditAction.EXPORT,), reason=Reason(required="needs one"))
    READS.pop("test.forgetful", None)


def test_a_view_that_answers_without_recording_its_look_is_an_error(rf, operator, forgetful):
    class View:
        @audited(forgetful)
        def get(self, request, *, look):
            return _Answer()

    request = rf.get("/", {"reason": "case 1"})
    request.query_params = request.GET
    request.user = operator
    before = _last_id()
    with pytest.raises(Exception, match="answered without recording the look"):
        View().get(request)
    assert _new_events(before) == []


def test_a_look_is_recorded_once_and_only_under_a_declared_action(rf, operator, forgetful):
    request = rf.get("/", {"reason": " case 2 "})
    request.query_params = request.GET
    request.user = operator
    look = forgetful.look(request)
    with pytest.raises(Exception, match="does not declare action"):
        look.record(action=AuditAction.PLAYBACK)
    event = forgetful.look(request).record(obj=operator)
    assert (event.action, event.reason, event.object_type, event.object_id) == (
        AuditAction.EXPORT,
        "case 2",
        "accounts.user",
        str(operator.pk),
    )
    twice = forgetful.look(request)
    twice.record()
    with pytest.raises(Exception, match="recorded twice"):
        twice.record()


def test_no_api_view_writes_audit_events_by_hand():
    """A sensitive look is declared (an AuditedRead), never an audit_record call in a view."""
    views = [*ROOT.glob("apps/*/api/*.py"), *ROOT.glob("apps/*/views.py")]
    assert len(views) > 20
    offenders = [
        str(path.relative_to(ROOT))
        for path in views
        if re.search(r"\baudit_record(_throttled)?\b", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


# ---- every audited endpoint ---------------------------------------------------------------------


@dataclass
class Case:
    """One request that makes the look. `build(world)` gives (method, path, params or body)."""

    build: Callable[[dict], tuple[str, str, dict]]
    status: int = 200


def _hour_ago() -> str:
    return (timezone.now() - timedelta(hours=1)).isoformat()


CASES: dict[str, Case] = {
    "alpr.reads.list": Case(lambda w: ("get", "/api/alpr/reads/", {"since": "2020-01-01"})),
    "alpr.reads.retrieve": Case(lambda w: ("get", f"/api/alpr/reads/{w['read'].pk}/", {})),
    "cameras.stream": Case(lambda w: ("post", f"/api/cameras/{w['camera'].pk}/stream/", {})),
    "exports.export": Case(lambda w: ("get", "/api/exports/incidents.geojson", {})),
    "exports.ogc": Case(lambda w: ("get", "/api/ogc/collections/alpr_reads/items", {})),
    "units.track": Case(lambda w: ("get", f"/api/units/{w['unit'].pk}/track/", {"since": _hour_ago()})),
    "search.plates": Case(lambda w: ("get", "/api/search/plates/", {"plate": "ABC1234"})),
    "playback": Case(lambda w: ("get", "/api/playback/", {"start": _hour_ago()})),
    "tiles.alpr_reads": Case(lambda w: ("get", "/api/tiles/alpr_reads/14/2623/5718.mvt", {})),
    "tiles.unit_positions": Case(lambda w: ("get", "/api/tiles/unit_positions/14/2623/5718.mvt", {})),
    "audit.list": Case(lambda w: ("get", "/api/audit/", {})),
    "audit.retrieve": Case(lambda w: ("get", f"/api/audit/{w['event'].pk}/", {})),
    "audit.export": Case(lambda w: ("get", "/api/audit/export.csv", {})),
    "measures.export": Case(lambda w: ("get", "/api/measures/export.csv", {})),
}


HTTP_READS = sorted(name for name, read in READS.items() if read.via == "http")


def test_every_audited_read_has_a_case_here():
    """Socket looks are tested in test_audit_reads_live.py."""
    assert len(HTTP_READS) >= 14
    assert HTTP_READS == sorted(CASES)


@pytest.fixture
def world(home):
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="looks-admin")
    client = APIClient()
    client.force_authenticate(admin)
    event = audit_record(user=admin, action=AuditAction.LOGIN, obj=admin)
    return {
        "admin": admin,
        "client": client,
        "read": f.alpr_read(agency=home, plate="ABC1234"),
        "camera": f.camera(agency=home),
        "unit": f.unit(agency=home),
        "event": event,
    }


def _ask(world: dict, name: str, reason: str | None):
    read = READS[name]
    method, path, params = CASES[name].build(world)
    if reason is not None:
        params = {**params, read.reason.field: reason}
    client = world["client"]
    if method == "post":
        response = client.post(path, params, format="json")
    else:
        response = client.get(path, params, HTTP_ACCEPT="*/*")
    if hasattr(response, "streaming_content"):
        b"".join(response.streaming_content)  # a streamed file is read to its end, as a client would
    return response


def _new_events(since_id: int) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(id__gt=since_id).order_by("id"))


def _last_id() -> int:
    last = AuditEvent.objects.order_by("-id").first()
    return last.pk if last else 0


NAMES = HTTP_READS


@pytest.mark.parametrize("name", NAMES)
def test_each_audited_read_writes_exactly_one_event_with_the_trimmed_reason(world, name):
    read = READS[name]
    before = _last_id()
    response = _ask(world, name, "  case 26-0131  ")
    assert response.status_code == CASES[name].status, response.content[:300]
    [event] = _new_events(before)
    assert event.action in read.actions and event.reason == "case 26-0131"
    assert event.username == "looks-admin" and event.object_type


@pytest.mark.parametrize("name", NAMES)
def test_each_audited_read_keeps_a_reason_at_the_cap_whole(world, name):
    before = _last_id()
    reason = "c" * REASON_MAX_CHARS
    assert _ask(world, name, reason).status_code == CASES[name].status
    [event] = _new_events(before)
    assert event.reason == reason


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("reason", "says"),
    [
        ("c" * (REASON_MAX_CHARS + 1), f"at most {REASON_MAX_CHARS} characters"),
        ("case\x0126", "control characters"),
        ("case 26\n7", "control characters"),
        ("case \u202e62", "control characters"),
    ],
)
def test_each_audited_read_refuses_a_bad_reason_with_a_400_naming_it(world, name, reason, says):
    before = _last_id()
    response = _ask(world, name, reason)
    assert response.status_code == 400, response.content[:300]
    assert list(response.json()) == ["reason"] and says in str(response.json()["reason"])
    assert _new_events(before) == []


@pytest.mark.parametrize("name", NAMES)
def test_each_audited_read_without_a_reason_is_refused_or_recorded_by_its_declaration(world, name):
    read = READS[name]
    before = _last_id()
    response = _ask(world, name, None)
    required = read.reason.required
    if callable(required):
        required = required(_DrfRequest(world, name))
    if required:
        assert response.status_code == 400 and list(response.json()) == ["reason"]
        assert str(response.json()["reason"]) == required
        assert _new_events(before) == []
    else:
        assert response.status_code == CASES[name].status, response.content[:300]
        [event] = _new_events(before)
        assert event.reason == read.reason.default


class _DrfRequest:
    """What a declaration's `required` function reads of a request: user, query string, view kwargs."""

    def __init__(self, world: dict, name: str):
        from django.urls import resolve

        method, path, params = CASES[name].build(world)
        match = resolve(path)
        self.user = world["admin"]
        self.query_params = self.data = params
        view = type("View", (), dict(match.func.initkwargs))()
        self.parser_context = {"kwargs": match.kwargs, "view": view}


def test_required_where_the_old_views_required_it():
    """The declarations keep every endpoint's old requirement (only the rule's checks were unified)."""
    required = {name for name, read in READS.items() if read.reason.required}
    assert required >= {
        "alpr.reads.list",
        "alpr.reads.retrieve",
        "exports.export",
        "exports.ogc",
        "units.track",
        "search.plates",
        "playback",
        "tiles.alpr_reads",
        "tiles.unit_positions",
    }


# ---- the video wall's purpose (part of each of its streams' reasons) ------------------------------


@pytest.mark.parametrize(
    ("reason", "needle"),
    [
        ("Parade\x01detail", "reason: must not contain control characters (found U+0001)"),
        ("Parade \u202edetail", "reason: must not contain control characters (found U+202E)"),
        ("p" * 201, "reason: at most 200 characters on a wall, got 201"),
    ],
)
def test_a_wall_refuses_a_purpose_its_streams_could_not_record(operator, home, reason, needle):
    from django.test import Client

    cam = f.camera(agency=home)
    client = Client()
    client.force_login(operator)
    response = client.get("/wall/", {"cameras": str(cam.pk), "reason": reason})
    assert response.status_code == 400 and needle in response.content.decode()
    fine = client.get("/wall/", {"cameras": str(cam.pk), "reason": " Parade\t detail " + "p" * 180})
    assert fine.status_code == 200 and fine.context["config"]["wall"]["reason"] == "Parade detail " + "p" * 180


def test_a_look_the_role_may_not_make_says_so_before_asking_for_a_reason(planner_client, other_agency):
    """The reason is asked for only once the user may make the look: a collection the role cannot read is
    still a 404 (it is not confirmed to exist), tiles it cannot view a 403, another agency's unit a 404."""
    before = _last_id()
    ogc = planner_client.get("/api/ogc/collections/alpr_reads/items")
    assert ogc.status_code == 404, ogc.content
    assert planner_client.get("/api/tiles/alpr_reads/14/2623/5718.mvt").status_code == 403
    other = f.unit(agency=other_agency)
    assert planner_client.get(f"/api/units/{other.pk}/track/", {"since": _hour_ago()}).status_code == 404
    assert _new_events(before) == []
