"""publish() batches one transaction's events: one on-commit delivery, one group message per feed,
each event still numbered on its own, savepoint rollbacks respected."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from apps.core.geo import make_point
from apps.incidents.models import Incident
from apps.live.publish import publish
from apps.live.streams import agency_feed
from apps.units.models import Unit

from . import factories as f
from .live_support import drain, headers_for, live_test, subscribe


class Rollback(Exception):
    """Raised inside a savepoint to roll it back on purpose."""


@database_sync_to_async
def write_mixed_transaction(units: list[int], incident_ids: list[int], dropped_unit: int) -> None:
    """One transaction: an incident, three unit moves, a savepoint that is rolled back, an incident."""
    with transaction.atomic():
        publish(layer="incidents", instance=Incident.objects.get(pk=incident_ids[0]))
        for n, pk in enumerate(units):
            unit = Unit.objects.get(pk=pk)
            unit.last_location = make_point(f.LON + 0.001 * (n + 1), f.LAT)
            unit.last_seen = timezone.now()
            unit.save(update_fields=["last_location", "last_seen", "updated_at"])
            publish(layer="units", instance=unit)
        try:
            with transaction.atomic():
                publish(layer="units", instance=Unit.objects.get(pk=dropped_unit))
                raise Rollback
        except Rollback:
            pass
        publish(layer="incidents", instance=Incident.objects.get(pk=incident_ids[1]))


@database_sync_to_async
def setup(home: Any) -> tuple[list[int], list[int], int]:
    units = [f.unit(agency=home, call_sign=f"BATCH{i}").pk for i in range(4)]
    incidents = [f.incident(agency=home).pk for _ in range(2)]
    return units[:3], incidents, units[3]


@live_test
async def test_one_transaction_is_one_group_message_with_every_event_numbered(ws, home, operator):
    units, incidents, dropped = await setup(home)
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    await subscribe(comm, layers=["units", "incidents"])
    layer = get_channel_layer()
    spy = await layer.new_channel()
    await layer.group_add(agency_feed(home.pk).group, spy)

    await write_mixed_transaction(units, incidents, dropped)

    group_message = await asyncio.wait_for(layer.receive(spy), timeout=5)
    assert group_message["type"] == "live.batch"
    batch = group_message["events"]
    assert [e["message"]["seq"] for e in batch] == [1, 2, 3, 4, 5]
    assert [e["message"]["layer"] for e in batch] == ["incidents", "units", "units", "units", "incidents"]
    assert dropped not in [e["message"]["feature"]["id"] for e in batch if e["message"]["layer"] == "units"]
    assert {e["agency"] for e in batch} == {home.pk}

    got = await drain(comm)
    # Unit upserts are coalesced and flushed before the next non-unit event, so seq order holds.
    assert [m["seq"] for m in got] == [1, 2, 3, 4, 5]
    assert [m["feature"]["id"] for m in got[1:4]] == units
    await layer.group_discard(agency_feed(home.pk).group, spy)


@database_sync_to_async
def one_transaction_with_a_hook_between(unit_id: int, seen: list[str]) -> None:
    with transaction.atomic():
        publish(layer="units", instance=Unit.objects.get(pk=unit_id))
        transaction.on_commit(lambda: seen.append("task"))
        publish(layer="units", instance=Unit.objects.get(pk=unit_id))


@live_test
async def test_an_unrelated_commit_hook_between_events_keeps_their_order(ws, home, operator):
    unit = await database_sync_to_async(f.unit)(agency=home)
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    await subscribe(comm, layers=["units"])
    layer = get_channel_layer()
    spy = await layer.new_channel()
    await layer.group_add(agency_feed(home.pk).group, spy)
    seen: list[str] = []
    await one_transaction_with_a_hook_between(unit.pk, seen)
    # The hook in between splits the events into two deliveries, run in publish order.
    first = await asyncio.wait_for(layer.receive(spy), timeout=5)
    second = await asyncio.wait_for(layer.receive(spy), timeout=5)
    assert (first["type"], second["type"]) == ("live.event", "live.event")
    assert (first["message"]["seq"], second["message"]["seq"]) == (1, 2)
    assert seen == ["task"]
    got = await drain(comm)
    assert got[-1]["seq"] == 2
    await layer.group_discard(agency_feed(home.pk).group, spy)


@pytest.mark.django_db(transaction=True)
def test_events_outside_a_transaction_go_at_once(home, live):
    unit = f.unit(agency=home)
    publish(layer="units", instance=unit)
    publish(layer="units", instance=unit)
    client = redis.Redis.from_url(live.REDIS_URL)
    assert client.xlen(agency_feed(home.pk).stream_key) == 2
    client.close()
