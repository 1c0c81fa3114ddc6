"""ALPR plate reads as JSON (kind ``alpr_json``).

Format
------
A JSON list of reads, or an object ``{"reads": [...]}``::

    {
      "plate": "ABC1234",                     required; see below
      "state": "WA",                          optional issuing state / province / country, at most 8
      "read_at": "2024-05-01T21:14:05Z",      required (or "timestamp"); ISO 8601 with offset, or epoch s/ms
      "lon": -122.3405, "lat": 47.6097,       required (mobile readers report their own fix); or
                                              "location": {"lon", "lat"} or a GeoJSON Point
      "site": "SITE-17",                      optional: the reader site's external id (text or number)
      "image_url": "https://..."              optional http(s) URL, at most 500 characters
    }

The plate is passed on as read (trimmed); the service normalizes it for matching. Refused here:
not JSON text, empty, longer than 16 characters, anything but ASCII letters and digits in groups separated by
single spaces, hyphens or dots, fewer than 2 or more than 10 letters and digits, and the placeholders
readers write when they could not read a plate (``NOREAD``, ``UNKNOWN``...).
"""

from __future__ import annotations

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from .base import AlprReadRecord, ParseResult, register
from .common import RecordError, collect, lon_lat, obj, text, timestamp
from .mapped import object_mapping, payload_items, renamed

MAX_PLATE_WRITTEN = 16
PLATE = re.compile(r"[A-Za-z0-9]+(?:[ .\-][A-Za-z0-9]+)*")
# One character reads are far more often OCR noise (a sticker, a bolt) than a real vanity plate.
MIN_PLATE_CHARS, MAX_PLATE_CHARS = 2, 10
PLACEHOLDERS = {"NOREAD", "NOPLATE", "UNKNOWN", "UNREADABLE", "NULL", "NONE", "NA"}
STATE = re.compile(r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?")
_url = URLValidator(schemes=["http", "https"])


def plate_text(value: Any) -> str:
    if value is not None and not isinstance(value, str):
        # A number loses leading zeros (plate "0123" would become 123): the exporter must send text.
        raise RecordError(f"plate must be text, got {type(value).__name__}", field="plate")
    plate = text(value, "plate", max_len=MAX_PLATE_WRITTEN)
    if not PLATE.fullmatch(plate):
        raise RecordError(f"plate {plate!r} has characters a plate cannot have", field="plate")
    chars = re.sub(r"[^A-Za-z0-9]", "", plate)
    if not MIN_PLATE_CHARS <= len(chars) <= MAX_PLATE_CHARS:
        raise RecordError(
            f"plate {plate!r} has {len(chars)} letters and digits, not {MIN_PLATE_CHARS}..{MAX_PLATE_CHARS}",
            field="plate",
        )
    if chars.upper() in PLACEHOLDERS:
        raise RecordError(f"plate {plate!r} is a no-read placeholder, not a plate", field="plate")
    return plate


def image_url(value: Any) -> str:
    url = text(value, "image_url", max_len=500, optional=True)
    if url:
        try:
            _url(url)
        except ValidationError:
            # Only http(s): the URL ends up in an <img> on the map page.
            raise RecordError(f"image_url {url[:100]!r} is not an http(s) URL", field="image_url") from None
    return url


def read_from_mapping(item: Any) -> AlprReadRecord:
    item = obj(item, "read")
    plate = plate_text(item.get("plate"))
    state = text(item.get("state"), "state", max_len=8, optional=True)
    if state and not STATE.fullmatch(state):
        raise RecordError(f"state {state!r} is not a state, province or country code", field="state")
    lon, lat = lon_lat(item)
    when = item.get("read_at") if item.get("read_at") not in (None, "") else item.get("timestamp")
    return AlprReadRecord(
        plate=plate,
        read_at=timestamp(when, "read_at"),
        lon=lon,
        lat=lat,
        state=state,
        site_ref=text(item.get("site"), "site", max_len=64, optional=True),
        image_url=image_url(item.get("image_url")),
    )


# The record's own keys; a source's mapping (params {"mapping": {...}}, fixtures/mappings/README.md) renames
# a vendor's keys to these, with its values tables and datetime_format/tz for the times.
FIELDS = ("plate", "state", "read_at", "timestamp", "lon", "lat", "site", "image_url")


@register
class AlprJsonAdapter:
    """ALPR reads as a JSON list (see the module docstring)."""

    kind = "alpr_json"
    label = "ALPR reads (JSON)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        return collect(
            payload_items(payload, params, key="reads", what="plate reads"),
            renamed(read_from_mapping, object_mapping(params, fields=FIELDS, times=("read_at", "timestamp"))),
        )
