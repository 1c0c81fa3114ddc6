"""OsmAnd protocol, as Traccar defines it: phones and trackers that push one fix per HTTP request.

Two shapes arrive at the same endpoint:

Query or form parameters (OsmAnd app, Traccar Client before 9, most DIY trackers)::

    ?id=4815&lat=47.6097&lon=-122.3331&timestamp=1714564800&speed=21.6&bearing=92&altitude=45&accuracy=8&batt=77

  `id` (or `deviceid`) names the device; `lat`/`lon` in WGS84 degrees (or `location=lat,lon`);
  `timestamp` in epoch seconds, epoch milliseconds or ISO 8601 with an offset; `speed` in KNOTS (Traccar's
  unit for this protocol; converted to metres per second here); `bearing` or `heading` in degrees clockwise
  from north; `valid=false`/`0` marks a fix the device itself distrusts. `altitude` (m), `accuracy` (m),
  `hdop`, `batt` (%) and anything else are accepted and ignored: a PositionRecord has no field for them.

JSON body (Traccar Client 9+, the background-geolocation SDK's native format)::

    {"device_id": "4815", "location": {"timestamp": "2024-05-01T12:00:00.000Z",
     "coords": {"latitude": 47.6097, "longitude": -122.3331, "speed": 11.1, "heading": 92, "accuracy": 8}}}

  `speed` here is already metres per second; a negative speed or heading is the platform's "unknown".
  `location` may also be a list of such objects (the SDK's batched upload). A location flagged `"mock": true`
  came from a location-spoofing provider and is rejected.

Identity: `id` / `deviceid` / `device_id` is the device's id on this source; the ingest service puts the
fix on a unit by the source's identity rules (apps.units.services.units_resolve: the source's own
bindings, a unit's configured device id, call signs only for a source set to send our call signs).

A fix without a timestamp is rejected rather than stamped with the arrival time: phones queue fixes while
offline, and an hours-old position stamped "now" would show the unit where it no longer is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from .base import ParseResult, PayloadError, PositionRecord, check_payload_size, register
from .common import (
    PositionBatch,
    RecordError,
    coords,
    course,
    load_json,
    lon_lat,
    number,
    obj,
    raw_excerpt,
    speed,
    strict_number,
    text,
    timestamp,
)

KNOT = 1852.0 / 3600.0  # metres per second


@register
class OsmAndAdapter:
    """One OsmAnd/Traccar request (query, form or JSON body) becomes PositionRecords."""

    kind = "osmand"
    label = "OsmAnd / Traccar Client (HTTP)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        body = payload.strip()
        if "json" in content_type.lower() or body[:1] in (b"{", b"["):
            return self._parse_json(load_json(payload))
        if not params and body:
            # The view merges a form body into params; a caller handing the raw body gets the same reading.
            try:
                params = dict(parse_qsl(body.decode("ascii"), strict_parsing=True))
            except (UnicodeDecodeError, ValueError):
                raise PayloadError("body is neither JSON nor OsmAnd form parameters") from None
        if not params:
            raise PayloadError("no OsmAnd parameters (id, lat, lon, timestamp) and no JSON body")
        batch = PositionBatch()
        try:
            batch.add(0, self._from_params(params), _query_excerpt(params))
        except RecordError as exc:
            batch.reject(0, str(exc), _query_excerpt(params))
        return batch.result

    def _from_params(self, params: Mapping) -> PositionRecord:
        def get(name: str) -> str | None:
            value = params.get(name)
            # request.GET-style lists (parse_qs) and QueryDicts both end up as the last value sent.
            if isinstance(value, list | tuple):
                value = value[-1] if value else None
            return None if value is None else str(value)

        unit_ref = text(get("id") or get("deviceid"), "id", max_len=100)
        valid = get("valid")
        if valid is not None and valid.strip().lower() in ("false", "0"):
            raise RecordError(f"device {unit_ref!r} marks this fix as not valid")
        location = get("location")
        if get("lat") is None and get("lon") is None and location:
            pair = location.split(",")
            if len(pair) != 2:
                raise RecordError(f"location must be 'lat,lon', got {location!r}")
            lat, lon = pair
        else:
            lat, lon = get("lat"), get("lon")
        if lat in (None, "") or lon in (None, ""):
            raise RecordError("lat and lon are required")
        lon_f, lat_f = coords(number(lon, "lon"), number(lat, "lat"))
        knots = number(get("speed"), "speed", optional=True)
        if knots is not None and knots < 0:
            raise RecordError(f"speed {knots} knots is negative")
        heading = get("bearing") if get("bearing") not in (None, "") else get("heading")
        return PositionRecord(
            unit_ref=unit_ref,
            lon=lon_f,
            lat=lat_f,
            recorded_at=timestamp(get("timestamp"), "timestamp"),
            heading=course(heading, "bearing"),
            speed=speed(None if knots is None else knots * KNOT, "speed (converted from knots)"),
        )

    def _parse_json(self, data: Any) -> ParseResult:
        if not isinstance(data, dict):
            raise PayloadError(f"JSON body must be an object with device_id and location, got {type(data).__name__}")
        locations = data.get("location")
        if isinstance(locations, dict):
            locations = [locations]
        if not isinstance(locations, list) or not locations:
            raise PayloadError("JSON body has no 'location' object (or list of them)")
        batch = PositionBatch()
        try:
            unit_ref = text(data.get("device_id"), "device_id", max_len=100)
        except RecordError as exc:
            # Every location in the body belongs to the one device: without it none is usable.
            raise PayloadError(str(exc)) from None
        for index, location in enumerate(locations):
            try:
                batch.add(index, self._from_location(unit_ref, obj(location, "location")), raw_excerpt(location))
            except RecordError as exc:
                batch.reject(index, str(exc), raw_excerpt(location))
        return batch.result

    def _from_location(self, unit_ref: str, location: dict) -> PositionRecord:
        if location.get("mock") is True:
            raise RecordError("location comes from a mock (spoofing) location provider")
        fix = obj(location.get("coords"), "location coords")
        lon, lat = lon_lat(fix)
        metres_per_second = strict_number(fix.get("speed"), "coords speed", optional=True)
        heading = strict_number(fix.get("heading"), "coords heading", optional=True)
        return PositionRecord(
            unit_ref=unit_ref,
            lon=lon,
            lat=lat,
            recorded_at=timestamp(location.get("timestamp"), "location timestamp"),
            heading=course(None if heading is None or heading < 0 else heading, "coords heading"),
            speed=speed(None if metres_per_second is None or metres_per_second < 0 else metres_per_second),
        )


def _query_excerpt(params: Mapping) -> str:
    return "&".join(f"{key}={params.get(key)}" for key in params)
