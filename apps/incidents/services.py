"""Writes to incidents: create or update by CAD number, narrative lines."""
from __future__ import annotations

from datetime import datetime

from django.contrib.gis.geos import Point
from django.db import transaction

from apps.zones.selectors import zone_containing

from .choices import IncidentStatus
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
)


@transaction.atomic
def incident_upsert(
    *,
    agency_id: int,
    cad_number: str,
    type_code: str,
    location: Point,
    received_at: datetime,
    type_description: str = "",
    priority: int = 3,
    status: str = IncidentStatus.PENDING,
    address: str = "",
    dispatched_at: datetime | None = None,
    on_scene_at: datetime | None = None,
    closed_at: datetime | None = None,
    source: str = "",
) -> tuple[Incident, bool]:
    """Create the incident or update the one with this CAD number; returns (incident, created)."""
    if not cad_number:
        raise ValueError("cad_number is required")
    if not 1 <= int(priority) <= 9:
        raise ValueError(f"priority must be 1..9, got {priority}")
    if status not in IncidentStatus.values:
        raise ValueError(f"status must be one of {', '.join(IncidentStatus.values)}, got {status!r}")
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
    }
    incident = Incident.objects.select_for_update().filter(agency_id=agency_id, cad_number=cad_number).first()
    created = incident is None
    if created:
        incident = Incident(agency_id=agency_id, cad_number=cad_number)
    for field in UPDATABLE:
        setattr(incident, field, values[field])
    beat = zone_containing(agency_id=agency_id, point=location, kind="beat")
    incident.beat = beat
    incident.save()
    return incident, created


def incident_add_narrative(*, incident: Incident, text: str, entered_at: datetime, author: str = "") -> NarrativeEntry:
    if not text.strip():
        raise ValueError("narrative text is empty")
    return NarrativeEntry.objects.create(incident=incident, text=text.strip(), entered_at=entered_at, author=author)
