"""CAD incidents as CSV (kind ``cad_csv``): the ``cad_json`` fields as columns.

Format
------
A header row, then one incident per row. Columns are named like the ``cad_json`` fields (header
matching ignores case and surrounding spaces; other columns are ignored)::

    cad_number,type_code,type_description,priority,status,address,lon,lat,received_at,dispatched_at,
    on_scene_at,closed_at,units,narrative

Required: ``cad_number``, ``type_code``, ``lon``, ``lat``, ``received_at`` (a header without them
makes the whole payload unusable). ``units`` is one cell of call signs separated by ``;``, ``,`` or
``|``; ``narrative`` is one optional cell, stored as one line entered at ``received_at``. Times are
ISO 8601 with an offset, or epoch seconds / milliseconds. ``status`` words are those of ``cad_json``.

``params`` (all optional):

* ``{"fields": {"cad_number": "Incident No", "lon": "X", ...}}`` — the source's column for our field;
* ``{"delimiter": ";"}`` — one character, default ``,``;
* ``{"encoding": "cp1252"}`` — default UTF-8 (a byte-order mark is ignored);
* ``{"timezone": "America/Los_Angeles"}`` — the zone of times written without an offset (many CAD
  exports write local wall-clock time); without it such times reject the row;
* ``{"statuses": {"HELD": "pending"}}`` — a source's own status words, as for ``cad_json``.

``Rejected.index`` is the 0-based position among the non-blank data rows.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils.dateparse import parse_datetime

from .base import IncidentRecord, ParseResult, PayloadError, check_payload_size, register
from .cad_json import incident_from_mapping
from .common import RecordError, collect, coords, excerpt, status_words

FIELDS = (
    "cad_number",
    "type_code",
    "type_description",
    "priority",
    "status",
    "address",
    "lon",
    "lat",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "closed_at",
    "units",
    "narrative",
)
REQUIRED = ("cad_number", "type_code", "lon", "lat", "received_at")
TIME_FIELDS = ("received_at", "dispatched_at", "on_scene_at", "closed_at")
UNIT_SEPARATORS = re.compile(r"[;,|]")


def _column(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


class _Layout:
    """Which cell holds which of our fields, read from the header row and params."""

    def __init__(self, header: list[str], mapping: Mapping[str, str]) -> None:
        self.width = len(header)
        positions: dict[str, list[int]] = {}
        for i, name in enumerate(header):
            positions.setdefault(_column(name), []).append(i)
        self.cells: dict[str, int] = {}
        for field in FIELDS:
            column = _column(mapping.get(field, field))
            found = positions.get(column, [])
            if len(found) > 1:
                raise PayloadError(f"the header has column {column!r} more than once; which one is {field}?")
            if found:
                self.cells[field] = found[0]
        missing = [field for field in REQUIRED if field not in self.cells]
        if missing:
            wanted = ", ".join(repr(_column(mapping.get(field, field))) for field in missing)
            raise PayloadError(f"the CSV header lacks the required column(s) {wanted}; map them with params 'fields'")

    def values(self, row: list[str]) -> dict[str, str]:
        if len(row) != self.width:
            raise RecordError(f"row has {len(row)} cells, the header has {self.width}")
        return {field: row[i].strip() for field, i in self.cells.items()}


@register
class CadCsvAdapter:
    """CAD incidents as CSV rows with a header (see the module docstring)."""

    kind = "cad_csv"
    label = "CAD incidents (CSV)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        params = params or {}
        check_payload_size(payload)
        words = status_words(params)
        zone = _zone(params.get("timezone"))
        delimiter = _delimiter(params.get("delimiter"))
        rows = _rows(_decode(payload, params.get("encoding") or "utf-8-sig"), delimiter)
        if not rows:
            raise PayloadError("the CSV payload is empty (no header row)")
        layout = _Layout(rows[0], _mapping(params.get("fields")))

        def build(row: list[str]) -> IncidentRecord:
            values = layout.values(row)
            if zone is not None:
                for field in TIME_FIELDS:
                    if values.get(field):
                        values[field] = _localize(values[field], zone)
            units = [u.strip() for u in UNIT_SEPARATORS.split(values.get("units", "")) if u.strip()]
            return incident_from_mapping(
                {**values, "units": units}, words=words, position=_position(values), strict=False
            )

        return collect(rows[1:], build, raw=lambda row: _row_text(row, delimiter))


def _decode(payload: bytes, encoding: str) -> str:
    try:
        return payload.decode(encoding)
    except LookupError:
        raise PayloadError(f"params 'encoding' {encoding!r} is not a known text encoding") from None
    except UnicodeDecodeError as exc:
        raise PayloadError(
            f"the CSV is not valid {encoding} text ({exc.reason} at byte {exc.start}); set params 'encoding'"
        ) from None


def _delimiter(value: object) -> str:
    if value in (None, ""):
        return ","
    if not isinstance(value, str) or len(value) != 1 or value in '"\r\n':
        raise PayloadError(f"params 'delimiter' must be one character other than a quote or newline, got {value!r}")
    return value


def _mapping(value: object) -> dict[str, str]:
    if value in (None, {}):
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise PayloadError("params 'fields' must map our field names to the source's column names")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise PayloadError(f"params 'fields' names unknown field(s) {unknown}; ours are {list(FIELDS)}")
    return value


def _zone(value: object) -> tzinfo | None:
    if value in (None, ""):
        return None
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise PayloadError(f"params 'timezone' {value!r} is not an IANA time zone name") from None


def _rows(data: str, delimiter: str) -> list[list[str]]:
    try:
        # strict: an unterminated quote (a truncated upload) is an error, not one giant last cell.
        rows = list(csv.reader(io.StringIO(data, newline=""), delimiter=delimiter, strict=True))
    except csv.Error as exc:
        raise PayloadError(f"the CSV cannot be read: {exc}") from None
    return [row for row in rows if any(cell.strip() for cell in row)]


def _localize(value: str, zone: tzinfo) -> str:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        return value  # timestamp() will reject it with the reason
    if parsed is None or parsed.tzinfo is not None:
        return value
    # fold=0: in the repeated hour when clocks go back, the first (daylight) reading is taken.
    return parsed.replace(tzinfo=zone).isoformat()


def _position(values: Mapping[str, str]) -> tuple[float, float]:
    lon, lat = values.get("lon", ""), values.get("lat", "")
    if not lon and not lat:
        raise RecordError("position is missing (lon/lat)")
    if not lon or not lat:
        raise RecordError("position needs both lon and lat")
    return coords(lon, lat)


def _row_text(row: list[str], delimiter: str) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="").writerow(row)
    return excerpt(out.getvalue())
