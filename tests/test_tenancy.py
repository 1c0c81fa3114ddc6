"""Tenancy and sharing between agencies: who sees whose records, over REST and over the live socket.

Three agencies: `home` (SPD) owns the records; `partner_agency` (BPD) gets what home's sharing rule
lists; `other_agency` (KCSO) has no rule. Rules are made through the services, as an admin would.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.models import Agency, AgencySharing, User
from apps.accounts.permissions import Layer
from apps.accounts.selectors import active_sharing, sharing_partner_ids, visible_agency_ids
from apps.accounts.services import agency_sharing_create, agency_sharing_end, agency_sharing_update
from apps.audit.models import AuditAction, AuditEvent
from apps.cameras.services import camera_set_status
from apps.core.geo import destination
from apps.live.layers import LAYERS as LIVE_LAYERS
from apps.live.publish import _append
from apps.live.streams import agency_feed, feeds_for_agency, layers_needed

from . import factories as f
from .live_support import drain, headers_for, live_test, subscribe
from .test_live import db, move_unit, publish_committed

HOUR = timedelta(hours=1)
REASON = {"reason": "case 26-0042"}  # every ALPR read query needs one; other layers ignore it


def _user(agency: Agency | None, role: str, username: str, **kw: Any) -> User:
    # Signed in with force_authenticate/force_login: no password to hash (hashing is slow on purpose).
    user = User(username=username, agency=agency, role=role, **kw)
    user.set_unusable_password()
    user.save()
    return user


def _api(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def partner_agency(db):
    return f.agency("BPD", name="Bellevue Police Department")


@pytest.fixture
def partner_operator(partner_agency):
    return _user(partner_agency, Role.OPERATOR, "bpd-operator")


@pytest.fixture
def partner_user(partner_agency):
    return _user(partner_agency, Role.PARTNER, "bpd-partner")


@pytest.fixture
def share(home, partner_agency) -> Callable[..., AgencySharing]:
    """home shares `layers` with the partner agency (optionally within a window)."""

    def make(*layers: str, **window: Any) -> AgencySharing:
        return agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=layers, **window)

    return make


# One record of each layer: (endpoint, its layer, factory for an agency).
LAYER_RECORDS: list[tuple[str, Layer, Callable[[Agency], Any]]] = [
    ("/api/incidents/", Layer.INCIDENTS, lambda a: f.incident(agency=a)),
    ("/api/cameras/", Layer.CAMERAS, lambda a: f.camera(agency=a)),
    ("/api/units/", Layer.UNITS, lambda a: f.unit(agency=a)),
    ("/api/alpr/sites/", Layer.ALPR_SITES, lambda a: f.alpr_site(agency=a)),
    ("/api/alpr/reads/", Layer.ALPR_READS, lambda a: f.alpr_read(agency=a, plate="ABC1234")),
    ("/api/gunshots/", Layer.GUNSHOTS, lambda a: f.gunshot(agency=a)),
    ("/api/alerts/", Layer.ALERTS, lambda a: f.alert(agency=a)),
    ("/api/zones/", Layer.ZONES, lambda a: f.zone(agency=a)),
]
LAYER_IDS = [layer.value for _, layer, _ in LAYER_RECORDS]


def _ids(client: APIClient, url: str) -> set[int]:
    response = client.get(url, REASON)
    assert response.status_code == 200, response.content
    return {feature["id"] for feature in response.json()["features"]}


def _sees(client: APIClient, url: str, record: Any) -> bool:
    """Whether the record is in the list and its detail answers; both must agree."""
    listed = record.pk in _ids(client, url)
    detail = client.get(f"{url}{record.pk}/", REASON).status_code
    assert detail == (200 if listed else 404), f"{url}: listed={listed} but detail {detail}"
    return listed


# ---- selectors ---------------------------------------------------------------------------------------


def test_visible_agency_ids(home, partner_agency, other_agency, partner_operator, share):
    assert visible_agency_ids(partner_operator, layer=Layer.INCIDENTS) == [partner_agency.pk]
    share("incidents", "units")
    assert visible_agency_ids(partner_operator, layer=Layer.INCIDENTS) == [partner_agency.pk, home.pk]
    assert visible_agency_ids(partner_operator, layer="units") == [partner_agency.pk, home.pk]
    assert visible_agency_ids(partner_operator, layer=Layer.CAMERAS) == [partner_agency.pk]
    assert visible_agency_ids(partner_operator) == [partner_agency.pk]  # no layer: own agency only
    admin = _user(None, "", "root", is_superuser=True)
    assert visible_agency_ids(admin, layer=Layer.INCIDENTS) is None
    assert visible_agency_ids(_user(None, Role.OPERATOR, "loner"), layer=Layer.INCIDENTS) == []
    inactive = _user(partner_agency, Role.OPERATOR, "gone", is_active=False)
    assert visible_agency_ids(inactive, layer=Layer.INCIDENTS) == []
    with pytest.raises(ValueError):
        visible_agency_ids(partner_operator, layer="incident")  # a typo fails loudly


def test_the_publishers_partner_lookup_agrees_with_the_rest_rules(home):
    """sharing_partner_ids is hand-written SQL (it runs per live event); it must answer exactly what
    the ORM rules used by REST answer, at any instant."""
    now = timezone.now()
    windows = [(None, None), (-HOUR, None), (HOUR, None), (None, HOUR), (None, -HOUR), (-HOUR, HOUR)]
    for i, (starts, ends) in enumerate(windows):
        for layers in (["incidents"], ["incidents", "units"], ["alerts", "alpr_reads"]):
            partner = f.agency(f"P{i}{len(layers)}{layers[-1][:2].upper()}")
            agency_sharing_create(
                owner_id=home.pk,
                partner_id=partner.pk,
                layers=layers,
                starts_at=None if starts is None else now + starts,
                ends_at=None if ends is None else now + ends,
            )
    for at in (now - 2 * HOUR, now, now + 2 * HOUR):
        for wanted in (["incidents"], ["units"], ["incidents", "units"], ["alerts", "alpr_reads"], ["zones"]):
            orm = active_sharing(layers=wanted, at=at).filter(owner_id=home.pk).order_by("partner_id")
            expected = list(orm.values_list("partner_id", flat=True))
            assert sharing_partner_ids(owner_id=home.pk, layers=wanted, at=at) == expected, (at, wanted)


def test_sharing_costs_no_extra_query(home, partner_agency, operator, partner_operator, share):
    """The rules are a subquery of the layer query itself: a partner's request makes as many
    round trips as the owner's own."""
    share(*Layer)
    for _ in range(3):
        f.incident(agency=home)
    counts = {}
    for user in (operator, partner_operator):
        client = _api(user)
        with CaptureQueriesContext(transaction.get_connection()) as queries:
            assert client.get("/api/incidents/").json()["count"] == 3
        counts[user.username] = len(queries)
    assert counts["bpd-operator"] == counts["operator"]


# ---- REST: what a rule shows, and what it does not ------------------------------------------------------


@pytest.mark.parametrize(("url", "layer", "make"), LAYER_RECORDS, ids=LAYER_IDS)
def test_a_shared_layer_is_visible_and_nothing_without_a_rule(home, partner_operator, share, url, layer, make):
    record = make(home)
    client = _api(partner_operator)
    assert not _sees(client, url, record)
    share(layer)
    assert _sees(client, url, record)


@pytest.mark.parametrize(("url", "layer", "make"), LAYER_RECORDS, ids=LAYER_IDS)
def test_only_the_listed_layers_are_shared(home, partner_operator, share, url, layer, make):
    record = make(home)
    share(*(other for other in Layer if other != layer))
    assert not _sees(_api(partner_operator), url, record)


@pytest.mark.parametrize(
    ("starts", "ends", "visible"),
    [
        (None, None, True),
        (-HOUR, None, True),
        (None, HOUR, True),
        (-HOUR, HOUR, True),
        (HOUR, None, False),  # not started yet
        (HOUR, 2 * HOUR, False),
        (None, -timedelta(seconds=1), False),  # ended a second ago
        (-2 * HOUR, -HOUR, False),
    ],
)
def test_a_rule_counts_only_within_its_window(home, partner_operator, share, starts, ends, visible):
    now = timezone.now()
    share(
        "incidents",
        starts_at=None if starts is None else now + starts,
        ends_at=None if ends is None else now + ends,
    )
    assert _sees(_api(partner_operator), "/api/incidents/", f.incident(agency=home)) is visible


def test_an_ended_rule_stops_at_once(home, partner_operator, share):
    incident = f.incident(agency=home)
    rule = share("incidents")
    client = _api(partner_operator)
    assert _sees(client, "/api/incidents/", incident)
    agency_sharing_end(sharing_id=rule.pk)
    assert not _sees(client, "/api/incidents/", incident)


def test_sharing_is_one_way_and_only_to_the_partner(home, partner_agency, operator, partner_operator, outsider, share):
    share(*Layer)
    theirs = f.incident(agency=partner_agency)
    mine = f.incident(agency=home)
    assert not _sees(_api(operator), "/api/incidents/", theirs)  # the owner gets nothing back
    assert _sees(_api(partner_operator), "/api/incidents/", mine)
    assert _sees(_api(partner_operator), "/api/incidents/", theirs)  # and keeps its own
    assert not _sees(_api(outsider), "/api/incidents/", mine)  # an agency without a rule: nothing


@pytest.mark.parametrize(("url", "layer", "make"), LAYER_RECORDS, ids=LAYER_IDS)
def test_another_agencys_record_by_id_is_404(home, outsider, share, url, layer, make):
    share(*Layer)  # shared with the partner agency, not with the outsider's
    record = make(home)
    assert _api(outsider).get(f"{url}{record.pk}/", REASON).status_code == 404


def test_alpr_reads_and_hits_are_not_shared_unless_listed(home, partner_operator, share):
    read = f.alpr_read(agency=home, plate="CLEAN11")
    entry = f.hotlist_entry(agency=home, plate="STOLEN9")
    hit_read = f.alpr_read(agency=home, plate="STOLEN9", hit=entry)
    hit_alert = f.alert(agency=home, kind="hotlist_hit", title="Hotlist hit STOLEN9", alpr_read=hit_read)
    panic = f.alert(agency=home, kind="panic")
    site = f.alpr_site(agency=home)
    rule = share(*(layer for layer in Layer if layer != Layer.ALPR_READS))
    client = _api(partner_operator)

    assert _ids(client, "/api/alpr/reads/") == set()
    assert _sees(client, "/api/alpr/sites/", site)
    # A hit names the plate it read: without the reads, the partner gets the other alerts only.
    assert _ids(client, "/api/alerts/") == {panic.pk}
    assert client.get(f"/api/alerts/{hit_alert.pk}/").status_code == 404

    agency_sharing_update(sharing_id=rule.pk, layers=[*rule.layers, Layer.ALPR_READS])
    assert _ids(client, "/api/alpr/reads/") == {read.pk, hit_read.pk}
    assert _ids(client, "/api/alerts/") == {panic.pk, hit_alert.pk}


def test_own_hotlist_hits_stay_visible_without_any_rule(home, operator):
    hit = f.alert(agency=home, kind="hotlist_hit", title="Hotlist hit")
    assert _ids(_api(operator), "/api/alerts/") == {hit.pk}


def test_nearest_cameras_and_units_follow_sharing(home, partner_agency, partner_operator, share):
    own_incident = f.incident(agency=partner_agency)
    home_incident = f.incident(agency=home)
    lon, lat = destination(f.LON, f.LAT, 270, 40)
    home_camera = f.camera(agency=home, lon=lon, lat=lat, heading=90, fov_angle=60, fov_range=80)
    lon, lat = destination(f.LON, f.LAT, 90, 300)
    home_unit = f.unit(agency=home, lon=lon, lat=lat)
    client = _api(partner_operator)

    def nearest(incident, what: str) -> list[int]:
        response = client.get(f"/api/incidents/{incident.pk}/{what}/")
        assert response.status_code == 200, response.content
        return [r["camera" if what == "cameras" else "unit"]["id"] for r in response.json()["results"]]

    assert nearest(own_incident, "cameras") == [] and nearest(own_incident, "units") == []
    assert client.get(f"/api/incidents/{home_incident.pk}/cameras/").status_code == 404
    rule = share("incidents")
    assert nearest(home_incident, "cameras") == [] and nearest(home_incident, "units") == []
    agency_sharing_update(sharing_id=rule.pk, layers=["incidents", "cameras", "units"])
    assert nearest(own_incident, "cameras") == [home_camera.pk]
    assert nearest(own_incident, "units") == [home_unit.pk]
    assert nearest(home_incident, "cameras") == [home_camera.pk]


# ---- the partner-agency role --------------------------------------------------------------------------


def test_partner_role_views_layers_and_takes_no_sensitive_look(home, partner_agency, partner_user, share):
    share(*Layer)  # everything, ALPR reads included: the role still refuses them
    camera = f.camera(agency=home)
    alert = f.alert(agency=home)
    incident = f.incident(agency=home)
    f.alpr_read(agency=home, plate="ABC1234")
    client = _api(partner_user)

    assert incident.pk in _ids(client, "/api/incidents/")
    assert camera.pk in _ids(client, "/api/cameras/")
    assert client.post(f"/api/cameras/{camera.pk}/stream/", REASON, format="json").status_code == 403
    assert client.get("/api/alpr/reads/", REASON).status_code == 403
    assert client.get("/api/alpr/reads/", {"plate": "ABC1234", **REASON}).status_code == 403
    assert client.post(f"/api/alerts/{alert.pk}/acknowledge/", {}, format="json").status_code == 403
    assert client.get("/api/audit/").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).exists()


def test_partner_agency_operator_may_open_a_shared_live_camera(home, partner_operator, share):
    """Sharing the cameras layer shares the cameras; watching one live still needs a role that may,
    a reason, and leaves an audit record under the viewer's name."""
    camera = f.camera(agency=home, stream_url="http://127.0.0.1:9/cam.m3u8")  # nothing listens there
    client = _api(partner_operator)
    assert client.post(f"/api/cameras/{camera.pk}/stream/", REASON, format="json").status_code == 404
    rule = share("cameras")
    response = client.post(f"/api/cameras/{camera.pk}/stream/", REASON, format="json")
    assert response.status_code == 200 and response.json()["url"].startswith("/api/streams/")
    event = AuditEvent.objects.get(action=AuditAction.CAMERA_STREAM_OPEN)
    assert event.user == partner_operator and event.object_id == str(camera.pk)
    # The grant works while the rule does (502: the proxy got as far as the camera, which does not
    # exist here); once the rule ends, the very next request of the stream is refused.
    watching = client.get(response.json()["url"])
    assert watching.status_code == 502
    agency_sharing_end(sharing_id=rule.pk)
    refused = client.get(response.json()["url"])
    assert refused.status_code == 403 and "no longer watch" in refused.json()["detail"]


# ---- camera streams: "recorded, on request only" never goes live ------------------------------------------


SECRET_URL = "https://community.example.test/private/cam-17.m3u8"


@pytest.fixture
def community_camera(home):
    return f.camera(
        agency=home,
        external_id="COMM-17",
        owner_kind="community",
        owner_name="Corner Deli",
        sharing="on_request",  # so it holds no stream URL at all (a database constraint)
        heading=90,
    )


@pytest.mark.parametrize("who", ["operator", "partner_operator"])
def test_on_request_camera_never_exposes_a_stream(request, home, share, community_camera, who):
    share(*Layer)
    user = request.getfixturevalue(who)
    client = _api(user)
    incident = f.incident(agency=home)
    responses = [
        client.get("/api/cameras/"),
        client.get(f"/api/cameras/{community_camera.pk}/"),
        client.get(f"/api/incidents/{incident.pk}/cameras/"),
    ]
    for response in responses:
        assert response.status_code == 200
        assert SECRET_URL not in response.content.decode() and "stream_url" not in response.content.decode()
    assert community_camera.pk in _ids(client, "/api/cameras/")  # it is on the map, as registry only

    refused = client.post(f"/api/cameras/{community_camera.pk}/stream/", REASON, format="json")
    assert refused.status_code == 403 and SECRET_URL not in refused.content.decode()

    page = APIClient()
    page.force_login(user)
    snapshot = page.get(f"/demo/cameras/{community_camera.external_id}/snapshot.svg")
    assert snapshot.status_code == 403  # only the stream proxy, with a grant, reaches a demo frame
    assert not AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).exists()


@live_test
async def test_on_request_camera_live_message_has_no_stream(ws, home, operator):
    camera = await db(lambda: f.camera(agency=home, owner_kind="community", sharing="on_request"))
    comm = await ws(await db(lambda: headers_for(operator)))
    await subscribe(comm, layers=["cameras"])

    def go_offline() -> None:
        with transaction.atomic():
            camera_set_status(camera=camera, status="offline")

    await db(go_offline)
    message = await comm.receive_json_from(timeout=5)
    assert message["feature"]["id"] == camera.pk and message["feature"]["properties"]["sharing"] == "on_request"
    assert SECRET_URL not in json.dumps(message) and "stream_url" not in message["feature"]["properties"]


# ---- services ----------------------------------------------------------------------------------------------


def test_sharing_services_validate(home, partner_agency):
    now = timezone.now()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"layers": []}, "at least one layer"),
        ({"layers": ["incidents", "plates"]}, "unknown layer 'plates'"),
        ({"layers": "incidents"}, "not one string"),
        ({"layers": ["incidents"], "starts_at": now, "ends_at": now}, "after starts_at"),
        ({"layers": ["incidents"], "starts_at": now.replace(tzinfo=None)}, "time zone"),
    ]
    for kwargs, reason in cases:
        with pytest.raises(ValueError, match=reason):
            agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, **kwargs)
    with pytest.raises(ValueError, match="itself"):
        agency_sharing_create(owner_id=home.pk, partner_id=home.pk, layers=["incidents"])
    rule = agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=["units", "incidents", "units"])
    assert rule.layers == ["incidents", "units"]
    with pytest.raises(ValueError, match="already shares"):
        agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=["zones"])
    # The other direction is another rule.
    agency_sharing_create(owner_id=partner_agency.pk, partner_id=home.pk, layers=["zones"])


def test_sharing_update_and_end(home, partner_agency):
    now = timezone.now()
    rule = agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=["incidents"], note="joint op")
    rule = agency_sharing_update(sharing_id=rule.pk, layers=["cameras"], ends_at=now + HOUR)
    assert (rule.layers, rule.note, rule.starts_at) == (["cameras"], "joint op", None)
    with pytest.raises(ValueError, match="after starts_at"):
        agency_sharing_update(sharing_id=rule.pk, starts_at=now + 2 * HOUR)
    ended = agency_sharing_end(sharing_id=rule.pk, at=now)
    assert ended.ends_at == now
    again = agency_sharing_end(sharing_id=rule.pk, at=now + HOUR)  # already ended: the earlier end stays
    assert again.ends_at == now
    assert AgencySharing.objects.filter(pk=rule.pk).exists()  # kept on record

    later = agency_sharing_create(
        owner_id=partner_agency.pk, partner_id=home.pk, layers=["zones"], starts_at=now + HOUR
    )
    ended = agency_sharing_end(sharing_id=later.pk, at=now)
    assert ended.starts_at == ended.ends_at == now  # ended before it began: an empty window


# ---- live: the partner's feed ----------------------------------------------------------------------------


def test_every_live_layer_is_a_sharing_layer():
    assert set(LIVE_LAYERS) <= set(Layer)


def test_fan_out_needs_the_reads_for_a_hit_alert():
    hit = {"type": "alert.raised", "layer": "alerts", "feature": {"properties": {"kind": "hotlist_hit"}}}
    panic = {"type": "alert.raised", "layer": "alerts", "feature": {"properties": {"kind": "panic"}}}
    assert layers_needed(hit) == {"alerts", "alpr_reads"}
    assert layers_needed(panic) == {"alerts"}
    assert layers_needed({"type": "feature.removed", "layer": "alerts", "id": 3}) == {"alerts"}
    assert [feed.name for feed in feeds_for_agency(1, partner_ids=[2, 2, 1])] == ["agency.1", "all", "agency.2"]


@pytest.fixture
def live_partner(partner_operator):
    return headers_for(partner_operator)


async def _incident(agency: Agency) -> Any:
    incident = await db(lambda: f.incident(agency=agency))
    await publish_committed(layer="incidents", instance=incident)
    return incident


@live_test
async def test_shared_layers_reach_the_partner_and_nothing_else(
    ws, home, partner_agency, operator, outsider, partner_operator, share
):
    await db(lambda: share("units"))
    unit = await db(lambda: f.unit(agency=home))
    partner_ws = await ws(await db(lambda: headers_for(partner_operator)))
    home_ws = await ws(await db(lambda: headers_for(operator)))
    outsider_ws = await ws(await db(lambda: headers_for(outsider)))
    for comm in (partner_ws, home_ws, outsider_ws):
        await subscribe(comm, layers=["units", "incidents"])

    await move_unit(unit.pk, f.LON + 0.001, f.LAT)  # shared
    home_incident = await _incident(home)  # not shared
    own_incident = await _incident(partner_agency)

    got = await drain(partner_ws)
    assert [(m["layer"], m["feature"]["id"]) for m in got] == [("units", unit.pk), ("incidents", own_incident.pk)]
    # One feed, one numbering: the partner's feed carried the shared unit, then its own incident.
    assert [m["seq"] for m in got] == [1, 2]
    assert all(set(m) == {"type", "seq", "layer", "feature"} for m in got)  # the owner's id stays server-side
    assert [(m["layer"], m["feature"]["id"]) for m in await drain(home_ws)] == [
        ("units", unit.pk),
        ("incidents", home_incident.pk),
    ]
    assert await outsider_ws.receive_nothing(timeout=0.3)


@live_test
async def test_a_hit_alert_reaches_the_partner_only_with_the_reads(ws, home, partner_operator, share):
    rule = await db(lambda: share("alerts"))
    panic = await db(lambda: f.alert(agency=home, kind="panic"))
    hit = await db(lambda: f.alert(agency=home, kind="hotlist_hit", title="Hotlist hit STOLEN9"))
    comm = await ws(await db(lambda: headers_for(partner_operator)))
    await subscribe(comm, layers=["alerts"])

    await publish_committed(layer="alerts", instance=hit)
    await publish_committed(layer="alerts", instance=panic)
    assert [m["feature"]["id"] for m in await drain(comm)] == [panic.pk]
    # Even a hit already in the partner's stream (published under an older rule) is held back.
    body = {
        "type": "alert.raised",
        "layer": "alerts",
        "feature": {"id": hit.pk, "type": "Feature", "geometry": None, "properties": {"kind": "hotlist_hit"}},
    }
    await db(lambda: _append((agency_feed(rule.partner_id),), body, owner=home.pk))
    assert await comm.receive_nothing(timeout=0.5)


@live_test
async def test_messages_stop_when_the_rule_window_closes(ws, live, home, partner_agency, partner_operator, share):
    live.RTCC_LIVE_CATCH_UP_SECONDS = 0.3
    live.RTCC_LIVE_ACCESS_TTL = 60  # no re-read from the database: the clock alone closes the window
    ends_at = timezone.now() + timedelta(seconds=3)
    await db(lambda: share("incidents", ends_at=ends_at))
    comm = await ws(await db(lambda: headers_for(partner_operator)))
    await subscribe(comm, layers=["incidents"])

    before = await _incident(home)
    assert (await comm.receive_json_from(timeout=5))["feature"]["id"] == before.pk
    await asyncio.sleep(max(0.0, (ends_at - timezone.now()).total_seconds()) + 0.1)

    # The window closed: the map is told to reload (dropping home's incidents) ...
    changed = await comm.receive_json_from(timeout=3)
    assert changed["type"] == "resync" and changed["reason"] == "sharing_changed"
    # ... nothing more of home's is fanned out to the partner, and what still sits in its stream
    # is dropped on the way out; the partner's own events carry on.
    await _incident(home)
    stale = {"type": "feature.removed", "layer": "incidents", "id": before.pk}
    await db(lambda: _append((agency_feed(partner_agency.pk),), stale, owner=home.pk))
    own = await _incident(partner_agency)
    assert [m["feature"]["id"] for m in await drain(comm)] == [own.pk]


@live_test
async def test_ending_or_starting_a_rule_resyncs_the_map(ws, live, home, partner_operator, share):
    live.RTCC_LIVE_ACCESS_TTL = 0
    live.RTCC_LIVE_CATCH_UP_SECONDS = 0.3
    comm = await ws(await db(lambda: headers_for(partner_operator)))
    await subscribe(comm, layers=["incidents", "units"])

    rule = await db(lambda: share("incidents"))  # a rule starts while the map is open
    started = await comm.receive_json_from(timeout=3)
    assert (started["type"], started["reason"]) == ("resync", "sharing_changed")
    shared = await _incident(home)
    assert (await comm.receive_json_from(timeout=5))["feature"]["id"] == shared.pk

    await db(lambda: agency_sharing_end(sharing_id=rule.pk))
    ended = await comm.receive_json_from(timeout=3)
    assert (ended["type"], ended["reason"]) == ("resync", "sharing_changed")
    await _incident(home)
    assert await comm.receive_nothing(timeout=0.5)


@live_test
async def test_a_replay_is_checked_against_the_rules_of_now(ws, home, partner_agency, partner_operator, share):
    rule = await db(lambda: share("incidents"))
    headers = await db(lambda: headers_for(partner_operator))
    first = await ws(headers)
    await subscribe(first, layers=["incidents"])
    seen = await _incident(home)
    last_seq = (await first.receive_json_from(timeout=5))["seq"]
    assert seen
    await first.disconnect()

    await _incident(home)  # shared when published: in the partner's stream
    await db(lambda: agency_sharing_end(sharing_id=rule.pk))
    own = await _incident(partner_agency)

    second = await ws(headers)
    await subscribe(second, layers=["incidents"], last_seq=last_seq)
    replayed = await drain(second)
    assert [(m["seq"], m["feature"]["id"]) for m in replayed] == [(last_seq + 2, own.pk)]
