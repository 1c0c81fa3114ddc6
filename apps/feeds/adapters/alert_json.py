"""Generic alerts as JSON: panic buttons, sensors, anything else that needs an operator (kind ``alert_json``).

Format
------
A JSON list of alerts, or an object ``{"alerts": [...]}``::

    {
      "id": "PB-0017-20240501T211405",        required: the source's id for this alert, at most 64
      "kind": "panic",                        optional: panic | sensor | other (default other)
      "title": "Panic button: City Hall",     optional, at most 200; default the kind's label
      "detail": "Front desk, 2nd floor",      optional, at most 4000
      "lon": -122.3405, "lat": 47.6097,       optional (both or neither); or "location" / GeoJSON Point
      "raised_at": "2024-05-01T21:14:05Z"     required; ISO 8601 with offset, or epoch s/ms
    }

Hotlist hits and gunshots are alerts too, but they come from their own feeds and services, so a
generic source may not claim those kinds.
"""

from __future__ import annotations

from typing import Any

from apps.sensors.choices import AlertKind

from .base import AlertRecord, ParseResult, register
from .common import RecordError, collect, obj, optional_lon_lat, text, timestamp
from .mapped import object_mapping, payload_items, renamed

KINDS = (AlertKind.PANIC.value, AlertKind.SENSOR.value, AlertKind.OTHER.value)
DEFAULT_TITLES = {AlertKind.PANIC.value: "Panic button", AlertKind.SENSOR.value: "Sensor alert"}
MAX_DETAIL = 4000


def alert_from_mapping(item: Any) -> AlertRecord:
    item = obj(item, "alert")
    source_id = text(item.get("id"), "id", max_len=64)
    kind = text(item.get("kind"), "kind", max_len=16, optional=True).lower() or AlertKind.OTHER.value
    if kind not in KINDS:
        raise RecordError(f"kind {kind!r} is not one of {', '.join(KINDS)}", field="kind")
    position = optional_lon_lat(item)
    return AlertRecord(
        source_id=source_id,
        kind=kind,
        title=text(item.get("title"), "title", optional=True) or DEFAULT_TITLES.get(kind, "Alert"),
        raised_at=timestamp(item.get("raised_at"), "raised_at"),
        lon=position[0] if position else None,
        lat=position[1] if position else None,
        detail=text(item.get("detail"), "detail", max_len=MAX_DETAIL, optional=True),
    )


# The record's own keys; a source's mapping (params {"mapping": {...}}, fixtures/mappings/README.md) renames
# a vendor's keys to these, with its values tables and datetime_format/tz for the times.
FIELDS = ("id", "kind", "title", "detail", "lon", "lat", "raised_at")


@register
class AlertJsonAdapter:
    """Panic button, sensor and other alerts as a JSON list (see the module docstring)."""

    kind = "alert_json"
    label = "Alerts: panic buttons, sensors (JSON)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        return collect(
            payload_items(payload, params, key="alerts", what="alerts"),
            renamed(alert_from_mapping, object_mapping(params, fields=FIELDS, times=("raised_at",))),
        )
