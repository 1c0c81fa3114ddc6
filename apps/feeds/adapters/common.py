"""Small parsing helpers every adapter uses, so each format module holds only its own format."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

from django.utils.dateparse import parse_datetime

from apps.core.geo import GeoInputError, check_lon_lat
from apps.incidents.choices import IncidentStatus
from apps.intake import vocab
from apps.intake.errors import ImportFileError
from apps.intake.xmlrecords import parse_xml_document

from .base import ParseResult, PayloadError, PositionRecord, Record, Rejected, check_payload_size

# Records stamped further in the future than this are clock errors, not data.
MAX_FUTURE = timedelta(minutes=10)


class RecordError(ValueError):
    """One record is unusable; the message is the reason stored with the rejection, `field` the field it
    is about (empty when it is about the whole record)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def coords(lon, lat) -> tuple[float, float]:
    try:
        lon_f, lat_f = check_lon_lat(lon, lat)
    except GeoInputError as exc:
        raise RecordError(str(exc)) from None
    if lon_f == 0.0 and lat_f == 0.0:
        raise RecordError("position 0,0 is a missing fix, not a place")
    return lon_f, lat_f


def timestamp(value, name: str = "time", *, now: datetime | None = None) -> datetime:
    """ISO 8601 text (offset required or Z), or epoch seconds / milliseconds, as an aware datetime."""
    now = now or datetime.now(UTC)
    if isinstance(value, bool) or value is None or value == "":
        raise RecordError(f"{name} is missing", field=name)
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        number = float(value)
        if not math.isfinite(number):
            raise RecordError(f"{name} is not a finite number", field=name)
        if number > 1e11:  # milliseconds
            number /= 1000.0
        try:
            result = datetime.fromtimestamp(number, UTC)
        except (OverflowError, OSError, ValueError):
            raise RecordError(f"{name} {value!r} is out of range", field=name) from None
    elif isinstance(value, str):
        try:
            result = parse_datetime(value.strip())
        except ValueError:
            result = None
        if result is None:
            raise RecordError(f"{name} {value!r} is not an ISO 8601 date-time", field=name)
        if result.tzinfo is None:
            raise RecordError(f"{name} {value!r} has no UTC offset", field=name)
    else:
        raise RecordError(f"{name} must be a date-time string or epoch number, got {type(value).__name__}", field=name)
    if result > now + MAX_FUTURE:
        raise RecordError(f"{name} {result.isoformat()} is in the future", field=name)
    if result.year < 2000:
        raise RecordError(f"{name} {result.isoformat()} is implausibly old", field=name)
    return result


def number(value, name: str, *, low: float | None = None, high: float | None = None, optional: bool = False):
    if value is None or value == "":
        if optional:
            return None
        raise RecordError(f"{name} is missing", field=name)
    if isinstance(value, bool):
        raise RecordError(f"{name} must be a number, got a boolean", field=name)
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{name} must be a number, got {value!r}", field=name) from None
    if not math.isfinite(result):
        raise RecordError(f"{name} must be finite", field=name)
    if low is not None and result < low or high is not None and result > high:
        raise RecordError(f"{name} {result} is outside {low}..{high}", field=name)
    return result


def text(value, name: str, *, max_len: int = 200, optional: bool = False) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return ""
        raise RecordError(f"{name} is missing", field=name)
    # bool is an int subclass: without this check `true` would become the text "True".
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise RecordError(f"{name} must be text, got {type(value).__name__}", field=name)
    result = str(value).strip()
    if len(result) > max_len:
        raise RecordError(f"{name} is longer than {max_len} characters", field=name)
    if "\x00" in result:
        # PostgreSQL text cannot hold NUL; refuse the record here rather than fail the write.
        raise RecordError(f"{name} contains a NUL character", field=name)
    return result


def excerpt(raw, limit: int = 500) -> str:
    """A printable, storable excerpt (NUL spelled out: PostgreSQL text cannot hold it)."""
    s = raw if isinstance(raw, str) else repr(raw)
    s = s.replace("\x00", "\\x00")
    return s if len(s) <= limit else s[:limit] + "…"


# ---------------------------------------------------------------------------------------------
# Payload and record plumbing shared by the JSON / CSV / XML adapters.


def load_json(payload: bytes) -> Any:
    """Decode a JSON payload (UTF-8/16/32) or raise PayloadError saying why it is unreadable."""
    check_payload_size(payload)
    try:
        return json.loads(payload, parse_constant=_refuse_constant)
    except RecursionError:
        # A few hundred thousand nested brackets must not take the worker down.
        raise PayloadError("payload is nested too deeply to be JSON data") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise PayloadError(f"payload is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_list(data: Any, key: str, what: str) -> list:
    """The record list of a payload: a top-level JSON list, or an object holding it under `key`."""
    if isinstance(data, dict) and key in data:
        data = data[key]
        if not isinstance(data, list):
            raise PayloadError(f"{key!r} must be a list of {what}, got {type(data).__name__}")
    if not isinstance(data, list):
        raise PayloadError(f"expected a JSON list of {what} (or an object with a {key!r} list), got {_kind(data)}")
    return data


def _kind(data: Any) -> str:
    if isinstance(data, dict):
        return "an object without it"
    return type(data).__name__


def obj(value: Any, name: str = "record") -> dict:
    if not isinstance(value, dict):
        raise RecordError(f"{name} must be an object, got {type(value).__name__}")
    return value


def collect(
    items: Iterable[Any], build: Callable[[Any], Record], raw: Callable[[Any], str] | None = None
) -> ParseResult:
    """Build one record per item; a RecordError rejects that item only, the rest of the batch goes on.

    `raw` renders a rejected item for its excerpt (default: JSON text)."""
    show = raw or raw_excerpt
    result = ParseResult()
    for index, item in enumerate(items):
        try:
            result.records.append(build(item))
        except RecordError as exc:
            result.rejected.append(Rejected(index, str(exc), show(item), field=exc.field))
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            # A shape no check anticipated must cost one record, not the whole batch (and not a
            # task retry loop over a permanent error); the reason keeps it findable.
            result.rejected.append(Rejected(index, f"unexpected record shape: {exc}", show(item)))
    return result


def raw_excerpt(item: Any) -> str:
    if isinstance(item, str):
        return excerpt(item)
    try:
        return excerpt(json.dumps(item, ensure_ascii=False, default=str))
    except (TypeError, ValueError):
        return excerpt(item)


def strict_number(value: Any, name: str, **kwargs: Any) -> float | None:
    """`number`, but JSON text is refused: a source sending "12" for 12 has a broken exporter."""
    if isinstance(value, str) and value.strip():
        raise RecordError(f"{name} must be a number, got text {value!r}", field=name)
    return number(value, name, **kwargs)


def integer(value: Any, name: str, *, low: int, high: int, optional: bool = False, strict: bool = True) -> int | None:
    result = (strict_number if strict else number)(value, name, low=low, high=high, optional=optional)
    if result is None:
        return None
    if not result.is_integer():
        raise RecordError(f"{name} must be a whole number, got {value!r}", field=name)
    return int(result)


_LON_KEYS = vocab.LON_ALIASES
_LAT_KEYS = vocab.LAT_ALIASES


def lon_lat(item: Mapping) -> tuple[float, float]:
    """Position of a JSON record: `lon`/`lat` keys (or lng/longitude, latitude), a `location` object
    with those keys, or a GeoJSON Point in `location` or `geometry`. Coordinates must be JSON numbers."""
    found = optional_lon_lat(item)
    if found is None:
        raise RecordError("position is missing (lon/lat)")
    return found


def optional_lon_lat(item: Mapping) -> tuple[float, float] | None:
    """`lon_lat` for records where a position is optional: None when no position key is present."""
    lon = _first(item, _LON_KEYS)
    lat = _first(item, _LAT_KEYS)
    if lon is None and lat is None:
        where = "location" if item.get("location") is not None else "geometry"
        loc = item.get(where)
        if loc is not None:
            loc = obj(loc, where)
            if "type" in loc or "coordinates" in loc:
                if loc.get("type") != "Point":
                    raise RecordError(f"{where} must be a GeoJSON Point, got type {loc.get('type')!r}")
                pair = loc.get("coordinates")
                if not isinstance(pair, list) or len(pair) not in (2, 3):
                    raise RecordError(f"{where} coordinates must be [lon, lat], got {pair!r}")
                lon, lat = pair[0], pair[1]
            else:
                lon = _first(loc, _LON_KEYS)
                lat = _first(loc, _LAT_KEYS)
    if lon is None and lat is None:
        return None
    if lon is None or lat is None:
        raise RecordError("position needs both lon and lat")
    for value, name in ((lon, "longitude"), (lat, "latitude")):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RecordError(f"{name} must be a number, got {type(value).__name__} {value!r}", field=name)
    return coords(lon, lat)


def _first(item: Mapping, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = item.get(key)
        if value is not None and value != "":
            return value
    return None


# ---------------------------------------------------------------------------------------------
# Incident status words. CAD products and EIDO registries spell the same four states many ways.

# How far along an incident is; "furthest along" comparisons use this order.
STATUS_ORDER: tuple[str, ...] = tuple(
    s.value for s in (IncidentStatus.PENDING, IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE, IncidentStatus.CLOSED)
)

# One set of status words for files and feeds (apps.intake.vocab).
STATUS_WORDS = vocab.STATUS_WORDS
status_key = vocab.status_key


def status_words(params: Mapping | None) -> dict[str, str]:
    """STATUS_WORDS plus a source's own words: its mapping's values.status (params {"mapping": {"values":
    {"status": {"HELD": "pending"}}}}), or the older alias params {"statuses": {...}}."""
    from .mapped import mapping_document

    values = mapping_document(dict(params or {})).get("values") or {}
    extra = values.get("status") if isinstance(values, dict) else None
    if extra is None:
        extra = {}
    if not isinstance(extra, dict):
        raise PayloadError("mapping.values.status must be an object mapping a source word to a status")
    words = dict(STATUS_WORDS)
    for word, status in extra.items():
        if status not in IncidentStatus.values:
            raise PayloadError(
                f"mapping.values.status (params 'statuses') maps {word!r} to {status!r}, "
                f"not one of {IncidentStatus.values}"
            )
        words[status_key(str(word))] = status
    return words


def incident_status(value: Any, words: Mapping[str, str], name: str = "status") -> str:
    """An IncidentStatus value for a source's status word; an unknown word rejects the record
    (guessing could show a closed call as open, or hide an open one)."""
    word = text(value, name, max_len=64)
    try:
        return words[status_key(word)]
    except KeyError:
        raise RecordError(f"{name} {word!r} is not a known incident status", field=name) from None


# ---------------------------------------------------------------------------------------------
# XML: only through defusedxml, and no DTDs at all (no feed format we read needs one).


def parse_xml(data: bytes, what: str = "XML") -> Element:
    """Parse untrusted XML; entity expansion, external entities and DTDs are refused (RecordError). The
    file importer's parser (apps.intake.xmlrecords), with a feed's error type."""
    try:
        return parse_xml_document(data, what)
    except ImportFileError as exc:
        raise RecordError(str(exc)) from None


def xml_text(element: Element | None) -> str:
    """All text inside an element, whitespace collapsed."""
    if element is None:
        return ""
    return " ".join("".join(element.itertext()).split())


def centroid(ring: list[tuple[float, float]]) -> tuple[float, float]:
    """Area centroid of a (lon, lat) ring, for a polygon area given where a point is wanted.

    Planar maths is fine at the scale of an alert or incident area; a degenerate ring (no area)
    falls back to the mean of its vertices."""
    points = ring[:-1] if len(ring) > 1 and ring[0] == ring[-1] else ring
    if not points:
        raise RecordError("polygon has no points")
    # Relative to the first vertex: products of raw degrees (-122 * 47) would swamp a small area
    # in rounding error.
    ox, oy = points[0]
    rel = [(x - ox, y - oy) for x, y in points]
    area2 = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(rel, rel[1:] + rel[:1], strict=True):
        cross = x0 * y1 - x1 * y0
        area2 += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(area2) < 1e-15:
        return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)
    return ox + cx / (3.0 * area2), oy + cy / (3.0 * area2)


# ---------------------------------------------------------------------------------------------
# AVL (unit position) helpers, shared by the gtfs_rt, cot and osmand adapters.

# Faster than this is a device fault or a unit-conversion bug, not a unit (air support included).
MAX_UNIT_SPEED = 150.0  # metres per second, 540 km/h


def course(value, name: str = "heading") -> float | None:
    """Degrees clockwise from north, 0..360 with 360 folded to 0; None when absent."""
    result = number(value, name, low=0.0, high=360.0, optional=True)
    return None if result is None else result % 360.0


def speed(value, name: str = "speed") -> float | None:
    """Metres per second, 0..MAX_UNIT_SPEED; None when absent. Convert the source's unit before calling."""
    return number(value, name, low=0.0, high=MAX_UNIT_SPEED, optional=True)


class PositionBatch:
    """A payload's position fixes and rejections; two different fixes for one unit and instant conflict.

    The database holds one fix per (unit, recorded_at). An exact repeat is harmless and passes on (the
    service counts it as a duplicate), but a second, different position for the same instant is a broken
    source: it is rejected, naming the record it contradicts, rather than one of the two silently winning.
    """

    def __init__(self) -> None:
        self.result = ParseResult()
        self._seen: dict[tuple[str, datetime], tuple[int, PositionRecord]] = {}

    def add(self, index: int, record: PositionRecord, raw="") -> None:
        first_index, first = self._seen.setdefault((record.unit_ref, record.recorded_at), (index, record))
        if first_index != index and first != record:
            when = record.recorded_at.isoformat()
            reason = f"conflicting fix: unit {record.unit_ref!r} at {when} differs from record {first_index}"
            self.reject(index, reason, raw)
        else:
            self.result.records.append(record)

    def reject(self, index: int, reason: str, raw="") -> None:
        self.result.rejected.append(Rejected(index=index, reason=reason, raw=excerpt(raw)))
