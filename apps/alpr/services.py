"""Writes to ALPR: record a read, matching it against the hotlists; a hit raises an alert."""
from __future__ import annotations

import hashlib
from datetime import datetime

from django.contrib.gis.geos import Point
from django.db import transaction

from apps.live.publish import publish
from apps.sensors.choices import AlertKind
from apps.sensors.services import alert_raise

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
) -> tuple[AlprRead, bool]:
    """Record a read once (the same plate at the same instant and place is one read); returns
    (read, created). A read matching an active hotlist entry is a hit and raises an alert."""
    plate_n = normalize_plate(plate)
    if not 1 <= len(plate_n) <= 16:
        raise ValueError(f"plate must have 1..16 letters or digits, got {plate!r}")
    where = (site.external_id or str(site.pk)) if site else f"{location.x:.6f},{location.y:.6f}"
    dedup_key = hashlib.sha256(f"{plate_n}|{read_at.isoformat()}|{where}".encode()).hexdigest()
    existing = AlprRead.objects.filter(agency_id=agency_id, dedup_key=dedup_key).first()
    if existing is not None:
        return existing, False
    hit = hotlist_match(agency_id=agency_id, plate=plate_n, state=state, at=read_at)
    read = AlprRead.objects.create(
        dedup_key=dedup_key,
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
        alert_raise(
            agency_id=agency_id,
            kind=AlertKind.HOTLIST_HIT,
            title=f"Hotlist hit: {plate_n} ({hit.reason})",
            detail=f"{hit.hotlist.name}; read at {site.name if site else 'mobile reader'}",
            location=location,
            raised_at=read_at,
            alpr_read=read,
        )
    publish(layer="alpr_reads", instance=read)
    return read, True
