"""Bulk writes of incidents: one INSERT ... ON CONFLICT per chunk instead of a round trip per row.

`incident_bulk_upsert()` takes a chunk of rows (the keyword arguments `incident_apply` takes), writes them
with one statement and says per row whether it created, updated or left the incident unchanged:

* rows of the same CAD number in one chunk (Dallas writes one row per responding unit) are merged first,
  in file order, so a call is written once and collects every unit the rows name;
* the beat is looked up in the same statement (ST_Covers on the agency's beats), and a row without
  coordinates but with a beat code the agency knows is placed on that beat and marked approximate;
* `ON CONFLICT ... DO UPDATE ... WHERE (the row differs)` leaves an identical incident alone: no write, no
  live update, counted as unchanged; `xmax = 0` in RETURNING tells an insert from an update;
* the chunk runs in a savepoint; if the database refuses it, each call is retried alone, so a bad row
  only loses itself.

Nothing is published here: the caller publishes the changed ids (`incident_publish_changes`), per row
for a small import, one `layer.reloaded` event (a resync on the maps) for a bulk one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from django.contrib.gis.geos import Point
from django.db import DatabaseError, connection, transaction

from apps.core.geo import LonLat
from apps.core.publish import publish, publish_reload
from apps.zones.choices import ZoneKind
from apps.zones.models import Zone

from .choices import CallSource, IncidentStatus
from .locations import address_is_masked, split_call_signs
from .models import Incident

# Up to this many changed incidents an import publishes each one; above, one reload for the layer.
LIVE_ROWS_MAX = 50

_COLUMNS = (  # (name, SQL type in jsonb_to_recordset)
    ("cad_number", "text"),
    ("type_code", "text"),
    ("type_description", "text"),
    ("priority", "smallint"),
    ("status", "text"),
    ("call_source", "text"),
    ("disposition", "text"),
    ("address", "text"),
    ("lon", "float8"),
    ("lat", "float8"),
    ("location_approximate", "boolean"),
    ("beat_id", "bigint"),
    ("received_at", "timestamptz"),
    ("dispatched_at", "timestamptz"),
    ("on_scene_at", "timestamptz"),
    ("closed_at", "timestamptz"),
    ("unit_call_signs", "text[]"),
    ("attributes", "jsonb"),
)
# Compared to tell an update from an unchanged row; attributes and units only ever grow (merged).
_COMPARED = (
    "type_code",
    "type_description",
    "priority",
    "status",
    "call_source",
    "disposition",
    "address",
    "location",
    "location_approximate",
    "beat_id",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "closed_at",
    "source",
)

_INSERTED = [name for name, _ in _COLUMNS if name not in ("lon", "lat")]
_BEAT = (
    "COALESCE(r.beat_id, (SELECT z.id FROM zones_zone z WHERE z.agency_id = %(agency)s"
    f" AND z.kind = '{ZoneKind.BEAT}' AND ST_Covers(z.geom, p.pt) ORDER BY z.id LIMIT 1))"
)
_UNITS = "ARRAY(SELECT DISTINCT u FROM unnest(i.unit_call_signs || EXCLUDED.unit_call_signs) AS u ORDER BY u)"
_UPSERT = f"""
INSERT INTO incidents_incident AS i (
    created_at, updated_at, agency_id, source, legal_hold, location, {", ".join(_INSERTED)}
)
SELECT now(), now(), %(agency)s, %(source)s, false, p.pt,
    {", ".join(_BEAT if name == "beat_id" else f"r.{name}" for name in _INSERTED)}
FROM jsonb_to_recordset(%(rows)s::jsonb) AS r({", ".join(f"{n} {t}" for n, t in _COLUMNS)})
CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_MakePoint(r.lon, r.lat), 4326) AS pt) AS p
ON CONFLICT (agency_id, cad_number) DO UPDATE SET
    updated_at = now(),
    {", ".join(f"{n} = EXCLUDED.{n}" for n in _COMPARED)},
    attributes = i.attributes || EXCLUDED.attributes,
    unit_call_signs = {_UNITS}
WHERE ({", ".join(f"i.{n}" for n in _COMPARED)}) IS DISTINCT FROM ({", ".join(f"EXCLUDED.{n}" for n in _COMPARED)})
    OR NOT i.attributes @> EXCLUDED.attributes
    OR NOT i.unit_call_signs @> EXCLUDED.unit_call_signs
RETURNING i.id, i.cad_number, (i.xmax = 0) AS created, cardinality(i.unit_call_signs) > 0 AS has_units
"""


class Refused(NamedTuple):
    """Why the writer refused a row, and the field at fault ("" when the database refused the row)."""

    reason: str
    field: str = ""


class _RowError(ValueError):
    def __init__(self, reason: str, field: str) -> None:
        super().__init__(reason)
        self.field = field


@dataclass
class BulkOutcome:
    """What one chunk did: per-row outcomes, the ids that changed, and the rows refused with why."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    changed_ids: list[int] = field(default_factory=list)
    with_units: list[int] = field(default_factory=list)  # changed ids whose incident names call signs
    rejected: dict[int, Refused] = field(default_factory=dict)  # position in the chunk -> why


@dataclass
class _Call:
    """The rows of one CAD number in a chunk, merged in file order."""

    values: dict[str, Any]
    positions: list[int]
    changed_after_first: list[bool]


_STATUSES = frozenset(IncidentStatus.values)
_CALL_SOURCES = frozenset(CallSource.values)


def _check(row: dict[str, Any]) -> None:
    if not row.get("cad_number"):
        raise _RowError("cad_number is required", "cad_number")
    if not row.get("type_code"):
        raise _RowError("type_code is required", "type_code")
    try:
        priority = int(row.get("priority", 3))
    except (TypeError, ValueError):
        raise _RowError(f"priority must be 1..9, got {row['priority']!r}", "priority") from None
    if not 1 <= priority <= 9:
        raise _RowError(f"priority must be 1..9, got {row['priority']}", "priority")
    if row.get("status", IncidentStatus.PENDING) not in _STATUSES:
        raise _RowError(f"status must be one of {', '.join(IncidentStatus.values)}, got {row['status']!r}", "status")
    if row.get("call_source", CallSource.UNKNOWN) not in _CALL_SOURCES:
        choices = ", ".join(CallSource.values)
        raise _RowError(f"call_source must be one of {choices}, got {row['call_source']!r}", "call_source")


def _normalise(row: dict[str, Any], beats: dict[str, tuple[int, Point]]) -> dict[str, Any]:
    """A service row -> the recordset row (plain JSON values). Its location may be a GEOS Point or the
    importer's LonLat (apps.core.geo): only `.x` and `.y` are read."""
    location: Point | LonLat | None = row.get("location")
    beat_id = None
    approximate = bool(row.get("location_approximate")) or address_is_masked(row.get("address") or "")
    if location is None:
        code = row.get("beat_code")
        if not code:
            raise _RowError("no location: no coordinates and no beat", "location")
        if code not in beats:
            raise _RowError(
                f"no location: no coordinates, and beat {code!r} is not one of the agency's beats", "beat_code"
            )
        beat_id, location = beats[code]
        approximate = True  # the beat's inner point, not where the call was
    given, units = row.get("unit_call_signs"), row.get("units")
    signs = sorted({*(given or ()), *split_call_signs(units or "")}) if given or units else []
    for sign in signs:
        if len(sign) > 64:
            raise _RowError(f"unit call sign {sign[:20]!r}... is longer than 64 characters", "units")
    out: dict[str, Any] = {
        "cad_number": row["cad_number"],
        "type_code": row["type_code"],
        "type_description": row.get("type_description") or "",
        "priority": int(row.get("priority", 3)),
        "status": row.get("status", IncidentStatus.PENDING),
        "call_source": row.get("call_source", CallSource.UNKNOWN),
        "disposition": row.get("disposition") or "",
        "address": row.get("address") or "",
        "lon": location.x,
        "lat": location.y,
        "location_approximate": approximate,
        "beat_id": beat_id,
        "unit_call_signs": signs,
        "attributes": dict(row.get("attributes") or {}),
    }
    for name in ("received_at", "dispatched_at", "on_scene_at", "closed_at"):
        value: datetime | None = row.get(name)
        out[name] = value.isoformat() if value is not None else None
    return out


def _merge(into: dict[str, Any], row: dict[str, Any]) -> bool:
    """Apply a later row of the same call; True if it changed anything."""
    before = json.dumps(into, sort_keys=True)
    for name, value in row.items():
        if name == "unit_call_signs":
            into[name] = sorted({*into[name], *value})
        elif name == "attributes":
            into[name] = {**into[name], **value}
        else:
            into[name] = value
    return json.dumps(into, sort_keys=True) != before


def _beats(agency_id: int, rows: list[dict[str, Any]]) -> dict[str, tuple[int, Point]]:
    codes = {row["beat_code"] for row in rows if row.get("location") is None and row.get("beat_code")}
    if not codes:
        return {}
    found = Zone.objects.filter(agency_id=agency_id, kind=ZoneKind.BEAT, code__in=codes).values_list(
        "code", "id", "geom"
    )
    return {code: (pk, geom.point_on_surface) for code, pk, geom in found}


def _execute(agency_id: int, source: str, calls: list[_Call]) -> dict[str, tuple[int, bool, bool]]:
    """Run the upsert for these calls; cad_number -> (id, created, has call signs) for those it wrote."""
    with connection.cursor() as cursor:
        cursor.execute(
            _UPSERT, {"agency": agency_id, "source": source, "rows": json.dumps([call.values for call in calls])}
        )
        return {cad: (pk, created, has_units) for pk, cad, created, has_units in cursor.fetchall()}


_LINK_UNITS = """
INSERT INTO incidents_incident_assigned_units (incident_id, unit_id)
SELECT i.id, u.id FROM incidents_incident AS i
JOIN units_unit AS u ON u.agency_id = i.agency_id AND u.call_sign = ANY(i.unit_call_signs)
WHERE i.id = ANY(%(ids)s)
ON CONFLICT DO NOTHING
"""


def incident_bulk_upsert(*, agency_id: int, rows: list[dict[str, Any]], source: str = "") -> BulkOutcome:
    """Create or update the incidents of one chunk of rows (must run inside a transaction)."""
    outcome = BulkOutcome()
    calls: dict[str, _Call] = {}
    beats = _beats(agency_id, rows)
    for position, row in enumerate(rows):
        try:
            _check(row)
            values = _normalise(row, beats)
        except (ValueError, TypeError) as exc:
            outcome.rejected[position] = Refused(str(exc), getattr(exc, "field", ""))
            continue
        call = calls.get(values["cad_number"])
        if call is None:
            calls[values["cad_number"]] = _Call(values=values, positions=[position], changed_after_first=[])
        else:
            call.positions.append(position)
            call.changed_after_first.append(_merge(call.values, values))
    todo = list(calls.values())
    written: dict[str, tuple[int, bool, bool]] = {}
    try:
        with transaction.atomic():
            written = _execute(agency_id, source, todo)
    except DatabaseError:
        # One row the database refuses (a value no check above foresaw) costs only its own call.
        for call in todo:
            try:
                with transaction.atomic():
                    written |= _execute(agency_id, source, [call])
            except DatabaseError as exc:
                reason = f"refused by the database: {str(exc).strip().splitlines()[0]}"
                for position in call.positions:
                    outcome.rejected[position] = Refused(reason)
                call.positions = []
    for call in todo:
        if not call.positions:
            continue
        result = written.get(call.values["cad_number"])
        if result is None:
            # The stored incident already had everything these rows say, the later rows' units included.
            outcome.unchanged += len(call.positions)
            continue
        outcome.changed_ids.append(result[0])
        if result[2]:
            outcome.with_units.append(result[0])
        if result[1]:
            outcome.created += 1
        else:
            outcome.updated += 1
        for changed in call.changed_after_first:
            if changed:
                outcome.updated += 1
            else:
                outcome.unchanged += 1
    if outcome.with_units:
        # The call signs the incidents name that are units of the agency become their assigned units. (Only
        # for those naming any: a chunk without call signs skips the statement, whose scan of a table that
        # grows during the import went unplanned and cost more than the upsert on a 50,000-row file.)
        with connection.cursor() as cursor:
            cursor.execute(_LINK_UNITS, {"ids": outcome.with_units})
    return outcome


def incident_publish_changes(*, agency_id: int, ids: list[int]) -> None:
    """Tell the maps about an import's changes: each incident for a few, one reload of the layer for many."""
    if not ids:
        return
    if len(ids) > LIVE_ROWS_MAX:
        publish_reload(layer="incidents", agency_id=agency_id)
        return
    for incident in Incident.objects.filter(pk__in=ids).select_related("beat"):
        publish(layer="incidents", instance=incident)
