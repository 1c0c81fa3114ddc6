"""Live feeds: the numbered sequence of events one client follows, its channel group and its Redis stream.

(The module is streams.py, not feeds.py, so it does not read as apps/feeds, the ingest side.)

Each agency has a feed; superusers follow the `all` feed, which carries every agency's events with
its own numbering. A feed's Redis stream keeps the recent events for replay; the stream entry id
`0-<seq>` *is* the event's seq. Redis numbers entries `0-1, 0-2, ...` itself (`XADD ... 0-*`,
Redis >= 7.0), atomically, so seqs within a feed are gap-free: a consumer that sees seq n+2 after n
knows exactly which one it is missing and fetches it from the stream.

Sharing between agencies rides on the same feeds: when agency O publishes an event on a layer it
shares with agency P (a rule in force at that moment, see `feeds_for_event`), the event is also
appended to P's feed and numbered there like P's own events. A client therefore still follows
exactly one feed, and `last_seq` stays one integer. Each stream entry and group message carries
the owning agency's id next to the event, so P's consumers check again, before sending, that a rule
still shares it (`layers_needed` says which layers that rule must list); the id never reaches the
client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import weakref
from collections.abc import AsyncGenerator, Iterable
from dataclasses import dataclass
from typing import cast

import redis.asyncio as aioredis
from django.db import DatabaseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from apps.accounts.selectors import sharing_partner_ids

from . import conf
from .messages import EventBody

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Feed:
    """One numbered event sequence: `agency.<id>` or `all`."""

    name: str

    @property
    def group(self) -> str:
        # Channel group names allow only ASCII letters, digits, '-', '_' and '.'.
        return f"live.{self.name}"

    @property
    def stream_key(self) -> str:
        return f"{conf.key_prefix()}:{self.name}"


ALL = Feed("all")


def agency_feed(agency_id: int) -> Feed:
    return Feed(f"agency.{int(agency_id)}")


def feeds_for_agency(agency_id: int, *, partner_ids: Iterable[int] = ()) -> tuple[Feed, ...]:
    """Every feed an agency's event goes to: the agency's own, the superusers' `all`, and the feed of
    each partner agency it is shared with."""
    partners = (agency_feed(p) for p in dict.fromkeys(partner_ids) if p != agency_id)
    return (agency_feed(agency_id), ALL, *partners)


def layers_needed(body: EventBody) -> frozenset[str]:
    """The layers a sharing rule must list for this event to reach the partner.

    A hotlist-hit alert names the plate that was read, so it is ALPR data as much as an alert: it
    crosses only where the reads are shared too (the REST alert list applies the same rule).
    """
    layer = str(body.get("layer"))
    if layer == "alerts" and body.get("type") != "feature.removed":
        feature = body.get("feature") or {}
        if (feature.get("properties") or {}).get("kind") == "hotlist_hit":
            return frozenset({"alerts", "alpr_reads"})
    return frozenset({layer})


def feeds_for_event(agency_id: int, body: EventBody) -> tuple[Feed, ...]:
    """The feeds an event of `agency_id` goes to now (publish() calls this on commit): one small
    indexed query for the partners it is shared with."""
    try:
        partners = sharing_partner_ids(owner_id=agency_id, layers=layers_needed(body))
    except (DatabaseError, ValueError):
        # The owner's own maps must not lose the event because the sharing lookup failed (the
        # database, or a live layer that is no sharing layer); partners miss this one and get the
        # next, and a reconnecting partner map reloads over REST anyway.
        logger.exception("live: could not read sharing rules of agency %s; published to its own feeds", agency_id)
        partners = []
    return feeds_for_agency(agency_id, partner_ids=partners)


def feed_for_user(*, agency_id: int | None, is_superuser: bool) -> Feed | None:
    if is_superuser:
        return ALL
    if agency_id is None:
        return None
    return agency_feed(agency_id)


def entry_id(seq: int) -> str:
    return f"0-{seq}"


def seq_of(entry: str | bytes) -> int:
    text = entry.decode() if isinstance(entry, bytes) else entry
    ms, _, number = text.partition("-")
    if ms != "0" or not (number.isascii() and number.isdigit()):
        raise ValueError(f"{text!r} is not a live stream id (0-<seq>)")
    return int(number)


def parse_client_seq(value: object) -> int | None:
    """A seq from a client (an integer, its decimal string, or the `0-<seq>` stream id); None if bad."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only: "²".isdigit() is True, but int("²") raises.
        if text.isascii() and text.isdigit() and len(text) <= 19:
            return int(text)
        try:
            return seq_of(text) if len(text) <= 21 else None
        except ValueError:
            return None
    return None


# One asyncio Redis client per event loop: the consumers of one server process share its pool
# (hundreds of maps must not mean hundreds of Redis connections), and a pool cannot cross loops.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def aredis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        # One immediate retry on a fresh connection: a pooled connection Redis closed when it
        # restarted is replaced instead of failing a map's connect (tests/test_faults_redis.py).
        client = aioredis.Redis.from_url(conf.redis_url(), decode_responses=True, retry_on_error=[RedisConnectionError])
        _clients[loop] = client
    return client


async def aclose_redis() -> None:
    """Close this loop's client (tests and shutdown; the next aredis() call opens a new one)."""
    client = _clients.pop(asyncio.get_running_loop(), None)
    if client is not None:
        await client.aclose()


@dataclass(frozen=True)
class StreamState:
    """Where a feed's stream stands: `head` is the last seq ever issued (0 if none), `first` the
    oldest seq still kept (None when nothing is kept)."""

    head: int
    first: int | None


async def stream_state(feed: Feed) -> StreamState:
    try:
        info = await aredis().xinfo_stream(feed.stream_key)
    except ResponseError as exc:
        if "no such key" in str(exc).lower():
            return StreamState(head=0, first=None)
        raise
    first_entry = info.get("first-entry")
    return StreamState(
        head=seq_of(info["last-generated-id"]),
        first=seq_of(first_entry[0]) if first_entry else None,
    )


def owner_of(raw: object) -> int | None:
    """The owning agency stored beside an event (None for entries written before sharing existed:
    those are the feed's own agency's)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.isdigit():
        return int(raw)
    return None


async def events_between(
    feed: Feed, after: int, upto: int, batch: int = 500
) -> AsyncGenerator[tuple[int, EventBody, int | None], None]:
    """Stored events with after < seq <= upto, oldest first, fetched in batches, each with the id of
    the agency that owns it (`owner_of`)."""
    start = f"({entry_id(after)}"
    while True:
        # decode_responses=True: ids and fields come back as str.
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await aredis().xrange(feed.stream_key, min=start, max=entry_id(upto), count=batch),
        )
        for entry, fields in entries:
            yield seq_of(entry), json.loads(fields["m"]), owner_of(fields.get("a"))
        if len(entries) < batch:
            return
        start = f"({entries[-1][0]}"
