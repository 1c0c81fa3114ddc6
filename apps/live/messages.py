"""The live-update protocol: every WebSocket message, client to server and back, declared once.

Server -> client
    feature.upserted    {type, seq, layer, feature}   a feature was created or changed
    feature.removed     {type, seq, layer, id}        a feature was deleted
    alert.raised        {type, seq, layer: "alerts", feature}
    alert.acknowledged  {type, seq, layer: "alerts", feature}
    alert.closed        {type, seq, layer: "alerts", feature}   cancelled by its source, or expired
    subscribed          {type, layers, seq}            reply to `subscribe`; seq = head of the feed now
    resync              {type, reason, seq}            reload the subscribed layers over REST, then
                                                       apply messages with a larger seq (also how a
                                                       bulk import reaches the map: reason
                                                       `bulk_import`, from a `layer.reloaded` event)
    error               {type, detail}                 a request was refused; the socket stays open

Client -> server
    subscribe           {action: "subscribe", layers: [...], bbox?: [minlon, minlat, maxlon, maxlat],
                         last_seq?: int}

`feature` is the GeoJSON Feature exactly as the layer's REST endpoint serializes it. `seq` is an
integer that grows by one per message in the client's feed (its agency, including what other
agencies share with it, or every agency for a superuser); a client that filters by layer or bbox
sees gaps, never a smaller number.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict, cast

LayerName = Literal["incidents", "cameras", "units", "alpr_reads", "gunshots", "alerts"]
EventType = Literal[
    "feature.upserted", "feature.removed", "alert.raised", "alert.acknowledged", "alert.closed", "layer.reloaded"
]
ResyncReason = Literal[
    "last_seq_malformed",  # the client sent something that is not a sequence number
    "last_seq_expired",  # older than the oldest message the server still keeps
    "last_seq_unknown",  # newer than the feed's head: the stream was reset (Redis restarted)
    "fell_behind",  # this connection lost messages it could no longer fetch
    "sharing_changed",  # a sharing rule started, ended or changed: another agency's features come or go
    "bulk_import",  # an import changed more features of a layer than one event each is worth
]

EVENT_TYPES: frozenset[str] = frozenset(
    {"feature.upserted", "feature.removed", "alert.raised", "alert.acknowledged", "alert.closed", "layer.reloaded"}
)


class Feature(TypedDict):
    """A GeoJSON Feature as rest_framework_gis renders it (id at the top, fields in properties)."""

    id: int
    type: Literal["Feature"]
    geometry: dict[str, Any] | None
    properties: dict[str, Any]


class FeatureUpserted(TypedDict):
    """A feature was created or changed; replace what the map shows for (layer, feature.id)."""

    type: Literal["feature.upserted"]
    seq: int
    layer: LayerName
    feature: Feature


class FeatureRemoved(TypedDict):
    """A feature was deleted; drop (layer, id) from the map."""

    type: Literal["feature.removed"]
    seq: int
    layer: LayerName
    id: int


class AlertRaised(TypedDict):
    """A new alert an operator must see."""

    type: Literal["alert.raised"]
    seq: int
    layer: Literal["alerts"]
    feature: Feature


class AlertAcknowledged(TypedDict):
    """Someone acknowledged an alert (feature.properties says who and when)."""

    type: Literal["alert.acknowledged"]
    seq: int
    layer: Literal["alerts"]
    feature: Feature


class AlertClosed(TypedDict):
    """An alert ended without an operator: its source cancelled it or it expired (properties.close_reason)."""

    type: Literal["alert.closed"]
    seq: int
    layer: Literal["alerts"]
    feature: Feature


class LayerReloaded(TypedDict):
    """Many features of a layer changed at once (a bulk import). Stream-only: consumers turn it into a
    `resync` (reason `bulk_import`) at its seq for the clients that follow the layer."""

    type: Literal["layer.reloaded"]
    seq: int
    layer: LayerName


class Subscribed(TypedDict):
    """Reply to `subscribe`: the layers actually granted and the feed's head sequence number."""

    type: Literal["subscribed"]
    layers: list[LayerName]
    seq: int


class Resync(TypedDict):
    """The server cannot bring this client up to date message by message: reload over REST."""

    type: Literal["resync"]
    reason: ResyncReason
    seq: int


class Error(TypedDict):
    """A client request was refused (unknown layer, bad bbox...); the connection stays open."""

    type: Literal["error"]
    detail: str


class SubscribeRequest(TypedDict):
    """What a client sends to choose its layers and viewport, optionally resuming after last_seq."""

    action: Literal["subscribe"]
    layers: list[str]
    bbox: NotRequired[list[float]]
    last_seq: NotRequired[int | str]


LiveEvent = FeatureUpserted | FeatureRemoved | AlertRaised | AlertAcknowledged | AlertClosed | LayerReloaded
ServerMessage = LiveEvent | Subscribed | Resync | Error

# An event before the stream gave it a seq: what publish() builds and the stream stores.
EventBody = dict[str, Any]


class GroupEnvelope(TypedDict):
    """What travels over the channel layer to each consumer: the event and the feed that numbered it."""

    type: Literal["live.event"]  # dispatches to LiveConsumer.live_event
    feed: str
    message: LiveEvent
    agency: NotRequired[int]  # the owning agency; partners' consumers re-check sharing with it


class GroupEvent(TypedDict):
    """One event inside a GroupBatch, with its owning agency."""

    message: LiveEvent
    agency: int


class GroupBatch(TypedDict):
    """Several events of one feed in seq order (one transaction's), in one channel-layer message."""

    type: Literal["live.batch"]  # dispatches to LiveConsumer.live_batch
    feed: str
    events: list[GroupEvent]


def with_seq(body: EventBody, seq: int) -> LiveEvent:
    """The event as clients receive it, numbered by its position in the feed's stream."""
    if body.get("type") not in EVENT_TYPES:
        raise ValueError(f"not a live event: {body.get('type')!r}")
    return cast(LiveEvent, {**body, "seq": seq})


def subscribed(layers: list[LayerName], seq: int) -> Subscribed:
    return {"type": "subscribed", "layers": layers, "seq": seq}


def resync(reason: ResyncReason, seq: int) -> Resync:
    return {"type": "resync", "reason": reason, "seq": seq}


def error(detail: str) -> Error:
    return {"type": "error", "detail": detail}
