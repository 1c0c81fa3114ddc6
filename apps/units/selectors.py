"""Reads of units: the live layer and the nearest available units to a spot."""
from __future__ import annotations

from datetime import timedelta
from typing import TypedDict

from django.conf import settings
from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.selectors import scope_to_user

from .choices import UnitStatus
from .models import Unit


class NearbyUnit(TypedDict):
    unit: dict
    distance_m: float
    last_seen: object
    stale: bool


def unit_list(*, user) -> QuerySet[Unit]:
    return scope_to_user(Unit.objects.filter(active=True), user)


def unit_is_stale(unit: Unit, now=None) -> bool:
    if unit.last_seen is None:
        return True
    now = now or timezone.now()
    return now - unit.last_seen > timedelta(seconds=settings.RTCC_UNIT_STALE_SECONDS)


def units_nearest(*, user, point: Point, limit: int = 5) -> list[NearbyUnit]:
    """Available units with a known position, nearest first (great-circle metres)."""
    qs = (
        unit_list(user=user)
        .filter(status=UnitStatus.AVAILABLE, last_location__isnull=False)
        .annotate(distance=Distance("last_location", point))
        .order_by("distance", "id")[:limit]
    )
    now = timezone.now()
    return [
        NearbyUnit(
            unit={"id": u.pk, "call_sign": u.call_sign, "kind": u.kind, "status": u.status},
            distance_m=round(u.distance.m, 1),
            last_seen=u.last_seen,
            stale=unit_is_stale(u, now),
        )
        for u in qs
    ]
