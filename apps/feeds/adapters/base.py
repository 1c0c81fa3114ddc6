"""The one interface every feed format implements.

An adapter turns a raw payload (bytes as received or fetched) into typed records. It does not
touch the database: services write. A record it cannot use becomes a `Rejected` entry with the
reason (a permanent error: the rest of the batch goes on); a payload it cannot read at all raises
`PayloadError` (permanent: nothing in it is usable) or `TransientError` (try again later, e.g. a
poll that timed out).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

from apps.intake.report import Rejection

MAX_PAYLOAD_BYTES = 5 * 1024 * 1024


class PayloadError(Exception):
    """The whole payload is unusable (wrong format, truncated, too large). Permanent."""


class MisconfiguredError(PayloadError):
    """The payload is readable but is not what this source is for (GTFS-RT trip updates or alerts sent
    to a vehicle-position source): the source is shown as misconfigured until a good payload arrives."""


class TransientError(Exception):
    """A temporary problem (network, upstream 5xx); the task may retry."""


@dataclass(frozen=True)
class PositionRecord:
    """An AVL fix for a unit. `unit_ref` is the source's id for the unit (call sign or device id)."""

    unit_ref: str
    lon: float
    lat: float
    recorded_at: datetime  # aware
    heading: float | None = None  # degrees clockwise from north
    speed: float | None = None  # metres per second
    call_sign: str = ""  # when the source knows a human call sign beside its id
    unit_kind: str = ""  # apps.units.choices.UnitKind value when known


@dataclass(frozen=True)
class NarrativeLine:
    entered_at: datetime
    text: str
    author: str = ""


@dataclass(frozen=True)
class IncidentRecord:
    """A CAD incident as the source states it now (create, update or close by `cad_number`)."""

    cad_number: str
    type_code: str
    lon: float | None  # None only with a beat_code, which places the call
    lat: float | None
    received_at: datetime
    type_description: str = ""
    priority: int = 3  # 1..9, 1 most urgent
    status: str = "pending"  # apps.incidents.choices.IncidentStatus value
    address: str = ""
    dispatched_at: datetime | None = None
    on_scene_at: datetime | None = None
    closed_at: datetime | None = None
    narrative: tuple[NarrativeLine, ...] = ()
    unit_refs: tuple[str, ...] = ()  # call signs of assigned units
    # What a CAD export says beyond the basics (the incidents import's fields, apps.intake.specs).
    call_source: str = "unknown"  # apps.incidents.choices.CallSource value
    disposition: str = ""
    location_approximate: bool = False  # block-level (blurred) coordinates
    beat_code: str = ""  # without coordinates, the agency's beat of this code places the call
    attributes: Mapping[str, Any] | None = None  # the export's columns no field takes


@dataclass(frozen=True)
class AlprReadRecord:
    plate: str
    read_at: datetime
    lon: float
    lat: float
    state: str = ""
    site_ref: str = ""  # the site's external id
    image_url: str = ""


@dataclass(frozen=True)
class GunshotRecord:
    source_id: str
    lon: float
    lat: float
    detected_at: datetime
    rounds: int | None = None  # None: shots heard, not counted
    confidence: float = 1.0  # 0..1


@dataclass(frozen=True)
class AlertRecord:
    """A panic button, sensor or other alert. `source_id` makes it idempotent per source."""

    source_id: str
    kind: str  # apps.sensors.choices.AlertKind value
    title: str
    raised_at: datetime
    lon: float | None = None
    lat: float | None = None
    detail: str = ""
    # What the message does (CAP): "Alert"; "Update" replaces the alert `references` names in place
    # (a new alert when none is known); "Cancel" closes it. References are source_ids.
    msg_type: str = "Alert"
    references: tuple[str, ...] = ()
    area: tuple[tuple[tuple[float, float], ...], ...] = ()  # polygons, each one closed ring of (lon, lat)
    geocodes: tuple[str, ...] = ()  # "SCHEME:value" codes, placed through the agency's zones
    area_desc: str = ""
    expires_at: datetime | None = None


@dataclass(frozen=True)
class AlertCloseRecord:
    """The sender closes an alert it raised earlier (a CoT emergency cancel), found by `source_id`."""

    source_id: str
    reason: str
    closed_at: datetime


@dataclass(frozen=True)
class CameraRecord:
    """A camera the source places (an ATAK sensor point): where it is, where it looks, its stream."""

    external_id: str
    name: str
    lon: float | None  # None: a feed list entry, which only updates the stream of a camera already placed
    lat: float | None
    heading: float | None = None  # degrees clockwise from north
    fov_angle: float | None = None  # degrees
    fov_range: float | None = None  # metres
    stream_url: str = ""  # as sent; the camera service refuses what breaks its URL rules


Record = (
    PositionRecord | IncidentRecord | AlprReadRecord | GunshotRecord | AlertRecord | AlertCloseRecord | CameraRecord
)


# A record the adapter refused: where it was in the payload (0-based `index`, `line` for CSV), which field,
# why, and an excerpt of it. The same report the file importer gives (apps.intake.report).
Rejected = Rejection


@dataclass
class ParseResult:
    records: list[Record] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # What the adapter passed over on purpose and is not an error (CoT pings, an NMEA log's satellite
    # sentences, a GTFS-RT feed's trip updates), counted by what it is so nothing vanishes unseen.
    ignored: dict[str, int] = field(default_factory=dict)


class Adapter(Protocol):
    """A feed format. `kind` is the name a FeedSource uses to pick it."""

    kind: ClassVar[str]
    label: ClassVar[str]

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult: ...


_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make an adapter available by its `kind`."""
    kind = cls.kind
    if kind in _REGISTRY and _REGISTRY[kind] is not cls:
        raise RuntimeError(f"two adapters claim kind {kind!r}")
    _REGISTRY[kind] = cls
    return cls


def get_adapter(kind: str) -> Adapter:
    from . import load_all  # noqa: F401 - importing registers every adapter module

    try:
        return _REGISTRY[kind]()
    except KeyError:
        raise KeyError(f"no feed adapter of kind {kind!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def adapter_kinds() -> list[tuple[str, str]]:
    from . import load_all  # noqa: F401

    return sorted((kind, cls.label) for kind, cls in _REGISTRY.items())


def check_payload_size(payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> None:
    if len(payload) > limit:
        raise PayloadError(f"payload of {len(payload)} bytes is over the {limit} byte limit")
