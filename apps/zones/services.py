"""Writes to zones."""
from __future__ import annotations

import re

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon

from apps.core.geo import GeoInputError, repair_area
from apps.incidents.beats import incident_beats_fill

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
) -> tuple[Zone, bool]:
    """Create or update the zone (agency, kind, code). `geocodes` (see parse_geocodes) replaces the
    zone's codes when given; left out, they stay as they were."""
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
        # `manage.py recompute_beats`).
        incident_beats_fill(zone_id=zone.pk)
    return zone, created
