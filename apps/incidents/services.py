"""Writes to incidents: create or update by CAD number, narrative lines."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.contrib.gis.geos import Point
from django.db import transaction
from django.db.models import QuerySet

from apps.core.publish import delete_published, publish
from apps.zones.choices import ZoneKind
from apps.zones.models import Zone
from apps.zones.selectors import zone_containing

from .choices import OPEN_STATUSES, CallSource, IncidentStatus
from .locations import address_is_masked, split_call_signs
from .models import Incident, NarrativeEntry

UPDATABLE = (
    "type_code",
    "type_description",
    "priority",
    "status",
    "address",
    "location",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "closed_at",
    "source",
    "call_source",
    "disposition",
    "location_approximate",
    "attributes",
    "unit_call_signs",
)


class IncidentChange(NamedTuple):
    incident: Incident
    created: bool
    changed: bool  # False when the record said nothing new


def incident_upsert(**kwargs) -> tuple[Incident, bool]:
    """Create the incident or update the one with this CAD number; returns (incident, created).
    Takes the keyword arguments of `incident_apply`."""
    change = incident_apply(**kwargs)
    return change.incident, change.created


@transaction.atomic
def incident_apply(
    *,
    agency_id: int,
    cad_number: str,
    type_code: str,
    location: Point | None,
    received_at: datetime,
    type_description: str = "",
    priority: int = 3,
    status: str = IncidentStatus.PENDING,
    address: str = "",
    dispatched_at: datetime | None = None,
    on_scene_at: datetime | None = None,
    closed_at: datetime | None = None,
    source: str = "",
    call_source: str = CallSource.UNKNOWN,
    disposition: str = "",
    location_approximate: bool = False,
    attributes: dict | None = None,
    unit_call_signs: list[str] | None = None,
    units: str = "",
    beat_code: str = "",
) -> IncidentChange:
    """Create the incident or update the one with this CAD number, and push it to the maps.

    `attributes` (the source's unmapped columns) are merged into what the incident has, and
    `unit_call_signs` added to the ones it has: a later record of the same call adds, never forgets.
    A block-masked address ("11XX BATES ST") makes the location approximate whatever the caller says.
    Without a location, the agency's beat `beat_code` places the call (approximately). `units` is a CAD
    cell of call signs ("E5, M12"); the fields are those of the incidents import (apps.intake.specs)."""
    if not cad_number:
        raise ValueError("cad_number is required")
    if not 1 <= int(priority) <= 9:
        raise ValueError(f"priority must be 1..9, got {priority}")
    if status not in IncidentStatus.values:
        raise ValueError(f"status must be one of {', '.join(IncidentStatus.values)}, got {status!r}")
    if call_source not in CallSource.values:
        raise ValueError(f"call_source must be one of {', '.join(CallSource.values)}, got {call_source!r}")
    beat = None
    if location is None:
        if beat_code:
            beat = Zone.objects.filter(agency_id=agency_id, kind=ZoneKind.BEAT, code=beat_code).first()
        if beat is None:
            where = f", and beat {beat_code!r} is not one of the agency's beats" if beat_code else " and no beat"
            raise ValueError(f"no location: no coordinates{where}")
        location, location_approximate = beat.geom.point_on_surface, True
    unit_call_signs = [*(unit_call_signs or ()), *split_call_signs(units)]
    values = {
        "type_code": type_code,
        "type_description": type_description,
        "priority": int(priority),
        "status": status,
        "address": address,
        "location": location,
        "received_at": received_at,
        "dispatched_at": dispatched_at,
        "on_scene_at": on_scene_at,
        "closed_at": closed_at,
        "source": source,
        "call_source": call_source,
        "disposition": disposition,
        "location_approximate": bool(location_approximate) or address_is_masked(address),
    }
    incident = Incident.objects.select_for_update().filter(agency_id=agency_id, cad_number=cad_number).first()
    created = incident is None
    if created:
        incident = Incident(agency_id=agency_id, cad_number=cad_number)
    values["attributes"] = {**incident.attributes, **(attributes or {})}
    values["unit_call_signs"] = sorted({*incident.unit_call_signs, *(unit_call_signs or ())})
    if not created and not _differs(incident, values):
        # The same message twice changes nothing (no write, no update pushed to the maps).
        return IncidentChange(incident, False, False)
    for field in UPDATABLE:
        setattr(incident, field, values[field])
    incident.beat = beat or zone_containing(agency_id=agency_id, point=location, kind=ZoneKind.BEAT)
    incident.save()
    publish(layer="incidents", instance=incident)
    return IncidentChange(incident, created, True)


def _differs(incident: Incident, values: dict) -> bool:
    for field, value in values.items():
        current = getattr(incident, field)
        if field == "location":
            if not current.equals_exact(value, tolerance=1e-9):
                return True
        elif current != value:
            return True
    return False


@transaction.atomic
def incident_save(*, incident: Incident, relocated: bool = False) -> Incident:
    """Save an incident edited as a whole (the admin's form has set and validated its fields) and push it
    to the maps (moved to another agency, off the old agency's maps). `relocated`: its location changed and
    its beat was not chosen by hand, so the beat is the one covering the new location. A block-masked
    address makes the location approximate, as on import."""
    previous_agency_id = Incident.objects.filter(pk=incident.pk).values_list("agency_id", flat=True).first()
    if address_is_masked(incident.address):
        incident.location_approximate = True
    if relocated:
        incident.beat = zone_containing(agency_id=incident.agency_id, point=incident.location, kind=ZoneKind.BEAT)
    incident.save()
    if previous_agency_id is not None and previous_agency_id != incident.agency_id:
        publish(layer="incidents", removed_id=incident.pk, agency_id=previous_agency_id)
    publish(layer="incidents", instance=incident)
    return incident


@transaction.atomic
def incidents_delete(*, incidents: QuerySet[Incident]) -> int:
    """Delete these incidents (narrative with them) and take them off the maps; returns how many."""
    return delete_published(layer="incidents", queryset=incidents)


def incident_set_attribute(*, agency_id: int, cad_number: str, key: str, value) -> Incident | None:
    """Set one of the incident's `attributes` (a feed's service-area flag) and push it to the maps; None
    when there is no such incident. Nothing is written when it already has that value."""
    incident = Incident.objects.filter(agency_id=agency_id, cad_number=cad_number).first()
    if incident is not None and incident.attributes.get(key) != value:
        incident.attributes = {**incident.attributes, key: value}
        incident.save(update_fields=["attributes", "updated_at"])
        publish(layer="incidents", instance=incident)
    return incident


def incident_sync_narrative(*, incident: Incident, lines: list[tuple[datetime, str, str]]) -> int:
    """Add the (entered_at, text, author) lines the incident does not have yet; returns how many."""
    have = set(incident.narrative.values_list("entered_at", "text"))
    new = [
        NarrativeEntry(incident=incident, entered_at=at, text=text.strip(), author=author[:100])
        for at, text, author in lines
        if text.strip() and (at, text.strip()) not in have
    ]
    NarrativeEntry.objects.bulk_create(new)
    return len(new)


def incident_assign_units(*, incident: Incident, call_signs: list[str]) -> list[str]:
    """Assign the agency's units with these call signs; returns the call signs it does not know."""
    from apps.units.models import Unit

    units = list(Unit.objects.filter(agency_id=incident.agency_id, call_sign__in=call_signs))
    incident.assigned_units.add(*units)
    known = {u.call_sign for u in units}
    return [c for c in call_signs if c not in known]


# What an assigned unit's status becomes when its incident reaches a status (CAD semantics).
_UNIT_STATUS_FOR = {
    IncidentStatus.DISPATCHED: "dispatched",
    IncidentStatus.ON_SCENE: "on_scene",
}


def incident_sync_unit_status(*, incident: Incident) -> None:
    """Assigned units follow their incident: dispatched, on scene, and available again when it
    closes (unless another open incident still holds them). Out-of-service units are left alone."""
    from apps.units.services import unit_set_status

    for unit in incident.assigned_units.exclude(status="out_of_service"):
        if incident.status == IncidentStatus.CLOSED:
            busy = unit.incidents.filter(status__in=OPEN_STATUSES).exclude(pk=incident.pk).exists()
            wanted = None if busy else "available"
        else:
            wanted = _UNIT_STATUS_FOR.get(incident.status)
        if wanted and unit.status != wanted:
            unit_set_status(unit=unit, status=wanted)


def incident_add_narrative(*, incident: Incident, text: str, entered_at: datetime, author: str = "") -> NarrativeEntry:
    if not text.strip():
        raise ValueError("narrative text is empty")
    return NarrativeEntry.objects.create(incident=incident, text=text.strip(), entered_at=entered_at, author=author)
