"""Reads of zones, including the point-in-zone lookup used when records arrive."""
from __future__ import annotations

from django.contrib.gis.geos import Point
from django.db.models import QuerySet

from apps.accounts.permissions import Layer
from apps.accounts.selectors import scope_to_user

from .models import Zone


def zone_list(*, user) -> QuerySet[Zone]:
    return scope_to_user(Zone.objects.all(), user, layer=Layer.ZONES)


def zone_containing(*, agency_id: int, point: Point, kind: str) -> Zone | None:
    # Ingest names the agency a record belongs to: its own beats, never a partner's.
    return (
        Zone.objects.filter(agency_id=agency_id, kind=kind, geom__covers=point).order_by("id").first()
    )
