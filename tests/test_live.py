"""Live updates end to end: the real ASGI app, the real channel layer and the real Redis streams.

Each test gets its own channel-layer prefix and stream-key prefix, so parallel runs sharing one
Redis never see each other's messages. Writes happen in committed transactions (transactional
tests) because publish() only sends on commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.models import User
from apps.alpr.models import AlprRead
from apps.core.geo import make_point
from apps.incidents.models import Incident
from apps.live import streams
from apps.live.consumer import SubscribeError, geometry_bounds, parse_subscribe
from apps.live.publish import _append, apublish, publish
from apps.live.streams import ALL, agency_feed, parse_client_seq
from apps.sensors.choices import AlertStatus
from apps.sensors.models import Alert
from apps.units.models import Unit

from . import factories as f
from .live_support import ORIGIN, drain, headers_for, live_test, subscribe

FAR_LON, FAR_LAT = -122.2000, 47.7000  # ~14 km from the factories' default spot
NEAR_BBOX = [f.LON - 0.01, f.LAT - 0.01, f.LON + 0.01, f.LAT + 0.01]


class Rollback(Exception):
    """Raised inside a transaction to roll it back on purpose."""


@database_sync_to_async
def move_unit(unit_id: int, lon: float, lat: float, *, rollback: bool = False) -> None:
    """What an AVL service does: update the unit's position and publish it, in one transaction."""
    try:
        with transaction.atomic():
            unit = Unit.objects.select_for_update().get(pk=unit_id)
            unit.last_location = make_point(lon, lat)
            unit.last_seen = timezone.now()
            unit.save(update_fields=["last_location", "last_seen", "updated_at"])
            publish(layer="units", instance=unit)
            if rollback:
                raise Rollback
    except Rollback:
        pass


@database_sync_to_async
def move_unit_many(unit_id: int, positions: list[tuple[float, float]]) -> None:
    for lon, lat in positions:
        with transaction.atomic():
            unit = Unit.objects.get(pk=unit_id)
            unit.last_location = make_point(lon, lat)
            unit.save(update_fields=["last_location", "updated_at"])
            publish(layer="units", instance=unit)


@database_sync_to_async
def publish_committed(**kwargs: Any) -> dict | None:
    with transaction.atomic():
        return publish(**kwargs)


@database_sync_to_async
def db(fn: Callable[[], Any]) -> Any:
    return fn()


def stream_head(feed: streams.Feed) -> int:
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    try:
        return streams.seq_of(client.xinfo_stream(feed.stream_key)["last-generated-id"])
    except redis.ResponseError:
        return 0
    finally:
        client.close()


@pytest.fixture
def operator_headers(operator):
    return headers_for(operator)


@pytest.fixture
def planner_headers(planner):
    return headers_for(planner)


# ---- the protocol, without a socket ----------------------------------------------------------------


def test_parse_subscribe_accepts_layers_bbox_and_last_seq():
    sub = parse_subscribe({"action": "subscribe", "layers": ["units", "units", "alerts"], "bbox": NEAR_BBOX})
    assert sub.layers == ("units", "alerts")
    assert sub.bbox == tuple(NEAR_BBOX)
    assert sub.last_seq is None
    assert parse_subscribe({"layers": ["units"], "last_seq": "12"}).last_seq == 12
    assert parse_subscribe({"layers": ["units"], "last_seq": 12}).last_seq == 12
    bad = parse_subscribe({"layers": ["units"], "last_seq": "yesterday"})
    assert bad.last_seq is None and bad.last_seq_bad


@pytest.mark.parametrize(
    "request_, reason",
    [
        ({"layers": []}, "non-empty list"),
        ({"layers": "units"}, "non-empty list"),
        ({"layers": ["units", "zebras"]}, "unknown layer 'zebras'"),
        ({"layers": ["units"], "bbox": [1, 2, 3]}, "four numbers"),
        ({"layers": ["units"], "bbox": [1, 2, True, 4]}, "four numbers"),
        ({"layers": ["units"], "bbox": [10, 10, 5, 20]}, "smaller than"),
        ({"layers": ["units"], "bbox": [-200, 10, 5, 20]}, "outside -180..180"),
    ],
)
def test_parse_subscribe_refuses_with_the_reason(request_, reason):
    with pytest.raises(SubscribeError, match=reason):
        parse_subscribe(request_)


def test_client_seq_forms():
    assert parse_client_seq(0) == 0
    assert parse_client_seq("0-42") == 42
    assert parse_client_seq(-1) is None
    assert parse_client_seq(True) is None
    assert parse_client_seq("1712345678901-0") is None
    assert parse_client_seq(None) is None


def test_geometry_bounds():
    assert geometry_bounds({"type": "Point", "coordinates": [1.0, 2.0]}) == (1.0, 2.0, 1.0, 2.0)
    polygon = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 3], [0, 0]]]}
    assert geometry_bounds(polygon) == (0, 0, 2, 3)
    assert geometry_bounds({"type": "Point", "coordinates": []}) is None


# ---- who may connect ---------------------------------------------------------------------------------


@live_test
async def test_anonymous_is_closed_without_accept(ws):
    assert await ws([ORIGIN], refused=True) == 4401


@live_test
async def test_foreign_origin_is_refused(ws, operator):
    cookie = (await db(lambda: headers_for(operator)))[1]
    await ws([(b"origin", b"https://evil.example"), cookie], refused=True)


@live_test
async def test_auditor_is_refused(ws, auditor):
    assert await ws(await db(lambda: headers_for(auditor)), refused=True) == 4403


@live_test
async def test_user_without_agency_is_refused(ws):
    loner = await db(lambda: f.user(agency=None, role=Role.OPERATOR))
    assert await ws(await db(lambda: headers_for(loner)), refused=True) == 4403


@live_test
async def test_planner_and_operator_connect_and_subscribe(ws, operator_headers, planner_headers):
    for headers in (operator_headers, planner_headers):
        comm = await ws(headers)
        reply = await subscribe(comm, layers=["units", "incidents"])
        assert reply == {"type": "subscribed", "layers": ["units", "incidents"], "seq": 0}


@live_test
async def test_bad_requests_get_an_error_and_the_socket_stays_open(ws, operator_headers):
    comm = await ws(operator_headers)
    await comm.send_to(text_data="{not json")
    assert (await comm.receive_json_from())["type"] == "error"
    await comm.send_json_to({"action": "dance"})
    assert "unknown action" in (await comm.receive_json_from())["detail"]
    await comm.send_json_to({"action": "subscribe", "layers": ["units", "zebras"]})
    assert "unknown layer 'zebras'" in (await comm.receive_json_from())["detail"]
    await comm.send_json_to({"action": "subscribe", "layers": ["units"], "bbox": [5, 5, 1, 1]})
    assert (await comm.receive_json_from())["type"] == "error"
    await subscribe(comm, layers=["units"])


# ---- end to end --------------------------------------------------------------------------------------


@live_test
async def test_committed_unit_move_reaches_the_map_as_the_rest_feature(ws, home, operator, operator_headers):
    unit = await db(lambda: f.unit(agency=home))
    comm = await ws(operator_headers)
    start = (await subscribe(comm, layers=["units"]))["seq"]

    await move_unit(unit.pk, f.LON + 0.001, f.LAT)
    first = await comm.receive_json_from(timeout=5)
    await move_unit(unit.pk, f.LON + 0.002, f.LAT)
    second = await comm.receive_json_from(timeout=5)

    assert first["type"] == second["type"] == "feature.upserted"
    assert first["layer"] == "units"
    assert start < first["seq"] < second["seq"]
    assert second["feature"]["geometry"]["coordinates"] == pytest.approx([f.LON + 0.002, f.LAT])

    def rest_feature():
        api = APIClient()
        api.force_authenticate(operator)
        return json.loads(api.get(f"/api/units/{unit.pk}/").content)

    assert second["feature"] == await db(rest_feature)


@live_test
async def test_rolled_back_write_publishes_nothing(ws, home, operator_headers):
    unit = await db(lambda: f.unit(agency=home))
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["units"])
    head = stream_head(agency_feed(home.pk))

    await move_unit(unit.pk, f.LON + 0.003, f.LAT, rollback=True)

    assert await comm.receive_nothing(timeout=0.5)
    assert stream_head(agency_feed(home.pk)) == head


@live_test
async def test_other_agency_receives_nothing(ws, home, operator_headers, outsider):
    unit = await db(lambda: f.unit(agency=home))
    mine = await ws(operator_headers)
    theirs = await ws(await db(lambda: headers_for(outsider)))
    await subscribe(mine, layers=["units"])
    await subscribe(theirs, layers=["units"])

    await move_unit(unit.pk, f.LON + 0.001, f.LAT)

    assert (await mine.receive_json_from(timeout=5))["feature"]["id"] == unit.pk
    assert await theirs.receive_nothing(timeout=0.5)


@live_test
async def test_superuser_follows_every_agency(ws, home, other_agency, operator_headers):
    admin = await db(lambda: f.user(agency=None, role="", is_superuser=True, is_staff=True))
    theirs = await db(lambda: f.unit(agency=other_agency))
    mine = await db(lambda: f.unit(agency=home))
    comm = await ws(await db(lambda: headers_for(admin)))
    await subscribe(comm, layers=["units", "alpr_reads"])

    await move_unit(theirs.pk, f.LON, f.LAT + 0.001)
    await move_unit(mine.pk, f.LON, f.LAT + 0.002)

    got = await drain(comm)
    assert [m["feature"]["id"] for m in got] == [theirs.pk, mine.pk]
    assert [m["seq"] for m in got] == [1, 2]  # the `all` feed numbers across agencies
    assert stream_head(ALL) == 2


@live_test
async def test_alerts_are_raised_then_acknowledged(ws, home, operator, operator_headers):
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["alerts"])
    alert = await db(lambda: f.alert(agency=home))
    await publish_committed(layer="alerts", instance=alert)

    def acknowledge():
        with transaction.atomic():
            Alert.objects.filter(pk=alert.pk).update(status=AlertStatus.ACKNOWLEDGED, acknowledged_by=operator)
            publish(layer="alerts", instance=Alert.objects.get(pk=alert.pk))

    await db(acknowledge)
    raised, acked = await comm.receive_json_from(timeout=5), await comm.receive_json_from(timeout=5)
    assert (raised["type"], raised["layer"]) == ("alert.raised", "alerts")
    assert acked["type"] == "alert.acknowledged"
    assert acked["feature"]["properties"]["acknowledged_by"] == "operator"


@live_test
async def test_removal_is_delivered_even_with_a_bbox(ws, home, operator_headers):
    incident = await db(lambda: f.incident(agency=home, lon=FAR_LON, lat=FAR_LAT))
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["incidents"], bbox=NEAR_BBOX)

    def delete():
        with transaction.atomic():
            pk = incident.pk
            Incident.objects.filter(pk=pk).delete()
            publish(layer="incidents", removed_id=pk, agency_id=home.pk)

    await db(delete)
    message = await comm.receive_json_from(timeout=5)
    assert message == {"type": "feature.removed", "layer": "incidents", "id": incident.pk, "seq": message["seq"]}


# ---- nothing lost ------------------------------------------------------------------------------------


@live_test
async def test_reconnect_replays_exactly_what_was_missed(ws, home, operator_headers):
    unit_a, unit_b = await db(lambda: [f.unit(agency=home), f.unit(agency=home)])
    incident = await db(lambda: f.incident(agency=home))
    first = await ws(operator_headers)
    await subscribe(first, layers=["units", "incidents"])
    await move_unit(unit_a.pk, f.LON + 0.001, f.LAT)
    last_seen = (await first.receive_json_from(timeout=5))["seq"]
    await first.disconnect()

    await move_unit(unit_a.pk, f.LON + 0.002, f.LAT)
    await publish_committed(layer="incidents", instance=incident)
    await move_unit(unit_b.pk, f.LON + 0.003, f.LAT)

    second = await ws(operator_headers)
    reply = await subscribe(second, layers=["units", "incidents"], last_seq=last_seen)
    assert reply["seq"] == last_seen + 3
    replayed = await drain(second)
    assert [m["seq"] for m in replayed] == [last_seen + 1, last_seen + 2, last_seen + 3]
    assert [(m["layer"], m["feature"]["id"]) for m in replayed] == [
        ("units", unit_a.pk),
        ("incidents", incident.pk),
        ("units", unit_b.pk),
    ]
    # ...and it carries on live from there.
    await move_unit(unit_b.pk, f.LON + 0.004, f.LAT)
    assert (await second.receive_json_from(timeout=5))["seq"] == last_seen + 4


@live_test
async def test_last_seq_outside_the_retained_window_means_resync(ws, home, operator_headers):
    incidents = await db(lambda: [f.incident(agency=home) for _ in range(5)])
    for incident in incidents:
        await publish_committed(layer="incidents", instance=incident)
    # Simulate retention: keep the last three messages (3, 4, 5); 1 and 2 are gone.
    client = redis.Redis.from_url(django_settings.REDIS_URL)
    client.xtrim(agency_feed(home.pk).stream_key, maxlen=3, approximate=False)
    client.close()

    cases = [(1, "last_seq_expired"), ("soon", "last_seq_malformed"), (99, "last_seq_unknown")]
    for last_seq, reason in cases:
        comm = await ws(operator_headers)
        await subscribe(comm, layers=["incidents"], last_seq=last_seq)
        assert await comm.receive_json_from(timeout=5) == {"type": "resync", "reason": reason, "seq": 5}
        assert await comm.receive_nothing(timeout=0.2)

    # Just inside the window: replay, no resync.
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["incidents"], last_seq=2)
    assert [m["seq"] for m in await drain(comm)] == [3, 4, 5]


@live_test
async def test_replay_racing_live_messages_loses_and_repeats_nothing(ws, home, operator_headers):
    incidents = await db(lambda: [f.incident(agency=home) for _ in range(4)])
    for incident in incidents[:3]:
        await publish_committed(layer="incidents", instance=incident)  # 1..3: before this map connected
    comm = await ws(operator_headers)
    feed = agency_feed(home.pk)
    client = redis.Redis.from_url(django_settings.REDIS_URL, decode_responses=True)
    ((_, fields),) = client.xrange(feed.stream_key, min="0-2", max="0-2")
    client.close()
    duplicate = {"type": "live.event", "feed": feed.name, "message": {**json.loads(fields["m"]), "seq": 2}}

    # Don't wait for the reply: the replay, a late duplicate of 2 and the live 4 race each other.
    await comm.send_json_to({"action": "subscribe", "layers": ["incidents"], "last_seq": 0})
    await get_channel_layer().group_send(feed.group, duplicate)
    await publish_committed(layer="incidents", instance=incidents[3])

    got = await drain(comm)
    assert got[0]["type"] == "subscribed"
    assert [(m["seq"], m["feature"]["id"]) for m in got[1:]] == [(i + 1, inc.pk) for i, inc in enumerate(incidents)]


@live_test
async def test_a_lost_group_message_is_fetched_from_the_stream(ws, home, operator_headers):
    unit_a, unit_b = await db(lambda: [f.unit(agency=home), f.unit(agency=home)])
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["units"])

    def lose_one_then_publish():
        # In the stream, but never sent to the group (a full channel drops group messages).
        lost = {
            "type": "feature.upserted",
            "layer": "units",
            "feature": {"id": unit_a.pk, "type": "Feature", "geometry": None, "properties": {}},
        }
        _append((agency_feed(home.pk), ALL), lost)
        with transaction.atomic():
            publish(layer="units", instance=Unit.objects.get(pk=unit_b.pk))

    await db(lose_one_then_publish)
    got = await drain(comm)
    assert [(m["seq"], m["feature"]["id"]) for m in got] == [(1, unit_a.pk), (2, unit_b.pk)]


@live_test
async def test_an_idle_consumer_catches_up_with_the_stream_head(ws, live, home, operator_headers):
    live.RTCC_LIVE_CATCH_UP_SECONDS = 0.3
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["incidents"])
    body = {"type": "feature.removed", "layer": "incidents", "id": 7}
    await db(lambda: _append((agency_feed(home.pk), ALL), body))
    assert await comm.receive_json_from(timeout=3) == {**body, "seq": 1}


# ---- coalescing, viewport, permissions -------------------------------------------------------------------


@live_test
async def test_rapid_unit_positions_are_coalesced_to_the_latest(ws, live, home, operator_headers):
    live.RTCC_LIVE_COALESCE_MS = 200
    unit = await db(lambda: f.unit(agency=home))
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["units"])
    path = [(f.LON + i / 10_000, f.LAT) for i in range(1, 51)]

    await move_unit_many(unit.pk, path)

    got = await drain(comm, quiet=0.6)
    assert 1 <= len(got) < 25
    assert got[-1]["feature"]["geometry"]["coordinates"] == pytest.approx(list(path[-1]))
    seqs = [m["seq"] for m in got]
    assert seqs == sorted(seqs) and seqs[-1] == 50


@live_test
async def test_bbox_filters_upserts_and_follows_a_feature_out(ws, home, operator_headers):
    inside, outside = await db(lambda: [f.unit(agency=home), f.unit(agency=home, lon=FAR_LON, lat=FAR_LAT)])
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["units"], bbox=NEAR_BBOX)

    await move_unit(outside.pk, FAR_LON + 0.001, FAR_LAT)
    assert await comm.receive_nothing(timeout=0.4)

    await move_unit(inside.pk, f.LON + 0.001, f.LAT)
    assert (await comm.receive_json_from(timeout=5))["feature"]["id"] == inside.pk

    # Leaving the viewport: sent once (the map must move or drop it), then no longer followed.
    await move_unit(inside.pk, FAR_LON, FAR_LAT)
    left = await comm.receive_json_from(timeout=5)
    assert left["feature"]["geometry"]["coordinates"] == pytest.approx([FAR_LON, FAR_LAT])
    await move_unit(inside.pk, FAR_LON + 0.001, FAR_LAT)
    assert await comm.receive_nothing(timeout=0.4)


@live_test
async def test_alpr_hits_only_reach_roles_that_may_see_reads(ws, home, operator_headers, planner_headers):
    entry = await db(lambda: f.hotlist_entry(agency=home, plate="STOLEN1"))
    hit = await db(lambda: f.alpr_read(agency=home, plate="STOLEN1", hit=entry))
    plain = await db(lambda: f.alpr_read(agency=home, plate="NOBODY1"))
    operator_ws, planner_ws = await ws(operator_headers), await ws(planner_headers)
    assert (await subscribe(operator_ws, layers=["alpr_reads"]))["layers"] == ["alpr_reads"]
    assert (await subscribe(planner_ws, layers=["alpr_reads", "units"]))["layers"] == ["units"]

    assert await publish_committed(layer="alpr_reads", instance=plain) is None  # not a hit: never streamed
    await publish_committed(layer="alpr_reads", instance=hit)

    got = await drain(operator_ws)
    assert [(m["layer"], m["feature"]["id"]) for m in got] == [("alpr_reads", hit.pk)]
    assert got[0]["feature"]["properties"]["hit"]["reason"] == "Stolen vehicle"
    assert await planner_ws.receive_nothing(timeout=0.3)
    assert await db(lambda: AlprRead.objects.count()) == 2


@live_test
async def test_access_is_checked_again_before_events_go_out(ws, live, home, commander):
    live.RTCC_LIVE_ACCESS_TTL = 0
    unit = await db(lambda: f.unit(agency=home))
    entry = await db(lambda: f.hotlist_entry(agency=home, plate="STOLEN2"))
    hit = await db(lambda: f.alpr_read(agency=home, plate="STOLEN2", hit=entry))
    comm = await ws(await db(lambda: headers_for(commander)))
    await subscribe(comm, layers=["units", "alpr_reads"])

    # Demoted to planner: units still flow, ALPR hits stop.
    await db(lambda: User.objects.filter(pk=commander.pk).update(role=Role.PLANNER))
    await publish_committed(layer="alpr_reads", instance=hit)
    await move_unit(unit.pk, f.LON + 0.001, f.LAT)
    assert [m["layer"] for m in await drain(comm)] == ["units"]

    # Deactivated: disconnected before anything else goes out.
    await db(lambda: User.objects.filter(pk=commander.pk).update(is_active=False))
    await move_unit(unit.pk, f.LON + 0.002, f.LAT)
    assert await comm.receive_output(timeout=5) == {"type": "websocket.close", "code": 4403}


# ---- the publish() API ---------------------------------------------------------------------------------


@live_test
async def test_publish_refuses_the_event_loop_and_apublish_works(ws, home, operator_headers):
    unit = await db(lambda: f.unit(agency=home))
    comm = await ws(operator_headers)
    await subscribe(comm, layers=["units"])
    with pytest.raises(RuntimeError, match="apublish"):
        publish(layer="units", instance=unit)
    body = await apublish(layer="units", instance=unit)  # autocommit: sent at once
    assert body is not None and body["feature"]["id"] == unit.pk
    assert (await comm.receive_json_from(timeout=5))["feature"]["id"] == unit.pk


@pytest.mark.django_db
def test_publish_refuses_wrong_use(home):
    unit = f.unit(agency=home)
    with pytest.raises(ValueError, match="unknown layer"):
        publish(layer="zebras", instance=unit)
    with pytest.raises(TypeError, match="carries Incident"):
        publish(layer="incidents", instance=unit)
    with pytest.raises(TypeError, match="exactly one"):
        publish(layer="units")
    with pytest.raises(TypeError, match="agency_id"):
        publish(layer="units", removed_id=unit.pk)
    with pytest.raises(ValueError, match="does not belong"):
        publish(layer="units", instance=unit, event="alert.raised")


@pytest.mark.django_db
def test_publish_waits_for_commit(home, live, django_capture_on_commit_callbacks):
    unit = f.unit(agency=home)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        body = publish(layer="units", instance=unit)
    assert len(callbacks) == 1
    assert stream_head(agency_feed(home.pk)) == 0  # nothing left the process before the commit
    assert body == {"type": "feature.upserted", "layer": "units", "feature": body["feature"]}
    callbacks[0]()
    assert stream_head(agency_feed(home.pk)) == 1


@pytest.mark.django_db(transaction=True)
def test_redis_down_at_commit_keeps_the_write_and_logs(home, live, caplog):
    unit = f.unit(agency=home)
    live.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    with transaction.atomic():
        Unit.objects.filter(pk=unit.pk).update(status="dispatched")
        publish(layer="units", instance=Unit.objects.get(pk=unit.pk))
    assert Unit.objects.get(pk=unit.pk).status == "dispatched"
    assert "live: could not publish feature.upserted units" in caplog.text
