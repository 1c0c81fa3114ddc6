"""Writes to ALPR: record a read, matching it against the hotlists (a hit raises an alert); reader
sites and hotlist entries from files."""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.contrib.gis.geos import Point
from django.db import transaction
from django.utils import timezone

from apps.core.publish import publish
from apps.sensors.choices import AlertKind
from apps.sensors.services import alert_raise

from .choices import SiteKind
from .directions import parse_direction, sector_centre
from .models import AlprRead, AlprSite, Hotlist, HotlistEntry, normalize_plate
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


def alpr_site_upsert(
    *,
    agency_id: int,
    location: Point,
    external_id: str = "",
    name: str = "",
    kind: str = SiteKind.FIXED,
    direction: str | float | None = None,
    operator: str = "",
    manufacturer: str = "",
    surveillance_type: str = "",
    active: bool = True,
    attributes: dict | None = None,
) -> tuple[AlprSite, bool]:
    """Create or update a reader site, matched by its external id (e.g. OSM `node/123`) when it has one.

    `direction` is read as OSM writes it (see apps.alpr.directions): the site keeps every view in
    `view` and the first view's centre in `direction`; none means it looks all round.
    """
    if surveillance_type and surveillance_type.strip().casefold() != "alpr":
        raise ValueError(f"surveillance:type is {surveillance_type!r}, not ALPR: not a plate reader")
    if kind not in SiteKind.values:
        raise ValueError(f"kind must be one of {', '.join(SiteKind.values)}, got {kind!r}")
    views = parse_direction(direction)
    extra = {key: value for key, value in (("operator", operator), ("manufacturer", manufacturer)) if value}
    label = name or " ".join(part for part in ("ALPR", manufacturer or operator, external_id) if part)
    defaults = {
        "name": label[:200],
        "kind": kind,
        "location": location,
        "direction": sector_centre(views[0]) if views else None,
        "view": [list(sector) for sector in views],
        "active": active,
        "attributes": {**extra, **(attributes or {})},
    }
    # External ids are not unique in the table (sites entered by hand may share one): the oldest one is updated.
    site = (
        AlprSite.objects.filter(agency_id=agency_id, external_id=external_id).order_by("id").first()
        if external_id
        else None
    )
    if site is None:
        return AlprSite.objects.create(agency_id=agency_id, external_id=external_id, **defaults), True
    for name, value in defaults.items():
        setattr(site, name, value)
    site.save()
    return site, False


def hotlist_entry_upsert(
    *,
    agency_id: int,
    hotlist: str,
    plate: str,
    state: str = "",
    reason: str = "",
    expires_at: datetime | None = None,
    active: bool = True,
    source: str = "",
) -> tuple[HotlistEntry, bool]:
    """Put a plate on the agency's hotlist named `hotlist` (created on first use), or update its entry: one
    entry per plate and state on a list. Importing a hotlist raises no alert: hits happen when reads match."""
    plate_n = normalize_plate(plate)
    if not 1 <= len(plate_n) <= 16:
        raise ValueError(f"plate must have 1..16 letters or digits, got {plate!r}")
    state = (state or "").strip().upper()
    if len(state) > 8:
        raise ValueError(f"state {state!r} is longer than 8 characters")
    name = hotlist.strip()
    if not name:
        raise ValueError("hotlist name is empty")
    hotlist_obj, _ = Hotlist.objects.get_or_create(
        agency_id=agency_id, name=name[:200], defaults={"source": (source or "")[:100]}
    )
    return HotlistEntry.objects.update_or_create(
        hotlist=hotlist_obj,
        plate=plate_n,
        state=state,
        defaults={
            "reason": (reason.strip() or name)[:200],
            "expires_at": expires_at,
            "active": active,
            "seen_at": timezone.now(),
        },
    )


def hotlist_retire_unlisted(*, agency_id: int, since: datetime) -> int:
    """After importing a full hotlist: deactivate the entries of the lists it touched that it did not list
    (not seen since `since`). Returns how many were retired."""
    touched = Hotlist.objects.filter(agency_id=agency_id, entries__seen_at__gte=since).values("pk")
    unlisted = HotlistEntry.objects.filter(hotlist__in=touched, active=True).exclude(seen_at__gte=since)
    return unlisted.update(active=False)
