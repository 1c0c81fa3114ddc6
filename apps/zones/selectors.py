"""Reads of zones, including the point-in-zone lookup used when records arrive."""
from __future__ import annotations

from django.contrib.gis.geos import Point

from .models import Zone


def zone_containing(*, agency_id: int, point: Point, kind: str) -> Zone | None:
    return (
        Zone.objects.filter(agency_id=agency_id, kind=kind, geom__covers=point).order_by("id").first()
    )
