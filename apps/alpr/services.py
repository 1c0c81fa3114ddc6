"""Writes to ALPR: record a read, matching it against the hotlists; a hit raises an alert."""
from __future__ import annotations

from datetime import datetime

from django.contrib.gis.geos import Point
from django.db import transaction

from apps.sensors.choices import AlertKind
from apps.sensors.models import Alert

from .models import AlprRead, AlprSite, normalize_plate
from .selectors import hotlist_match


@transaction.atomic
def alpr_read_record(
    *,
    agency_id: int,
    plate: str,
    read_at: datetime,
    location: Point,
    state: str = "",
    site: AlprSite | None = None,
    image_url: str = "",
) -> AlprRead:
    plate_n = normalize_plate(plate)
    if not 1 <= len(plate_n) <= 16:
        raise ValueError(f"plate must have 1..16 letters or digits, got {plate!r}")
    hit = hotlist_match(agency_id=agency_id, plate=plate_n, state=state, at=read_at)
    read = AlprRead.objects.create(
        agency_id=agency_id,
        plate=plate_n,
        state=(state or "").upper(),
        read_at=read_at,
        location=location,
        site=site,
        image_url=image_url,
        hit=hit,
    )
    if hit is not None:
        Alert.objects.create(
            agency_id=agency_id,
            kind=AlertKind.HOTLIST_HIT,
            title=f"Hotlist hit: {plate_n} ({hit.reason})",
            detail=f"{hit.hotlist.name}; read at {site.name if site else 'mobile reader'}",
            location=location,
            raised_at=read_at,
            alpr_read=read,
        )
    return read
