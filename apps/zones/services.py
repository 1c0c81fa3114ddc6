"""Writes to zones."""
from __future__ import annotations

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon

from .choices import ZoneKind
from .models import Zone


def as_multipolygon(geom: GEOSGeometry) -> MultiPolygon:
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=geom.srid)
    if not isinstance(geom, MultiPolygon):
        raise ValueError(f"a zone must be a Polygon or MultiPolygon, got {geom.geom_type}")
    if not geom.valid:
        geom = geom.buffer(0)
        if isinstance(geom, Polygon):
            geom = MultiPolygon(geom, srid=geom.srid)
        if not isinstance(geom, MultiPolygon) or geom.empty:
            raise ValueError("zone geometry is invalid and cannot be repaired")
    return geom


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
    return zone, created
