"""Writes to units: AVL fixes in batches, idempotent and order-safe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet

from apps.core.geo import SRID
from apps.core.publish import delete_published, publish

from .choices import UnitIdMode, UnitKind
from .models import Unit, UnitIdentity

# Every refusal for a unit id that names more than one unit starts so (here and in adapters that see
# the clash inside one payload), so the ingest report and the source's counters can count them.
AMBIGUOUS = "ambiguous unit id"


def ambiguous_reason(ref: str, detail: str) -> str:
    return f"{AMBIGUOUS} {ref!r}: {detail}; not put on any unit"


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
    unknown: list[int] = field(default_factory=list)  # indexes of fixes not put on a unit (see refused)
    refused: dict[str, str] = field(default_factory=dict)  # unit ref -> why no unit was chosen
    ambiguous: set[str] = field(default_factory=set)  # refs that matched more than one unit
    created: list[Unit] = field(default_factory=list)  # units this batch introduced
    moved: list[Unit] = field(default_factory=list)  # units whose latest position changed

    @property
    def updated(self) -> int:
        """Units that existed before this batch and moved."""
        created = {u.pk for u in self.created}
        return sum(1 for u in self.moved if u.pk not in created)


@dataclass
class Resolution:
    """Which unit each ref names. A ref is in exactly one of `units` and `refused`."""

    units: dict[str, Unit] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # ref -> reason (unknown, retired, ambiguous)
    ambiguous: set[str] = field(default_factory=set)
    created: list[Unit] = field(default_factory=list)


def units_resolve(
    *, agency_id: int, namespace: str, fixes: Sequence[Fix], mode: str = UnitIdMode.DEVICE, auto_create: bool = False
) -> Resolution:
    """The one unit each fix's `unit_ref` names, or the reason there is none. Never a guess.

    In order: (1) this source's identities (`UnitIdentity` in `namespace`); (2) a unit whose configured
    `device_id` is the ref; (3) only when the source's ids are our call signs (`mode=call_sign`), the
    unit with that call sign. A ref that (2) and (3) point at more than one unit is ambiguous and
    refused with the units it matched. A ref nothing matches is unknown, or with `auto_create` a new
    unit bound to the ref in `namespace` (its call sign is the fix's label when free; the unit's
    `device_id` stays the admin's, so another source's same id never lands on it).
    """
    result = Resolution()
    refs = list(dict.fromkeys(f.unit_ref for f in fixes))
    if namespace:
        for identity in UnitIdentity.objects.filter(
            namespace=namespace, external_id__in=refs, unit__agency_id=agency_id
        ).select_related("unit"):
            if identity.unit.active:
                result.units[identity.external_id] = identity.unit
            else:
                retired = identity.unit.call_sign
                result.refused[identity.external_id] = f"unit {retired!r} ({identity.external_id!r}) is retired"
    remaining = [r for r in refs if r not in result.units and r not in result.refused]
    candidates: dict[str, list[tuple[Unit, str]]] = {r: [] for r in remaining}
    if remaining:
        by_ref = Q(device_id__in=remaining)
        if mode == UnitIdMode.CALL_SIGN:
            by_ref |= Q(call_sign__in=remaining)
        for unit in Unit.objects.filter(agency_id=agency_id, active=True).filter(by_ref).order_by("pk"):
            if unit.device_id in candidates:
                candidates[unit.device_id].append((unit, "device id"))
            if mode == UnitIdMode.CALL_SIGN and unit.call_sign in candidates:
                if all(u.pk != unit.pk for u, _ in candidates[unit.call_sign]):
                    candidates[unit.call_sign].append((unit, "call sign"))
    first_fix = {}
    for fix in fixes:
        first_fix.setdefault(fix.unit_ref, fix)
    for ref in remaining:
        matched = candidates[ref]
        if len(matched) == 1:
            result.units[ref] = matched[0][0]
        elif len(matched) > 1:
            names = ", ".join(f"{how} of {unit.call_sign!r}" for unit, how in matched)
            result.refused[ref] = ambiguous_reason(ref, f"it is the {names}")
            result.ambiguous.add(ref)
        elif auto_create and namespace:
            try:
                unit = _unit_introduce(agency_id=agency_id, namespace=namespace, fix=first_fix[ref])
            except ValueError as exc:  # this ref's fixes are refused with the reason, not the batch
                result.refused[ref] = str(exc)
                continue
            result.units[ref] = unit
            result.created.append(unit)
        else:
            result.refused[ref] = f"unknown unit {ref!r}"
    return result


def _free_call_sign(agency_id: int, fix: Fix) -> str:
    """The fix's label, else its id, else the label with a number: a call sign no unit of the agency has."""
    base = (fix.call_sign or fix.unit_ref)[:32]
    wanted = [base, fix.unit_ref[:32]]
    taken = set(Unit.objects.filter(agency_id=agency_id, call_sign__in=wanted).values_list("call_sign", flat=True))
    for candidate in wanted:
        if candidate not in taken:
            return candidate
    for n in range(2, 10_000):
        candidate = f"{base[: 32 - len(str(n)) - 1]}~{n}"
        if not Unit.objects.filter(agency_id=agency_id, call_sign=candidate).exists():
            return candidate
    raise ValueError(f"no free call sign for unit {fix.unit_ref!r}")


def _unit_introduce(*, agency_id: int, namespace: str, fix: Fix) -> Unit:
    """A new unit for a ref a source introduced, bound to it in the source's namespace."""
    external_id = fix.unit_ref[:128]
    for _attempt in range(3):
        try:
            with transaction.atomic():
                unit = Unit.objects.create(
                    agency_id=agency_id,
                    call_sign=_free_call_sign(agency_id, fix),
                    kind=fix.kind if fix.kind in UnitKind.values else UnitKind.OTHER,
                )
                UnitIdentity.objects.create(unit=unit, namespace=namespace, external_id=external_id)
            return unit
        except IntegrityError:
            # Another ingest introduced this id a moment ago (use its unit), or took the call sign we
            # picked (pick again).
            identity = (
                UnitIdentity.objects.filter(namespace=namespace, external_id=external_id).select_related("unit").first()
            )
            if identity is not None:
                if identity.unit.agency_id != agency_id:
                    # The source moved to another agency: its old bindings never put a fix on that agency's unit.
                    raise ValueError(
                        f"unit id {fix.unit_ref!r} of this source is bound to unit {identity.unit.call_sign!r} of "
                        "another agency; move or delete that binding (admin: Units)"
                    ) from None
                return identity.unit
    raise ValueError(f"could not introduce a unit for {fix.unit_ref!r}: its call sign kept being taken")


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
    *,
    agency_id: int,
    fixes: Sequence[Fix],
    source: str = "",
    namespace: str = "",
    mode: str = UnitIdMode.DEVICE,
    auto_create: bool = False,
) -> FixesResult:
    """Store a batch of fixes in one statement; move each unit to its newest fix.

    Each fix goes on the one unit `units_resolve` finds for its ref (in `namespace`, by `mode`); a fix
    whose ref names no unit, or more than one, is listed in `unknown` with the reason in `refused`.

    Idempotent: a fix already stored (same unit, same instant) is a duplicate and changes nothing.
    Order-safe: a fix older than the unit's latest position goes to history but never moves the unit.
    """
    result = FixesResult()
    resolution = units_resolve(
        agency_id=agency_id, namespace=namespace, fixes=fixes, mode=mode, auto_create=auto_create
    )
    units = resolution.units
    result.refused, result.ambiguous, result.created = resolution.refused, resolution.ambiguous, resolution.created
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


def unit_publish(*, unit: Unit, previous_agency_id: int | None = None) -> None:
    """Put the unit on the maps as it now is: an active unit is upserted, a retired one removed (the layer
    lists active units only). Moved to another agency, it leaves the old agency's maps too."""
    if previous_agency_id is not None and previous_agency_id != unit.agency_id:
        publish(layer="units", removed_id=unit.pk, agency_id=previous_agency_id)
    if unit.active:
        publish(layer="units", instance=unit)
    else:
        publish(layer="units", removed_id=unit.pk, agency_id=unit.agency_id)


@transaction.atomic
def unit_save(*, unit: Unit) -> Unit:
    """Save a unit edited as a whole (the admin's form has set and validated its fields) and push it to the
    maps (moved to another agency, off the old agency's maps)."""
    previous_agency_id = Unit.objects.filter(pk=unit.pk).values_list("agency_id", flat=True).first()
    unit.save()
    unit_publish(unit=unit, previous_agency_id=previous_agency_id)
    return unit


@transaction.atomic
def units_delete(*, units: QuerySet[Unit]) -> int:
    """Delete these units (their position history with them) and take them off the maps; returns how many."""
    return delete_published(layer="units", queryset=units)


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
    unit_publish(unit=unit)  # a roster that retires a unit takes it off the maps
    return unit, created
