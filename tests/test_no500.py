"""0 x 500 on hostile input: each class a hostile test of the running demo found answering 500.

NUL bytes in text filters, dates that overflow, Unicode digits that pass isdigit(), integers past
64 bits, bodies nested 100,000 deep, bad WebSocket messages. Every answer here must be a 4xx with
a JSON body naming the parameter (`body` for a request body), never a server error. The clients
do not re-raise a view's exception, so a 500 shows as a status, exactly as a browser would see it.
The API-wide sweep over the OpenAPI schema is tests/test_schemathesis.py.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from django.db import transaction
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.core.params import BIGINT_MAX, ParamError, check_date, check_datetime, check_int, parse_id
from apps.core.parsers import json_problem

from . import factories as f
from .live_support import headers_for, live_test, subscribe

DEEP = 100_000


def _client(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def assert_refused(response, field: str, status: int = 400) -> None:
    """A 4xx with a JSON body that names `field`: never a 500, never Django's HTML error page."""
    assert response.status_code < 500, (response.status_code, response.content[:300])
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    body = response.json()
    assert field in body or field in json.dumps(body), body


@pytest.fixture
def world(home):
    users = {
        role: f.user(agency=home, role=role, username=role)
        for role in (Role.OPERATOR, Role.WATCH_COMMANDER, Role.AUDITOR, Role.PLANNER)
    }
    return {
        "clients": {role: _client(user) for role, user in users.items()},
        "incident": f.incident(agency=home),
        "unit": f.unit(agency=home),
        "camera": f.camera(agency=home, sharing="live"),
        "alert": f.alert(agency=home),
    }


def _get(world, role: str, url: str):
    with transaction.atomic():
        response = world["clients"][role].get(url)
        transaction.set_rollback(True)
    return response


def _url(world, template: str) -> str:
    for name in ("incident", "unit", "camera"):
        template = template.replace("{" + name + "}", str(world[name].pk))
    return template


# ---- NUL bytes: PostgreSQL refuses them in text ------------------------------------------------------

NUL_CASES = [
    (Role.AUDITOR, "/api/audit/?user={v}", "user"),
    (Role.AUDITOR, "/api/audit/?object_type={v}", "object_type"),
    (Role.AUDITOR, "/api/audit/?object_id={v}", "object_id"),
    (Role.AUDITOR, "/api/audit/export.csv?reason={v}", "reason"),
    (Role.WATCH_COMMANDER, "/api/exports/incidents.geojson?reason=case&type={v}", "type"),
    (Role.WATCH_COMMANDER, "/api/exports/incidents.geojson?reason={v}", "reason"),
    (Role.WATCH_COMMANDER, "/api/tiles/incidents_history/14/2624/5721.mvt?type={v}", "type"),
    (Role.OPERATOR, "/api/search/?q={v}", "q"),
    (Role.OPERATOR, "/api/incidents/?status={v}", "status"),
    (Role.OPERATOR, "/api/alpr/reads/?plate=ABC1234&reason={v}", "reason"),
    (Role.OPERATOR, "/api/units/{unit}/track/?since=2026-01-01T00:00:00Z&reason={v}", "reason"),
    (Role.OPERATOR, "/api/playback/state/?at=2026-01-01T00:00:00Z&reason={v}", "reason"),
    (Role.OPERATOR, "/api/zones/?kind={v}", "kind"),
    (Role.OPERATOR, "/api/incidents/?{v}=1", "query"),
]


@pytest.mark.parametrize("value", ["a%00b", "%00"])
@pytest.mark.parametrize(("role", "template", "field"), NUL_CASES)
def test_a_nul_byte_in_a_parameter_is_a_400_naming_it(world, role, template, field, value):
    assert_refused(_get(world, role, _url(world, template).replace("{v}", value)), field)


def test_a_nul_byte_on_a_page_is_a_400_too(world, home):
    client = Client(raise_request_exception=False)
    client.force_login(f.user(agency=home, role=Role.WATCH_COMMANDER, username="page"))
    assert_refused(client.get("/measures/?bucket=%00"), "bucket")


def test_a_nul_byte_in_an_admin_search_is_a_400(db):
    """The guard covers every view, the admin's too (which answered 200 here before: this checks the
    guard's reach, not an old 500)."""
    from apps.accounts.models import User

    admin = User.objects.create_superuser("root", password=None)
    client = Client(raise_request_exception=False)
    client.force_login(admin)
    assert_refused(client.get("/admin/audit/auditevent/?q=a%00b"), "q")


# ---- dates that overflow: 9999-12-31 with a time zone shift, 0001-01-01 ------------------------------

OVERFLOWING = [
    "9999-12-31T23:59:59",
    "9999-12-31T23:59:59-12:00",
    "0001-01-01",
    "0001-01-01T00:00:00+14:00",
    # Python takes this offset, PostgreSQL refuses it (found by schemathesis in the audit CSV export).
    "2026-11-06T22:41:12+23:12",
]
DATE_CASES = [
    (Role.OPERATOR, "/api/playback/?reason=case&start={v}", "start"),
    (Role.OPERATOR, "/api/playback/?reason=case&start=2026-01-01T00:00:00Z&end={v}", "end"),
    (Role.OPERATOR, "/api/playback/state/?reason=case&at={v}", "at"),
    (Role.OPERATOR, "/api/units/{unit}/track/?reason=case&since={v}", "since"),
    (Role.OPERATOR, "/api/units/{unit}/track/?reason=case&since=2026-01-01T00:00:00Z&until={v}", "until"),
    (Role.OPERATOR, "/api/incidents/?since={v}", "since"),
    (Role.OPERATOR, "/api/incidents/?until={v}", "until"),
    (Role.AUDITOR, "/api/audit/?since={v}", "since"),
    (Role.AUDITOR, "/api/audit/export.csv?until={v}", "until"),
    (Role.WATCH_COMMANDER, "/api/exports/incidents.csv?reason=case&until={v}", "until"),
    (Role.WATCH_COMMANDER, "/api/ogc/collections/incidents/items?datetime={v}", "datetime"),
    (Role.WATCH_COMMANDER, "/api/ogc/collections/incidents/items?datetime=../{v}", "datetime"),
    (Role.WATCH_COMMANDER, "/api/tiles/incidents_history/14/2624/5721.mvt?since={v}", "since"),
]


@pytest.mark.parametrize("value", OVERFLOWING)
@pytest.mark.parametrize(("role", "template", "field"), DATE_CASES)
def test_a_date_that_overflows_is_a_400_naming_it(world, role, template, field, value):
    assert_refused(_get(world, role, _url(world, template).replace("{v}", quote(value))), field)


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "٢٠٢٦-٠١-٠١"])
@pytest.mark.parametrize("field", ["from", "to"])
def test_measures_dates_out_of_range_are_a_400_naming_them(world, field, value):
    for path in ("/api/measures/", "/api/measures/export.csv"):
        assert_refused(_get(world, Role.WATCH_COMMANDER, f"{path}?{field}={quote(value)}"), field)


def test_the_measures_page_shows_the_default_period_for_a_date_out_of_range(world, home):
    client = Client(raise_request_exception=False)
    client.force_login(f.user(agency=home, role=Role.WATCH_COMMANDER, username="page"))
    assert client.get("/measures/?to=9999-12-31").status_code == 200


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "0001-01-01", "end": "0001-01-02"}, "start"),
        ({"start": "9999-12-30", "end": "9999-12-31"}, "end"),
        ({"resolution": "²"}, "resolution"),
        ({"resolution": 10**30}, "resolution"),
        ({"hour_start": "١", "hour_end": 3}, "hour_start"),
    ],
)
def test_hotspot_run_parameters_that_overflow_are_a_400_naming_them(world, params, field):
    client = world["clients"][Role.PLANNER]
    response = client.post("/api/hotspots/runs/", {"kind": "compare", "params": params}, format="json")
    assert_refused(response, field)


@pytest.mark.parametrize(
    ("kind", "field", "value"),
    [("gaps", "covered_threshold", "1" + "0" * 400), ("gistar", "resolution", "1e400"), ("kde", "cell_m", "-1e400")],
)
def test_hotspot_numbers_too_large_for_a_float_are_a_400(world, kind, field, value):
    # Written by hand: a JSON encoder would refuse to write 1e400 (infinity) at all.
    body = f'{{"kind": "{kind}", "params": {{"{field}": {value}}}}}'
    response = world["clients"][Role.PLANNER].post("/api/hotspots/runs/", body, content_type="application/json")
    assert_refused(response, field)


# ---- Unicode digits and integers past 64 bits -----------------------------------------------------------

NUMBER_CASES = [
    (Role.WATCH_COMMANDER, "/api/ogc/collections/incidents/items?limit={v}", "limit", 400),
    (Role.WATCH_COMMANDER, "/api/ogc/collections/incidents/items?offset={v}", "offset", 400),
    (Role.WATCH_COMMANDER, "/api/exports/incidents.geojson?reason=case&ids={v}", "ids", 400),
    (Role.OPERATOR, "/api/incidents/{incident}/cameras/?limit={v}", "limit", 400),
    (Role.OPERATOR, "/api/search/?q=abc&limit={v}", "limit", 400),
    (Role.OPERATOR, "/api/units/trails/?minutes={v}", "minutes", 400),
    (Role.WATCH_COMMANDER, "/api/ogc/collections/incidents/items/{v}", "detail", 404),
    (Role.OPERATOR, "/api/incidents/{v}/", "detail", 404),
    (Role.OPERATOR, "/api/hotspots/runs/{v}/", "detail", 404),
]


@pytest.mark.parametrize("value", ["²", "١٢", "99999999999999999999", "9223372036854775808", "1" * 5000])
@pytest.mark.parametrize(("role", "template", "field", "status"), NUMBER_CASES)
def test_unicode_digits_and_huge_integers_are_refused_by_name(world, role, template, field, status, value):
    if role == Role.OPERATOR and "hotspots" in template:
        role = Role.PLANNER
    url = _url(world, template).replace("{v}", quote(value))
    assert_refused(_get(world, role, url), field, status)


def test_the_parsers_take_ascii_digits_only_within_bigint():
    assert check_int("n", "12") == 12 and check_int("n", "-3") == -3
    for bad in ("²", "١٢", "1_000", "+5", " ", "0x10", str(2**63), "9" * 30):
        with pytest.raises(ParamError) as caught:
            check_int("n", bad)
        assert caught.value.detail == {"n": caught.value.reason}
    assert parse_id("12") == 12
    assert [parse_id(v) for v in ("²", "0", "-1", str(2**63), "١٢")] == [None] * 5
    assert parse_id(str(BIGINT_MAX)) == BIGINT_MAX


def test_the_parsers_keep_dates_in_range():
    assert check_datetime("t", "2026-05-01T10:00:00Z").year == 2026
    assert check_date("d", "1900-01-01").year == 1900
    for bad in (*OVERFLOWING, "٢٠٢٦-٠١-٠١T00:00:00", "2026-13-01", "x" * 100):
        with pytest.raises(ParamError):
            check_datetime("t", bad)
    for bad in ("9999-12-31", "0001-01-01", "2026-02-30", "٢٠٢٦-٠١-٠١"):
        with pytest.raises(ParamError):
            check_date("d", bad)


# ---- bodies nested 100,000 deep -------------------------------------------------------------------------

BODY_CASES = [
    (Role.PLANNER, "/api/hotspots/runs/"),
    (Role.OPERATOR, "/api/cameras/{camera}/stream/"),
    (Role.OPERATOR, "/api/incidents/{incident}/assists/"),
    (Role.OPERATOR, "/api/alerts/{alert}/acknowledge/"),
]


@pytest.mark.parametrize("shape", ["[" * DEEP + "]" * DEEP, '{"a":' * DEEP + "1" + "}" * DEEP])
@pytest.mark.parametrize(("role", "template"), BODY_CASES)
def test_a_body_nested_too_deeply_is_a_400_naming_the_body(world, role, template, shape, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * len(shape)
    url = template.format(camera=world["camera"].pk, incident=world["incident"].pk, alert=world["alert"].pk)
    response = world["clients"][role].post(url, shape, content_type="application/json")
    assert_refused(response, "body")
    assert "nested too deeply" in response.json()["body"]


def test_a_body_deeper_than_the_limit_but_readable_is_refused_too(world):
    params: dict = {}
    for _ in range(40):
        params = {"types": params}
    response = world["clients"][Role.PLANNER].post(
        "/api/hotspots/runs/", {"kind": "kde", "params": params}, format="json"
    )
    assert_refused(response, "body")


def test_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(DEEP):
        deep = [deep]
    assert "nested too deeply" in json_problem(deep, 32)
    assert json_problem({"a": [1, {"b": 2}]}, 3) is None
    assert "nested too deeply" in json_problem({"a": [1, {"b": [2]}]}, 3)
    assert "surrogate" in json_problem({"a": ["ok", "\ud800"]}, 3)
    assert "surrogate" in json_problem({"\udfff": 1}, 3)


@pytest.mark.parametrize(("role", "template"), BODY_CASES)
def test_a_body_string_that_is_not_text_is_a_400_naming_the_body(world, role, template):
    # "\ud800" is valid JSON but no character: psycopg cannot encode it for PostgreSQL.
    url = template.format(camera=world["camera"].pk, incident=world["incident"].pk, alert=world["alert"].pk)
    body = '{"reason": "case \\ud800", "kind": "camera_suspect", "note": "\\udfff", "params": {"types": ["\\ud800"]}}'
    response = world["clients"][role].post(url, body, content_type="application/json")
    assert_refused(response, "body")


def test_a_feed_push_nested_too_deeply_is_a_400(home):
    from apps.feeds.models import FeedSource

    source = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    token = source.issue_token()
    body = "[" * DEEP + "]" * DEEP
    response = APIClient(raise_request_exception=False).post(
        "/api/feeds/push/", body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert_refused(response, "detail")
    assert "nested too deeply" in response.json()["detail"]


# ---- the live socket: bad client messages get an answer, never close 1011 ---------------------------------


@live_test
async def test_bad_socket_messages_get_a_clear_answer_not_a_server_error(ws, home, operator):
    from channels.db import database_sync_to_async

    comm = await ws(await database_sync_to_async(headers_for)(operator))
    for last_seq in ("²", "١٢", "0-²", "9" * 40, -1, 2**70, 1.5, [], {}):
        await subscribe(comm, layers=["incidents"], last_seq=last_seq)
        reply = await comm.receive_json_from(timeout=5)
        assert reply["type"] == "resync" and reply["reason"] in ("last_seq_malformed", "last_seq_unknown"), reply
    bad_frames = ["[" * 4000 + "]" * 4000, '{"action": "subscribe", "layers": ' + "[" * 3000 + "]" * 3000 + "}"]
    bad_frames += ["\x00", '{"action": "subscribe", "layers": ["incidents"], "bbox": [1e400, 0, 1, 1]}']
    bad_frames += ['{"action": "subscribe", "layers": ["\\u0000"]}', '"²"', "1e400", "[]"]
    for frame in bad_frames:
        await comm.send_to(text_data=frame)
        reply = await comm.receive_json_from(timeout=5)
        assert reply["type"] == "error" and reply["detail"], (frame[:40], reply)
    # Still open and still served after all of it.
    await subscribe(comm, layers=["incidents"])
