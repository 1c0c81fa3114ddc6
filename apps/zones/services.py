"""Writes to zones."""

from __future__ import annotations

import re

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import transaction
from django.db.models import QuerySet

from apps.core.geo import GeoInputError, repair_area
from apps.incidents.beats import incident_beats_fill, incident_beats_recompute
from apps.incidents.bulk import incident_publish_changes

from .choices import ZoneKind
from .models import Zone


def as_multipolygon(geom: GEOSGeometry) -> MultiPolygon:
    """A valid MultiPolygon for a zone; self-intersections are repaired without losing area."""
    try:
        return repair_area(geom)
    except GeoInputError as exc:
        raise ValueError(str(exc)) from None


GEOCODE = re.compile(r"^([A-Za-z][A-Za-z0-9_-]{0,15}):(\S{1,47})$")


def parse_geocodes(value: str | list[str] | None) -> list[str]:
    """Geocodes as Zone.geocodes keeps them: "SCHEME:value" with the scheme upper-cased, from a list or
    from text separated by ";", "," or spaces ("UGC:WAZ558; SAME:053033"). ValueError names a bad one."""
    if value is None:
        return []
    items = value if isinstance(value, list) else re.split(r"[;,\s]+", str(value))
    codes: dict[str, None] = {}
    for item in (str(i).strip() for i in items):
        if not item:
            continue
        match = GEOCODE.match(item)
        if not match:
            raise ValueError(f"geocode {item!r} is not SCHEME:value (e.g. UGC:WAZ558, SAME:053033, NUTS3:FR718)")
        codes[f"{match.group(1).upper()}:{match.group(2)}"] = None
    return list(codes)


def zone_upsert(
    *,
    agency_id: int,
    kind: str,
    code: str,
    geom: GEOSGeometry,
    name: str = "",
    parent: Zone | None = None,
    geocodes: str | list[str] | None = None,
    publish: bool = True,
) -> tuple[Zone, bool]:
    """Create or update the zone (agency, kind, code). `geocodes` (see parse_geocodes) replaces the
    zone's codes when given; left out, they stay as they were. The incidents a new beat takes reach the
    maps, unless `publish` is False (a file import, which reloads the incidents layer once at its end)."""
    if kind not in ZoneKind.values:
        raise ValueError(f"kind must be one of {', '.join(ZoneKind.values)}, got {kind!r}")
    if not code:
        raise ValueError("code is required")
    defaults = {"geom": as_multipolygon(geom), "name": name or code, "parent": parent}
    if geocodes is not None:
        defaults["geocodes"] = parse_geocodes(geocodes)
    zone, created = Zone.objects.update_or_create(agency_id=agency_id, kind=kind, code=code, defaults=defaults)
    if zone.kind == ZoneKind.BEAT:
        # Incidents imported before their beats get it now (only those with none: a redrawn beat map is
        # `manage.py recompute_beats`); the maps see their new beat.
        filled = incident_beats_fill(zone_id=zone.pk)
        if publish:
            incident_publish_changes(agency_id=zone.agency_id, ids=filled)
    return zone, created


@transaction.atomic
def zone_save(*, zone: Zone) -> Zone:
    """Save a zone edited as a whole (the admin's form has set and validated its fields). A beat's incidents
    follow it: those it held and those inside its new shape are put on the beat covering them now (in its
    old agency too, if it moved), and the maps see the change."""
    previous = Zone.objects.filter(pk=zone.pk).values_list("agency_id", "kind").first()
    zone.geom = as_multipolygon(zone.geom)
    zone.save()
    was_beat = previous is not None and previous[1] == ZoneKind.BEAT
    if zone.kind == ZoneKind.BEAT or was_beat:
        if previous is not None and previous[0] != zone.agency_id:
            # Moved to another agency: its old agency's incidents lose it.
            _beat_incidents_recompute(agency_id=previous[0], zone_id=zone.pk)
        _beat_incidents_recompute(agency_id=zone.agency_id, zone_id=zone.pk)
    return zone


@transaction.atomic
def zones_delete(*, zones: QuerySet[Zone]) -> int:
    """Delete these zones; the incidents a deleted beat held go on the beat covering them now (or none), on
    the maps too. Returns how many zones were deleted."""
    from apps.incidents.models import Incident

    gone = list(zones.values_list("pk", "agency_id", "kind"))
    held: dict[int, list[int]] = {}
    beats = [pk for pk, _agency, kind in gone if kind == ZoneKind.BEAT]
    for pk, agency_id in Incident.objects.filter(beat_id__in=beats).values_list("pk", "agency_id"):
        held.setdefault(agency_id, []).append(pk)
    Zone.objects.filter(pk__in=[pk for pk, _agency, _kind in gone]).delete()
    for agency_id, ids in held.items():
        _beat_incidents_recompute(agency_id=agency_id, held=ids)
    return len(gone)


def _beat_incidents_recompute(*, agency_id: int, zone_id: int | None = None, held: list[int] | None = None) -> None:
    ids = incident_beats_recompute(agency_id=agency_id, zone_id=zone_id, held=held)
    incident_publish_changes(agency_id=agency_id, ids=ids)
