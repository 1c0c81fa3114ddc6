"""Gunshot detections as JSON (kind ``gunshot_json``).

Format
------
A JSON list of detections, or an object ``{"detections": [...]}``::

    {
      "id": "GS-20240501-0042",              required: the vendor's id for the detection (text or number), at most 64
      "lon": -122.3405, "lat": 47.6097,      required; or "location": {"lon", "lat"} or a GeoJSON Point
      "detected_at": "2024-05-01T21:14:05Z", required; ISO 8601 with offset, or epoch s/ms
      "rounds": 3,                           optional whole number 1..200; absent: unknown (never taken as 1)
      "confidence": 0.92                     optional, 0..1 or a percentage 0..100; default 1
    }

A confidence above 1 is read as a percentage (92 -> 0.92); exactly 1 is read as certainty, since
vendors that use percentages do not report a 1 % detection.
"""

from __future__ import annotations

from typing import Any

from .base import GunshotRecord, ParseResult, register
from .common import collect, integer, lon_lat, obj, strict_number, text, timestamp
from .mapped import object_mapping, payload_items, renamed


def confidence(value: Any) -> float:
    result = strict_number(value, "confidence", low=0, high=100, optional=True)
    if result is None:
        return 1.0
    return result / 100.0 if result > 1 else result


def detection_from_mapping(item: Any) -> GunshotRecord:
    item = obj(item, "detection")
    source_id = text(item.get("id"), "id", max_len=64)
    lon, lat = lon_lat(item)
    rounds = integer(item.get("rounds"), "rounds", low=1, high=200, optional=True)
    return GunshotRecord(
        source_id=source_id,
        lon=lon,
        lat=lat,
        detected_at=timestamp(item.get("detected_at"), "detected_at"),
        rounds=rounds,
        confidence=confidence(item.get("confidence")),
    )


# The record's own keys; a source's mapping (params {"mapping": {...}}, fixtures/mappings/README.md) renames
# a vendor's keys to these, with its values tables and datetime_format/tz for the times.
FIELDS = ("id", "lon", "lat", "detected_at", "rounds", "confidence")


@register
class GunshotJsonAdapter:
    """Acoustic gunshot detections as a JSON list (see the module docstring)."""

    kind = "gunshot_json"
    label = "Gunshot detections (JSON)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        return collect(
            payload_items(payload, params, key="detections", what="detections"),
            renamed(detection_from_mapping, object_mapping(params, fields=FIELDS, times=("detected_at",))),
        )
