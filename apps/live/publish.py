"""The one way a change reaches the maps: `publish()`, called by services inside their transaction.

    from apps.live.publish import publish

    @transaction.atomic
    def unit_position_record(*, unit, location, ...):
        ...
        unit.save(update_fields=[...])
        publish(layer="units", instance=unit)                                # upsert
        publish(layer="alerts", instance=alert)                              # alert.raised / .acknowledged
        publish(layer="incidents", removed_id=pk, agency_id=agency_id)       # removal

What happens:
1. now, inside the caller's transaction: the instance is serialized with the layer's REST serializer
   (so the map gets the state this transaction wrote, not whatever is there after the commit);
2. on commit (`transaction.on_commit`; a rolled-back write publishes nothing): the event is appended
   to the Redis stream of each feed it belongs to (its agency's, `all` for superusers, and each
   partner agency's whose sharing rule lists the layer now: apps.live.feeds), which
   numbers it (its seq) and keeps the last RTCC_LIVE_REPLAY_MAX events for reconnecting clients;
   then it is sent to each feed's channel group, i.e. to every connected consumer in every process.

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
from .feeds import Feed, feeds_for_event, seq_of
from .layers import get_layer
from .messages import EventBody, EventType, GroupEnvelope, with_seq

logger = logging.getLogger(__name__)

_ALERT_EVENTS: dict[str, EventType] = {"open": "alert.raised", "acknowledged": "alert.acknowledged"}


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
    alerts layer to "alert.raised" or "alert.acknowledged" by the alert's status), or `removed_id`
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
    transaction.on_commit(functools.partial(_deliver, int(agency_id), body), using=using)
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


def _deliver(agency_id: int, body: EventBody) -> None:
    """On commit: number the event in each feed's stream, then fan it out to the feed's group."""
    feeds = feeds_for_event(agency_id, body)
    try:
        seqs = _append(feeds, body, owner=agency_id)
        sends = [
            (feed, GroupEnvelope(type="live.event", feed=feed.name, message=with_seq(body, seq), agency=agency_id))
            for feed, seq in zip(feeds, seqs, strict=True)
        ]
        async_to_sync(_group_send_all)(sends)
    except Exception:
        # The data is committed; failing the caller now would only hide that. A group message
        # that did not go out is recovered by the consumers from the stream (see LiveConsumer).
        # An event that never reached the stream is lost to live maps: the log says which, and
        # maps show it on their next REST load.
        logger.exception("live: could not publish %s %s for agency %s", body["type"], body["layer"], agency_id)


def _append(feeds: tuple[Feed, ...], body: EventBody, owner: int | None = None) -> list[int]:
    payload = json.dumps(body, separators=(",", ":"))
    # The owning agency beside the event, not in it: partners' consumers re-check sharing with it,
    # and clients never see it. (Entries without it are the feed's own agency's.)
    fields: dict[FieldT, EncodableT] = {"m": payload} if owner is None else {"m": payload, "a": str(owner)}
    limit = conf.replay_max()
    # One MULTI: the event gets a seq in every feed or in none.
    with _redis(conf.redis_url()).pipeline(transaction=True) as pipe:
        for feed in feeds:
            # `0-*`: Redis picks the next gap-free sequence number (feeds.py says why that matters);
            # `~` lets Redis trim whole nodes, which keeps XADD O(1).
            pipe.xadd(feed.stream_key, fields, id="0-*", maxlen=limit, approximate=True)
        ids = pipe.execute()
    return [seq_of(entry) for entry in ids]


async def _group_send_all(sends: list[tuple[Feed, GroupEnvelope]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    for feed, envelope in sends:
        await layer.group_send(feed.group, dict(envelope))

