"""CAD incidents as JSON: our native CAD push format (kind ``cad_json``).

Format
------
A JSON list of incident objects, or an object ``{"incidents": [...]}``. Each object is one incident
as the CAD knows it now; the service creates, updates or closes by ``cad_number``::

    {
      "cad_number": "24-031337",                 required, text, at most 64 characters
      "type_code": "ROBB",                       required, text, at most 32
      "type_description": "Robbery - armed",     optional, at most 200
      "priority": 1,                             optional whole number 1..9 (1 most urgent); default 3
      "status": "dispatched",                    optional, see below
      "address": "1st Ave & Pike St",            optional, at most 300
      "lon": -122.3405, "lat": 47.6097,          required WGS84 numbers; or "location": {"lon", "lat"};
                                                 or "location" / "geometry" as a GeoJSON Point
      "received_at": "2024-05-01T21:14:05-07:00",            required, ISO 8601 with offset or epoch s/ms
      "dispatched_at": ..., "on_scene_at": ..., "closed_at": ...,   optional, same form
      "narrative": [{"time": "...", "text": "...", "author": "..."}],   optional; a plain string is one
                                                 line entered at received_at
      "units": ["2A12", "2A14"]                  optional call signs of the assigned units
    }

``status`` is ``pending``, ``dispatched``, ``on_scene`` or ``closed``, or a common synonym
(``enroute``/``assigned`` -> dispatched, ``arrived`` -> on_scene, ``cleared``/``cancelled`` -> closed,
spelling and case free: ``On Scene``, ``ON-SCENE``; the one list in apps.intake.vocab). A source's own
words come from its mapping, ``params={"mapping": {"values": {"status": {"HELD": "pending"}}}}`` (the
older ``params={"statuses": {...}}`` is an alias). An unknown word rejects the record. Without a status,
the latest time given decides (closed_at -> closed, on_scene_at -> on_scene, dispatched_at -> dispatched, else pending).

With ``params={"mapping": {...} | "file name"}`` the payload is a CAD's own JSON (a list of objects, or
the list under the mapping's ``json_path`` or ``incidents``) read by the shared JSON reader and converted
by the mapping with the same ``convert_record`` as a file import (fixtures/mappings/README.md); the
mapping's ``fields`` may also name the ``units`` and ``narrative`` keys.

Numbers must be JSON numbers (``"priority": "2"`` is refused: the exporter is broken, and silently
coercing would hide it). Unknown keys are ignored, so a CAD may send more than we read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from apps.incidents.choices import IncidentStatus

from .base import IncidentRecord, NarrativeLine, ParseResult, register
from .common import (
    RecordError,
    collect,
    incident_status,
    integer,
    json_list,
    load_json,
    lon_lat,
    obj,
    status_words,
    text,
    timestamp,
)

MAX_NARRATIVE_LINES = 2000
MAX_NARRATIVE_TEXT = 4000
MAX_UNITS = 100
UNIT_SPLIT = re.compile(r"\s*[;,|]\s*")


def incident_from_mapping(
    item: Any, *, words: Mapping[str, str], position: tuple[float, float] | None = None, strict: bool = True
) -> IncidentRecord:
    """One incident from a mapping with this module's field names.

    `position` lets a caller that already parsed the coordinates (the CSV adapter) pass them in;
    `strict` False accepts numbers written as text, as every CSV cell is.
    """
    item = obj(item, "incident")
    cad_number = text(item.get("cad_number"), "cad_number", max_len=64)
    type_code = text(item.get("type_code"), "type_code", max_len=32)
    lon, lat = position if position is not None else lon_lat(item)
    received_at = timestamp(item.get("received_at"), "received_at")
    dispatched_at = _optional_time(item, "dispatched_at")
    on_scene_at = _optional_time(item, "on_scene_at")
    closed_at = _optional_time(item, "closed_at")
    if item.get("status") in (None, ""):
        status = _implied_status(dispatched_at, on_scene_at, closed_at)
    else:
        status = incident_status(item["status"], words)
    priority = integer(item.get("priority"), "priority", low=1, high=9, optional=True, strict=strict)
    return IncidentRecord(
        cad_number=cad_number,
        type_code=type_code,
        type_description=text(item.get("type_description"), "type_description", optional=True),
        priority=3 if priority is None else priority,
        status=status,
        address=text(item.get("address"), "address", max_len=300, optional=True),
        lon=lon,
        lat=lat,
        received_at=received_at,
        dispatched_at=dispatched_at,
        on_scene_at=on_scene_at,
        closed_at=closed_at,
        narrative=narrative_lines(item.get("narrative"), received_at),
        unit_refs=unit_refs(item.get("units")),
    )


def _optional_time(item: Mapping, name: str) -> datetime | None:
    value = item.get(name)
    return None if value in (None, "") else timestamp(value, name)


def _implied_status(dispatched_at: datetime | None, on_scene_at: datetime | None, closed_at: datetime | None) -> str:
    if closed_at:
        return IncidentStatus.CLOSED.value
    if on_scene_at:
        return IncidentStatus.ON_SCENE.value
    if dispatched_at:
        return IncidentStatus.DISPATCHED.value
    return IncidentStatus.PENDING.value


def narrative_lines(value: Any, received_at: datetime) -> tuple[NarrativeLine, ...]:
    if value in (None, "", []):
        return ()
    if isinstance(value, str):
        return (NarrativeLine(received_at, text(value, "narrative", max_len=MAX_NARRATIVE_TEXT)),)
    if not isinstance(value, list):
        raise RecordError(f"narrative must be a list of entries or one text, got {type(value).__name__}")
    if len(value) > MAX_NARRATIVE_LINES:
        raise RecordError(f"narrative has {len(value)} entries, more than {MAX_NARRATIVE_LINES}")
    lines = []
    for i, entry in enumerate(value):
        name = f"narrative[{i}]"
        entry = obj(entry, name)
        when = entry.get("time", entry.get("entered_at"))
        lines.append(
            NarrativeLine(
                entered_at=timestamp(when, f"{name}.time"),
                text=text(entry.get("text"), f"{name}.text", max_len=MAX_NARRATIVE_TEXT),
                author=text(entry.get("author"), f"{name}.author", max_len=100, optional=True),
            )
        )
    return tuple(lines)


def unit_refs(value: Any) -> tuple[str, ...]:
    if value in (None, "", []):
        return ()
    if not isinstance(value, list):
        raise RecordError(f"units must be a list of call signs, got {type(value).__name__}")
    if len(value) > MAX_UNITS:
        raise RecordError(f"units lists {len(value)} call signs, more than {MAX_UNITS}")
    refs = (text(unit, f"units[{i}]", max_len=32) for i, unit in enumerate(value))
    return tuple(dict.fromkeys(refs))  # a unit listed twice is still one assignment


@register
class CadJsonAdapter:
    """Our native CAD push: a JSON list of incidents (see the module docstring)."""

    kind = "cad_json"
    label = "CAD incidents (JSON)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        if (params or {}).get("mapping") is not None:
            return _parse_mapped(payload, params or {})
        words = status_words(params)
        items = json_list(load_json(payload), "incidents", "incidents")
        return collect(items, lambda item: incident_from_mapping(item, words=words))


def _parse_mapped(payload: bytes, params: dict) -> ParseResult:
    """A CAD's own JSON through the source's mapping: the shared JSON reader and `convert_record`, as for a
    file import; `units` and `narrative` (lists or one text) are this protocol's own fields."""
    from apps.intake.errors import RowError
    from apps.intake.mapping import convert_record

    from .cad_csv import FEED_FIELDS, incident_from_kwargs
    from .mapped import extra_columns, feed_mapping_spec, mapped_payload, rejection

    spec, extras = feed_mapping_spec(params, extra_fields=FEED_FIELDS)
    data = load_json(payload)
    default_path = "incidents" if isinstance(data, dict) and isinstance(data.get("incidents"), list) else None
    result = ParseResult()
    with mapped_payload(payload, fmt="json", spec=spec, layer="incidents", json_path=default_path) as (mapping, opened):
        own = extra_columns(extras, FEED_FIELDS, opened.columns)
        for record in opened.records:
            try:
                kwargs = convert_record(record=record, mapping=mapping)
                incident = incident_from_kwargs(kwargs, own=own)
                values = record.values
                units = next((values[c] for c in own.get("units", ()) if values.get(c) not in (None, "", [])), None)
                narrative = next(
                    (values[c] for c in own.get("narrative", ()) if values.get(c) not in (None, "", [])), None
                )
                incident = replace(
                    incident,
                    unit_refs=unit_refs([u for u in UNIT_SPLIT.split(units) if u] if isinstance(units, str) else units),
                    narrative=narrative_lines(narrative, incident.received_at),
                )
            except RecordError as exc:
                result.rejected.append(rejection(record, RowError(str(exc), field=exc.field)))
            except RowError as exc:
                result.rejected.append(rejection(record, exc))
            else:
                result.records.append(incident)
    return result
