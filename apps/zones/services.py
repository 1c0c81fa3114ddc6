"""Writes to zones."""
from __future__ import annotations

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


def zone_upsert(
    *, agency_id: int, kind: str, code: str, geom: GEOSGeometry, name: str = "", parent: Zone | None = None
) -> tuple[Zone, bool]:
    if kind not in ZoneKind.values:
        raise ValueError(f"kind must be one of {', '.join(ZoneKind.values)}, got {kind!r}")
    if not code:
        raise ValueError("code is required")
    zone, created = Zone.objects.update_or_create(
        agency_id=agency_id,
        kind=kind,
        code=code,
        defaults={"geom": as_multipolygon(geom), "name": name or code, "parent": parent},
    )
    if zone.kind == ZoneKind.BEAT:
        # Incidents imported before their beats get it now (only those with none: a redrawn beat map is
        # `manage.py recompute_beats`).
        incident_beats_fill(zone_id=zone.pk)
    return zone, created
