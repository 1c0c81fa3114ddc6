"""The one way a change reaches the maps: `publish()`, called by services inside their transaction.

The domain services call it through the ground floor's door, apps.core.publish (they may not import this
app: README, Floors); LiveConfig.ready() installs these functions there.

    from apps.core.publish import publish

    @transaction.atomic
    def unit_position_record(*, unit, location, ...):
        ...
        unit.save(update_fields=[...])
        publish(layer="units", instance=unit)                                # upsert
        publish(layer="alerts", instance=alert)                              # alert.raised / .acknowledged / .closed
        publish(layer="incidents", removed_id=pk, agency_id=agency_id)       # removal

What happens:
1. now, inside the caller's transaction: the instance is serialized with the layer's REST serializer
   (so the map gets the state this transaction wrote, not whatever is there after the commit);
2. on commit (`transaction.on_commit`; a rolled-back write publishes nothing): the event is appended
   to the Redis stream of each feed it belongs to (its agency's, `all` for superusers, and each
   partner agency's whose sharing rule lists the layer now: apps.live.streams), which
   numbers it (its seq) and keeps the last RTCC_LIVE_REPLAY_MAX events for reconnecting clients;
   then it is sent to each feed's channel group, i.e. to every connected consumer in every process.

Events of one transaction travel together: the events published at the same savepoint depth, one
after another, share one on-commit callback (`_Batch`), which looks the sharing rules up once per
(agency, layers), appends every event to its feeds in one Redis MULTI (each still gets its own seq),
and sends one group message per feed carrying the feed's events in seq order, in one hop onto an
event loop. A 1000-fix GTFS-RT batch moving 200 units used to pay for 200 of each (bench/profile_ingest.py).

`publish()` is synchronous (services, views, Celery tasks). From async code, `await apublish(...)`.
If Redis is down when the transaction commits, the write stands and the failure is logged; the
maps (whose channel layer is that same Redis) lose their connection too, and on reconnect they get
the replay or, if Redis lost its data, `resync`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging

import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Model
from redis.typing import EncodableT, FieldT

from . import conf
from .layers import get_layer
from .messages import EventBody, EventType, GroupBatch, GroupEnvelope, GroupEvent, with_seq
from .streams import Feed, feeds_for_event, layers_needed, seq_of

logger = logging.getLogger(__name__)

# Every AlertStatus has its event (an Update of an open alert is "alert.raised" again: same id, new content).
_ALERT_EVENTS: dict[str, EventType] = {
    "open": "alert.raised",
    "acknowledged": "alert.acknowledged",
    "closed": "alert.closed",
}


def publish(
    *,
    layer: str,
    instance: Model | None = None,
    removed_id: int | None = None,
    agency_id: int | None = None,
    event: EventType | None = None,
    using: str = DEFAULT_DB_ALIAS,
) -> EventBody | None:
    """Publish a change of one feature to every map that may see it, once the transaction commits.

    Give `instance` for a created/changed feature (`event` defaults to "feature.upserted"; on the
    alerts layer to "alert.raised", "alert.acknowledged" or "alert.closed" by the alert's status), or `removed_id`
    and `agency_id` for a deleted one. Returns the event body that will be sent (without its seq,
    which the stream assigns at commit), or None when the layer does not publish this instance (an
    ALPR read that is not a hotlist hit).
    """
    spec = get_layer(layer)
    _refuse_event_loop()
    if (instance is None) == (removed_id is None):
        raise TypeError("publish() needs exactly one of instance= or removed_id=")
    body: EventBody
    if instance is not None:
        model = spec.model_class()
        if not isinstance(instance, model):
            raise TypeError(f"layer {layer!r} carries {model.__name__}, not {type(instance).__name__}")
        if instance.pk is None:
            raise ValueError("publish() needs a saved instance (it has no primary key)")
        if not spec.publishable(instance):
            return None
        event_type = event or _default_event(layer, instance)
        if event_type == "feature.removed":
            raise ValueError("a removal is published with removed_id=, not instance=")
        if event_type.startswith("alert.") != (layer == "alerts"):
            raise ValueError(f"event {event_type!r} does not belong to layer {layer!r}")
        agency_id = instance.agency_id  # type: ignore[attr-defined]  # every live model is AgencyOwned
        body = {"type": event_type, "layer": layer, "feature": spec.to_feature(instance)}
    else:
        if agency_id is None:
            raise TypeError("a removal needs agency_id= (the deleted row can no longer say)")
        if event not in (None, "feature.removed"):
            raise ValueError(f"a removal is a 'feature.removed' event, not {event!r}")
        body = {"type": "feature.removed", "layer": layer, "id": int(removed_id)}  # type: ignore[arg-type]
    _Batch.add(int(agency_id), body, using=using)
    return body


def publish_reload(*, layer: str, agency_id: int, using: str = DEFAULT_DB_ALIAS) -> EventBody:
    """Publish that many features of an agency's layer changed at once (a bulk import): one event,
    which maps following the layer receive as a `resync`, instead of one event per feature."""
    get_layer(layer)
    _refuse_event_loop()
    body: EventBody = {"type": "layer.reloaded", "layer": layer}
    _Batch.add(int(agency_id), body, using=using)
    return body


async def apublish(**kwargs) -> EventBody | None:
    """`publish()` for async callers: runs it (serialization and the on-commit hook) in Django's
    sync thread, where the ORM and the surrounding transaction live."""
    return await sync_to_async(publish, thread_sensitive=True)(**kwargs)


def _default_event(layer: str, instance: Model) -> EventType:
    if layer == "alerts":
        return _ALERT_EVENTS.get(instance.status, "alert.raised")  # type: ignore[attr-defined]
    return "feature.upserted"


def _refuse_event_loop() -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    # Serializing touches the ORM and delivery uses async_to_sync; both fail inside a running
    # loop, so say what to do instead of failing halfway.
    raise RuntimeError("publish() is synchronous; from async code use `await apublish(...)`")


@functools.cache
def _redis(url: str) -> redis.Redis:
    # One thread-safe pool per process (and per URL, so a test's override gets its own).
    return redis.Redis.from_url(url)


class _Batch:
    """The events one transaction publishes at one savepoint depth, delivered by one on-commit call.

    A new batch starts whenever the last on-commit callback of the connection is not this
    transaction's open batch at the current savepoint depth (another callback came in between, or
    a savepoint was entered or left). So a rolled-back savepoint drops exactly the events published
    inside it (Django discards callbacks by savepoint), and the batches, like the callbacks, run in
    the order the events were published.
    """

    def __init__(self) -> None:
        self.events: list[tuple[int, EventBody]] = []

    @classmethod
    def add(cls, agency_id: int, body: EventBody, *, using: str) -> None:
        conn = transaction.get_connection(using)
        if conn.in_atomic_block and conn.run_on_commit:
            # Django's own bookkeeping (savepoint ids, pending callbacks): reading it is the only way
            # to join an already registered callback without losing its savepoint semantics.
            sids, func, _robust = conn.run_on_commit[-1]
            if isinstance(func, cls) and sids == set(conn.savepoint_ids):
                func.events.append((agency_id, body))
                return
        batch = cls()
        batch.events.append((agency_id, body))
        transaction.on_commit(batch, using=using)  # outside a transaction: runs now

    def __call__(self) -> None:
        _deliver_many(self.events)


def _deliver_many(events: list[tuple[int, EventBody]]) -> None:
    """Number the events in their feeds' streams (one MULTI), then send each feed's group one message
    with its events in seq order (one hop onto an event loop for all of them)."""
    partners: dict[tuple[int, frozenset[str]], tuple[Feed, ...]] = {}
    routed: list[tuple[tuple[Feed, ...], EventBody, int]] = []
    for agency_id, body in events:
        key = (agency_id, layers_needed(body))
        if key not in partners:
            partners[key] = feeds_for_event(agency_id, body)
        routed.append((partners[key], body, agency_id))
    try:
        seqs = _append_many([(feeds, body, owner) for feeds, body, owner in routed])
        per_feed: dict[Feed, list[GroupEvent]] = {}
        for (feeds, body, owner), numbers in zip(routed, seqs, strict=True):
            for feed, seq in zip(feeds, numbers, strict=True):
                per_feed.setdefault(feed, []).append(GroupEvent(message=with_seq(body, seq), agency=owner))
        async_to_sync(_group_send_all)(per_feed)
    except Exception:
        # The data is committed; failing the caller now would only hide that. A group message
        # that did not go out is recovered by the consumers from the stream (see LiveConsumer).
        # An event that never reached the stream is lost to live maps: the log says which, and
        # maps show it on their next REST load.
        logger.exception(
            "live: could not publish %s",
            ", ".join(f"{body['type']} {body['layer']} for agency {agency_id}" for agency_id, body in events[:20]),
        )


def _append(feeds: tuple[Feed, ...], body: EventBody, owner: int | None = None) -> list[int]:
    """Append one event to `feeds`' streams; its seq in each."""
    return _append_many([(feeds, body, owner)])[0]


def _append_many(events: list[tuple[tuple[Feed, ...], EventBody, int | None]]) -> list[list[int]]:
    """Append events, in order, to their feeds' streams in one MULTI: each event gets a seq in every
    one of its feeds, or (Redis failing) none does. Returns each event's seqs, in its feeds' order."""
    limit = conf.replay_max()
    with _redis(conf.redis_url()).pipeline(transaction=True) as pipe:
        for feeds, body, owner in events:
            payload = json.dumps(body, separators=(",", ":"))
            # The owning agency beside the event, not in it: partners' consumers re-check sharing
            # with it, and clients never see it. (Entries without it are the feed's own agency's.)
            fields: dict[FieldT, EncodableT] = {"m": payload} if owner is None else {"m": payload, "a": str(owner)}
            for feed in feeds:
                # `0-*`: Redis picks the next gap-free sequence number (streams.py says why that
                # matters); `~` lets Redis trim whole nodes, which keeps XADD O(1).
                pipe.xadd(feed.stream_key, fields, id="0-*", maxlen=limit, approximate=True)
        ids = iter(pipe.execute())
    return [[seq_of(next(ids)) for _ in feeds] for feeds, _body, _owner in events]


# A group message carries at most this many events: the channel layer holds each message in one Redis
# list entry per consumer, and a consumer handles one message under its lock.
GROUP_BATCH_MAX = 100


async def _group_send_all(per_feed: dict[Feed, list[GroupEvent]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    for feed, events in per_feed.items():
        for i in range(0, len(events), GROUP_BATCH_MAX):
            chunk = events[i : i + GROUP_BATCH_MAX]
            if len(chunk) == 1:
                envelope: GroupEnvelope | GroupBatch = GroupEnvelope(
                    type="live.event", feed=feed.name, message=chunk[0]["message"], agency=chunk[0]["agency"]
                )
            else:
                envelope = GroupBatch(type="live.batch", feed=feed.name, events=chunk)
            await layer.group_send(feed.group, dict(envelope))
