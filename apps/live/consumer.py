"""The WebSocket end of live updates (`ws/live/`): one consumer per connected map.

Life of a connection
    connect    the session user must be signed in (else close 4401), active, in an agency or a
               superuser, and allowed VIEW_LAYERS (else close 4403). Nothing is accepted before
               that; the consumer joins its feed's group, then accepts. When the database or
               Redis is down, the socket is closed 4503 instead (apps.core.unavailable's guard
               around the WebSocket stack) and the map retries with backoff.
    subscribe  the client picks layers (and optionally a bbox and the last seq it saw). Layers its
               role may not see are left out of the reply's `layers`. With `last_seq` the consumer
               replays what the client missed from the feed's Redis stream, or sends `resync` when
               it no longer can.
    events     arrive from the group, are checked against the subscription and the user's current
               access, and go out in seq order.

Delivery guarantees (per connection, after `subscribed`)
    * Every event of a subscribed layer that passes the filters goes out once, in seq order (unit
      upserts may be coalesced, see below). A group message carries one event (`live.event`) or
      one transaction's events of the feed in seq order (`live.batch`). Group messages can arrive
      late, out of order (two publishing processes) or not at all (a full channel); seqs in a
      feed have no gaps, so a missing one is fetched from the stream, and a late copy of
      something already sent is dropped. An idle consumer also compares its cursor with the
      stream head every RTCC_LIVE_CATCH_UP_SECONDS, so even a lost last message
      arrives.
    * Unit upserts are coalesced per unit: unit upserts go out at most once per
      RTCC_LIVE_COALESCE_MS window (the first after a quiet window at once); in between the
      consumer keeps only the latest pending one per unit, so a busy feed or a replay gives the
      map each unit's latest state instead of a backlog. The latest state of every unit is never
      lost; intermediate positions may be skipped. Any other event first flushes the pending unit
      upserts, so seqs still go out in increasing order and a client that reconnects with the last
      seq it saw misses nothing.
    * With a bbox, upserts outside it are skipped, except the first one after a feature this
      connection showed inside leaves it (so the map can move or drop it). Removals always pass;
      features without geometry always pass.
    * Before each event goes out the user's access is checked again (re-read from the database at
      most every RTCC_LIVE_ACCESS_TTL seconds): a deactivated user, or one who lost VIEW_LAYERS or
      changed agency, is disconnected (4403); one who lost a layer's permission stops getting it.

Sharing between agencies (apps.accounts.selectors; how events reach a partner: apps.live.streams)
    * A user of agency P gets, on P's own feed, the events of agency O on the layers O shares with
      P, while the rule is in force; nothing else of O's. Their seqs are P's feed's seqs, so a
      client with shared layers still keeps one `last_seq` and the protocol is unchanged.
    * Before each such event goes out (live, replayed or coalesced) the consumer checks that a rule
      shares it now: the rules are re-read with the rest of the access (at most every
      RTCC_LIVE_ACCESS_TTL seconds) and each rule's window is compared with the clock per event,
      so an event is dropped from the instant its rule's window closes, and within the TTL of the
      rule being ended or edited. A replay after a reconnect is checked against today's rules.
    * When what the subscription may see of another agency changes (a rule starts, ends or
      changes its layers), the consumer sends `resync` with reason `sharing_changed` (with the
      next event, or within RTCC_LIVE_CATCH_UP_SECONDS when the feed is idle): the map reloads
      over REST, which drops the features it may no longer see and loads those it now may, then
      applies messages after the resync's seq as usual. Clients need no change for this: every
      `resync` already means "reload, then go on from this seq".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.accounts.middleware import session_has_ended
from apps.accounts.permissions import Perm, user_has_perm
from apps.accounts.selectors import sharing_rules_received
from apps.core.geo import GeoInputError, check_lon_lat

from . import conf
from .layers import LAYERS
from .looks import subscription_looks_record
from .messages import (
    GroupBatch,
    GroupEnvelope,
    LayerName,
    LiveEvent,
    ResyncReason,
    ServerMessage,
    error,
    resync,
    subscribed,
    with_seq,
)
from .streams import Feed, events_between, feed_for_user, layers_needed, owner_of, parse_client_seq, stream_state

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
MAX_FRAME_CHARS = 8192  # a subscribe request is a few hundred bytes; anything larger is a mistake

BBox = tuple[float, float, float, float]


class SubscribeError(ValueError):
    """A subscribe request that cannot be used; the message is sent to the client as is."""


@dataclass(frozen=True)
class Subscription:
    """A validated subscribe request. `last_seq_bad` marks a last_seq that was sent but unreadable."""

    layers: tuple[LayerName, ...]
    bbox: BBox | None
    last_seq: int | None
    last_seq_bad: bool = False


def parse_subscribe(content: dict[str, Any]) -> Subscription:
    """Validate a `subscribe` request; raises SubscribeError saying what is wrong."""
    raw_layers = content.get("layers")
    if not isinstance(raw_layers, list) or not raw_layers or not all(isinstance(n, str) for n in raw_layers):
        raise SubscribeError(f"layers must be a non-empty list of layer names ({', '.join(LAYERS)})")
    unknown = [n for n in raw_layers if n not in LAYERS]
    if unknown:
        raise SubscribeError(f"unknown layer {', '.join(map(repr, unknown))}; live layers are {', '.join(LAYERS)}")
    layers = cast(tuple[LayerName, ...], tuple(dict.fromkeys(raw_layers)))
    bbox = _parse_bbox(content.get("bbox"))
    if "last_seq" not in content or content["last_seq"] is None:
        return Subscription(layers, bbox, None)
    last_seq = parse_client_seq(content["last_seq"])
    return Subscription(layers, bbox, last_seq, last_seq_bad=last_seq is None)


def _parse_bbox(raw: object) -> BBox | None:
    if raw is None:
        return None
    if (
        not isinstance(raw, list | tuple)
        or len(raw) != 4
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        raise SubscribeError("bbox must be [minlon, minlat, maxlon, maxlat] (four numbers)")
    try:
        min_lon, min_lat = check_lon_lat(raw[0], raw[1])
        max_lon, max_lat = check_lon_lat(raw[2], raw[3])
    except GeoInputError as exc:
        raise SubscribeError(f"bbox: {exc}") from None
    if min_lon >= max_lon or min_lat >= max_lat:
        raise SubscribeError("bbox minimums must be smaller than maximums")
    return (min_lon, min_lat, max_lon, max_lat)


def _positions(coords: Any) -> Iterator[Sequence[float]]:
    if isinstance(coords, list | tuple) and coords:
        if isinstance(coords[0], int | float):
            yield coords
        else:
            for part in coords:
                yield from _positions(part)


def geometry_bounds(geometry: dict[str, Any]) -> BBox | None:
    """Bounds of a GeoJSON geometry (any type); None when it has no usable position."""
    if geometry.get("type") == "GeometryCollection":
        positions: list[Sequence[float]] = []
        for part in geometry.get("geometries") or []:
            bounds = geometry_bounds(part)
            if bounds is not None:
                positions += [bounds[:2], bounds[2:]]
    else:
        positions = [p for p in _positions(geometry.get("coordinates")) if len(p) >= 2]
    if not positions:
        return None
    xs = [float(p[0]) for p in positions]
    ys = [float(p[1]) for p in positions]
    if not all(math.isfinite(v) for v in (*xs, *ys)):
        return None
    return (min(xs), min(ys), max(xs), max(ys))


def bbox_intersects(a: BBox, b: BBox) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


@dataclass(frozen=True)
class Share:
    """One sharing rule given to the user's agency, as last read: `owner` shares `layers` within
    [starts_at, ends_at) (None: open)."""

    owner: int
    layers: frozenset[str]
    starts_at: datetime | None
    ends_at: datetime | None

    def in_force(self, at: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= at) and (self.ends_at is None or at < self.ends_at)


@dataclass(frozen=True)
class Access:
    """What the user may do, as the database says now (not as the session said at connect)."""

    active: bool
    is_superuser: bool
    agency_id: int | None
    perms: frozenset[Perm]
    shares: tuple[Share, ...] = ()

    @property
    def feed(self) -> Feed | None:
        return feed_for_user(agency_id=self.agency_id, is_superuser=self.is_superuser)

    @property
    def may_connect(self) -> bool:
        return self.active and Perm.VIEW_LAYERS in self.perms and self.feed is not None

    def may_receive(self, message: LiveEvent, owner: int | None, at: datetime) -> bool:
        """Whether an event owned by `owner` may reach this user at `at`: the role grants its layer,
        and it is the user's own agency's (or any, for a superuser) or a rule in force shares it."""
        if LAYERS[message["layer"]].perm not in self.perms:
            return False
        if self.is_superuser or owner is None or owner == self.agency_id:
            return True
        needed = layers_needed(cast(dict[str, Any], message))
        return any(s.owner == owner and s.in_force(at) and needed <= s.layers for s in self.shares)

    def shared_view(self, layers: frozenset[str], at: datetime) -> frozenset[tuple[int, str]]:
        """(owner, layer) pairs of `layers` other agencies share with the user at `at`."""
        return frozenset((s.owner, name) for s in self.shares if s.in_force(at) for name in s.layers & layers)


NO_ACCESS = Access(active=False, is_superuser=False, agency_id=None, perms=frozenset())


@database_sync_to_async
def load_access(user_id: int) -> Access:
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return NO_ACCESS
    shares: tuple[Share, ...] = ()
    if user.agency_id is not None and not user.is_superuser:
        shares = tuple(
            Share(rule.owner_id, frozenset(map(str, rule.layers)), rule.starts_at, rule.ends_at)
            for rule in sharing_rules_received(partner_id=user.agency_id)
        )
    return Access(
        active=user.is_active,
        is_superuser=user.is_superuser,
        agency_id=user.agency_id,
        perms=frozenset(p for p in Perm if user_has_perm(user, p)),
        shares=shares,
    )


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Streams a feed's events to one map, filtered by its subscription and the user's access."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user_id: int | None = None
        self.feed: Feed | None = None
        self.access: Access = NO_ACCESS
        self.access_read_at = -math.inf
        self.joined = False
        self.closing = False  # access was revoked: nothing more goes out
        self.session_ended = False  # signed out, or idle past RTCC_SESSION_IDLE_MINUTES
        self.layers: frozenset[str] | None = None  # None until the first valid subscribe
        self.bbox: BBox | None = None
        self.cursor = 0  # the last seq of this feed handled (sent, filtered out or pending)
        # Coalesced upserts, in seq order, each with the agency that owns it (re-checked on the way out).
        self.pending: dict[tuple[str, int], tuple[LiveEvent, int | None]] = {}
        self.shared: frozenset[tuple[int, str]] = frozenset()  # other agencies' layers the map may show
        self.last_flush = -math.inf  # loop time pending upserts last went out
        self.shown: set[tuple[str, int]] = set()  # features sent inside the bbox (see _in_view)
        # Group events, the flush timer and the catch-up check all move the cursor and write to the
        # socket; one lock keeps their sends in seq order.
        self.lock = asyncio.Lock()
        self.wake = asyncio.Event()
        self.background: asyncio.Task[None] | None = None

    # --- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        access = await self._read_access()
        if not access.may_connect:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.feed = access.feed
        assert self.feed is not None  # may_connect checked it
        # Join before accepting and before any stream read: an event published from here on is
        # either in the stream when we read it or arrives from the group (or both: deduped by seq).
        await self.channel_layer.group_add(self.feed.group, self.channel_name)
        self.joined = True
        await self.accept()
        self.background = asyncio.create_task(self._background())

    async def disconnect(self, code: int) -> None:
        if self.background is not None:
            self.background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.background
        if self.joined and self.feed is not None:
            await self.channel_layer.group_discard(self.feed.group, self.channel_name)
            self.joined = False
        self.layers = None

    # --- client -> server ---------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        # Parsed here rather than by AsyncJsonWebsocketConsumer so bad input gets an "error"
        # message instead of an exception that drops the connection.
        if text_data is None:
            await self._send(error("send JSON text frames"))
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self._send(error(f"message too large (over {MAX_FRAME_CHARS} characters)"))
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self._send(error("message is not valid JSON"))
            return
        except RecursionError:  # "[[[[...]]]]" within the size cap: json recurses once per level
            await self._send(error("message is nested too deeply"))
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("action") != "subscribe":
            await self._send(error('unknown action; send {"action": "subscribe", "layers": [...]}'))
            return
        try:
            request = parse_subscribe(content)
        except SubscribeError as exc:
            await self._send(error(str(exc)))
            return
        async with self.lock:
            await self._subscribe(request)

    async def _subscribe(self, request: Subscription) -> None:
        access = await self._current_access()
        if access is None or self.feed is None:
            return
        granted = [name for name in request.layers if LAYERS[name].perm in access.perms]
        await database_sync_to_async(subscription_looks_record)(user_id=self.user_id, layers=granted, scope=self.scope)
        self.layers = frozenset(granted)
        self.bbox = request.bbox
        self.pending.clear()
        self.shown.clear()
        # What the map loads over REST now: a later change to it means a resync (_sharing_changed).
        self.shared = access.shared_view(self._sharing_scope(), timezone.now())
        state = await stream_state(self.feed)
        await self._send(subscribed(granted, state.head))
        if request.last_seq is None and not request.last_seq_bad:
            self.cursor = state.head
            return
        reason: ResyncReason | None = None
        if request.last_seq is None:
            reason = "last_seq_malformed"
        elif request.last_seq > state.head:
            reason = "last_seq_unknown"
        elif request.last_seq < state.head and (state.first is None or state.first > request.last_seq + 1):
            reason = "last_seq_expired"
        if reason is not None:
            self.cursor = state.head
            await self._send(resync(reason, state.head))
            return
        assert request.last_seq is not None
        self.cursor = request.last_seq
        await self._catch_up(state.head)

    # --- server -> client ---------------------------------------------------------------------

    async def live_event(self, envelope: GroupEnvelope) -> None:
        """An event from the feed's group (channel layer message type "live.event")."""
        async with self.lock:
            if not await self._group_ready(envelope.get("feed")):
                return
            await self._on_group_event(envelope["message"], owner_of(envelope.get("agency")))

    async def live_batch(self, envelope: GroupBatch) -> None:
        """Several events of the feed, in seq order, from one transaction ("live.batch")."""
        async with self.lock:
            if not await self._group_ready(envelope.get("feed")):
                return
            for item in envelope["events"]:
                await self._on_group_event(item["message"], owner_of(item.get("agency")), hold=True)
                if self.closing:
                    return
            # Unit upserts were only gathered above: one flush for the whole batch (at once after a
            # quiet window, else when the window closes), as if they had come one by one.
            if self.pending:
                if asyncio.get_running_loop().time() - self.last_flush >= conf.coalesce_seconds():
                    await self._flush()
                else:
                    self.wake.set()

    async def _group_ready(self, feed: str | None) -> bool:
        if self.layers is None or self.feed is None or feed != self.feed.name:
            return False
        # When sharing changed, the resync's seq covers these events: the map reloads them over REST.
        return not await self._sharing_changed()

    async def _on_group_event(self, message: LiveEvent, owner: int | None, *, hold: bool = False) -> None:
        seq = message["seq"]
        if seq > self.cursor + 1:
            # Earlier events have a seq already (the stream numbers them atomically) but their
            # group message is late or was dropped: take them from the stream, in order.
            await self._catch_up(seq - 1)
        if seq <= self.cursor or self.layers is None:
            return  # already handled (from the stream, or a duplicate), or the socket is closing
        await self._handle(message, owner, hold=hold)
        self.cursor = seq

    async def _catch_up(self, upto: int) -> None:
        """Handle the stored events after the cursor up to `upto`, or resync if some are gone."""
        if self.feed is None or upto <= self.cursor:
            return
        async with contextlib.aclosing(events_between(self.feed, self.cursor, upto)) as stored:
            async for seq, body, owner in stored:
                if seq != self.cursor + 1:
                    break  # trimmed before we could read it
                await self._handle(with_seq(body, seq), owner)
                self.cursor = seq
                if self.closing:
                    return
        if self.cursor < upto:
            await self._fell_behind()

    async def _fell_behind(self) -> None:
        assert self.feed is not None
        state = await stream_state(self.feed)
        self.pending.clear()
        self.shown.clear()
        self.cursor = state.head
        logger.warning("live: %s fell behind on feed %s; sent resync", self.channel_name, self.feed.name)
        await self._send(resync("fell_behind", state.head))

    async def _handle(self, message: LiveEvent, owner: int | None, *, hold: bool = False) -> None:
        """Send, hold for coalescing, or skip one event (the cursor is the caller's business). With
        `hold`, a coalesced upsert is only gathered: the caller flushes."""
        if self.layers is None or message["layer"] not in self.layers:
            return
        if message["type"] == "layer.reloaded":
            await self._reloaded(message, owner)
            return
        if not self._in_view(message):
            return
        if LAYERS[message["layer"]].coalesce and message["type"] == "feature.upserted":
            key = (message["layer"], message["feature"]["id"])
            # Re-insert at the end: the dict stays in seq order, so a flush sends in seq order.
            self.pending.pop(key, None)
            self.pending[key] = (message, owner)
            if hold:
                return
            if asyncio.get_running_loop().time() - self.last_flush >= conf.coalesce_seconds():
                await self._flush()  # a quiet window: no reason to make the map wait
            else:
                self.wake.set()  # the background task flushes when the window closes
            return
        await self._flush()
        await self._emit(message, owner)

    async def _reloaded(self, message: LiveEvent, owner: int | None) -> None:
        # Earlier events go out first (seq order); what the reload covers need not be held any more.
        await self._flush()
        access = await self._current_access()
        if access is None or not access.may_receive(message, owner, timezone.now()):
            return
        self.shown.clear()
        await self._send(resync("bulk_import", message["seq"]))

    def _in_view(self, message: LiveEvent) -> bool:
        if self.bbox is None:
            return True
        if message["type"] == "feature.removed":
            self.shown.discard((message["layer"], message["id"]))
            return True
        feature = message["feature"]
        geometry = feature.get("geometry")
        bounds = geometry_bounds(geometry) if isinstance(geometry, dict) else None
        if bounds is None:
            return True  # not a place on the map (an alert without a location): not a viewport question
        key = (message["layer"], feature["id"])
        if bbox_intersects(bounds, self.bbox):
            self.shown.add(key)
            return True
        if key in self.shown:
            # The map drew it inside; this update moves it out. Send it once so the map does not
            # keep a ghost at the old place, then stop following it.
            self.shown.discard(key)
            return True
        return False

    async def _flush(self) -> None:
        if not self.pending:
            return
        waiting = list(self.pending.values())
        self.pending.clear()
        self.last_flush = asyncio.get_running_loop().time()
        for message, owner in waiting:
            await self._emit(message, owner)

    async def _emit(self, message: LiveEvent, owner: int | None) -> None:
        access = await self._current_access()
        if access is None or not access.may_receive(message, owner, timezone.now()):
            return
        await self._send(message)

    async def _send(self, message: ServerMessage) -> None:
        await self.send_json(message)

    async def _background(self) -> None:
        """Flush coalesced upserts when their window closes; when idle, check the stream head so a
        lost group message still arrives."""
        while True:
            try:
                try:
                    await asyncio.wait_for(self.wake.wait(), timeout=conf.catch_up_seconds())
                except TimeoutError:
                    async with self.lock:
                        if self.layers is not None and self.feed is not None and not await self._sharing_changed():
                            await self._catch_up((await stream_state(self.feed)).head)
                    continue
                delay = self.last_flush + conf.coalesce_seconds() - asyncio.get_running_loop().time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.wake.clear()
                async with self.lock:
                    await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis hiccup or a closed socket: keep the connection's timer alive, try again later.
                logger.exception("live: background step failed for %s", self.channel_name)
                await asyncio.sleep(1)
                if self.pending:
                    self.wake.set()

    # --- access -------------------------------------------------------------------------------

    def _sharing_scope(self) -> frozenset[str]:
        """The layers whose sharing matters to this subscription (hotlist-hit alerts need the reads
        shared too: apps.live.streams.layers_needed)."""
        layers = self.layers or frozenset()
        return (layers | {"alpr_reads"}) if "alerts" in layers else layers

    async def _sharing_changed(self) -> bool:
        """Send `resync` (and skip to the head) when another agency's layers came into or went out
        of this subscription's view since the map last loaded; True if it did."""
        if self.layers is None or self.feed is None:
            return False
        access = await self._current_access()
        if access is None:
            return True  # closed: nothing more goes out
        shared = access.shared_view(self._sharing_scope(), timezone.now())
        if shared == self.shared:
            return False
        self.shared = shared
        state = await stream_state(self.feed)
        self.pending.clear()
        self.shown.clear()
        self.cursor = state.head
        await self._send(resync("sharing_changed", state.head))
        return True

    async def _read_access(self) -> Access:
        assert self.user_id is not None
        self.access = await load_access(self.user_id)
        self.session_ended = await database_sync_to_async(session_has_ended)(self.scope.get("session"))
        self.access_read_at = asyncio.get_running_loop().time()
        return self.access

    async def _current_access(self) -> Access | None:
        """The user's access, re-read when older than the TTL; None (and the socket closed) when
        the user may no longer follow this feed."""
        if self.closing:
            return None
        access = self.access
        if asyncio.get_running_loop().time() - self.access_read_at >= conf.access_ttl_seconds():
            access = await self._read_access()
        if self.session_ended or not access.may_connect or access.feed != self.feed:
            self.closing = True
            self.layers = None
            self.pending.clear()
            await self.close(code=CLOSE_UNAUTHENTICATED if self.session_ended else CLOSE_FORBIDDEN)
            return None
        return access
