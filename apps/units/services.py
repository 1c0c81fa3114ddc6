"""Writes to units: AVL fixes in batches, idempotent and order-safe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from apps.core.geo import SRID
from apps.live.publish import publish

from .choices import UnitKind
from .models import Unit


@dataclass(frozen=True)
class Fix:
    """One position report. `unit_ref` is the device id or call sign the source uses."""

    unit_ref: str
    lon: float
    lat: float
    recorded_at: datetime
    heading: float | None = None
    speed: float | None = None
    call_sign: str = ""
    kind: str = ""


@dataclass
class FixesResult:
    inserted: int = 0
    duplicates: int = 0
    unknown: list[int] = field(default_factory=list)  # indexes of fixes whose unit is unknown
    moved: list[Unit] = field(default_factory=list)  # units whose latest position changed


def units_resolve(*, agency_id: int, fixes: Sequence[Fix], auto_create: bool) -> dict[str, Unit]:
    """Unit for each ref: by device id first, then by call sign; new units only when allowed."""
    refs = {f.unit_ref for f in fixes}
    found: dict[str, Unit] = {}
    for unit in Unit.objects.filter(agency_id=agency_id, active=True).filter(
        Q(device_id__in=refs) | Q(call_sign__in=refs)
    ):
        if unit.device_id in refs:
            found[unit.device_id] = unit
        if unit.call_sign in refs:
            found.setdefault(unit.call_sign, unit)
    if auto_create:
        for fix in fixes:
            if fix.unit_ref in found:
                continue
            call_sign = (fix.call_sign or fix.unit_ref)[:32]
            if Unit.objects.filter(agency_id=agency_id, call_sign=call_sign).exists():
                call_sign = fix.unit_ref[:32]
            unit, _ = Unit.objects.get_or_create(
                agency_id=agency_id,
                call_sign=call_sign,
                defaults={
                    "device_id": fix.unit_ref,
                    "kind": fix.kind if fix.kind in UnitKind.values else UnitKind.OTHER,
                },
            )
            found[fix.unit_ref] = unit
    return found


_INSERT = f"""
INSERT INTO units_unitposition (unit_id, location, heading, speed, recorded_at, source)
SELECT u, ST_SetSRID(ST_MakePoint(x, y), {SRID}), h, s, t, %s
FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::timestamptz[])
     AS r(u, x, y, h, s, t)
ON CONFLICT (unit_id, recorded_at) DO NOTHING
RETURNING unit_id
"""
# Each unit to its newest fix of the batch, in one statement; a unit already at a newer (or the
# same) instant does not move (order-safe). Returns the units that moved.
_MOVE = f"""
UPDATE units_unit AS unit
SET last_location = ST_SetSRID(ST_MakePoint(r.x, r.y), {SRID}), last_heading = r.h, last_speed = r.s,
    last_seen = r.t
FROM unnest(%s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::float8[], %s::timestamptz[])
     AS r(u, x, y, h, s, t)
WHERE unit.id = r.u AND (unit.last_seen IS NULL OR unit.last_seen < r.t)
RETURNING unit.id
"""


@transaction.atomic
def unit_fixes_record(
    *, agency_id: int, fixes: Sequence[Fix], source: str = "", auto_create: bool = False
) -> FixesResult:
    """Store a batch of fixes in one statement; move each unit to its newest fix.

    Idempotent: a fix already stored (same unit, same instant) is a duplicate and changes nothing.
    Order-safe: a fix older than the unit's latest position goes to history but never moves the unit.
    """
    result = FixesResult()
    units = units_resolve(agency_id=agency_id, fixes=fixes, auto_create=auto_create)
    rows: dict[tuple[int, datetime], Fix] = {}
    for index, fix in enumerate(fixes):
        unit = units.get(fix.unit_ref)
        if unit is None:
            result.unknown.append(index)
            continue
        rows.setdefault((unit.pk, fix.recorded_at), fix)  # the same fix twice in one batch is one fix
    result.duplicates = sum(1 for f in fixes if f.unit_ref in units) - len(rows)
    if not rows:
        return result
    keys = list(rows)
    params = [
        source[:64],
        [k[0] for k in keys],
        [rows[k].lon for k in keys],
        [rows[k].lat for k in keys],
        [rows[k].heading for k in keys],
        [rows[k].speed for k in keys],
        [k[1] for k in keys],
    ]
    with connection.cursor() as cur:
        cur.execute(_INSERT, params)
        result.inserted = len(cur.fetchall())
    result.duplicates += len(rows) - result.inserted

    newest: dict[int, tuple[datetime, Fix]] = {}
    for (unit_id, at), fix in rows.items():
        if unit_id not in newest or at > newest[unit_id][0]:
            newest[unit_id] = (at, fix)
    ids = list(newest)
    with connection.cursor() as cur:
        cur.execute(
            _MOVE,
            [
                ids,
                [newest[u][1].lon for u in ids],
                [newest[u][1].lat for u in ids],
                [newest[u][1].heading for u in ids],
                [newest[u][1].speed for u in ids],
                [newest[u][0] for u in ids],
            ],
        )
        moved_ids = sorted(row[0] for row in cur.fetchall())
    if moved_ids:
        result.moved = list(Unit.objects.filter(pk__in=moved_ids).order_by("pk"))
        for unit in result.moved:
            publish(layer="units", instance=unit)
    return result


def unit_set_status(*, unit: Unit, status: str) -> Unit:
    from .choices import UnitStatus

    if status not in UnitStatus.values:
        raise ValueError(f"status must be one of {', '.join(UnitStatus.values)}, got {status!r}")
    unit.status = status
    unit.save(update_fields=["status", "updated_at"])
    publish(layer="units", instance=unit)
    return unit


def unit_upsert(
    *, agency_id: int, call_sign: str, kind: str = "", device_id: str = "", active: bool = True
) -> tuple[Unit, bool]:
    """Create or update a unit from a roster (a file import), matched by call sign. A kind or device id
    left empty keeps what the unit has (a new unit: patrol, no device)."""
    call_sign = call_sign.strip()
    if not call_sign:
        raise ValueError("call_sign is empty")
    if kind and kind not in UnitKind.values:
        raise ValueError(f"kind must be one of {', '.join(UnitKind.values)}, got {kind!r}")
    defaults: dict = {"active": active}
    if kind:
        defaults["kind"] = kind
    if device_id:
        clash = Unit.objects.filter(agency_id=agency_id, device_id=device_id).exclude(call_sign=call_sign).first()
        if clash is not None:
            raise ValueError(f"device_id {device_id!r} already reports for unit {clash.call_sign!r}")
        defaults["device_id"] = device_id
    unit, created = Unit.objects.update_or_create(agency_id=agency_id, call_sign=call_sign, defaults=defaults)
    publish(layer="units", instance=unit)
    return unit, created
