"""Reads of units: the live layer, the nearest available units to a spot, and a unit's track."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from django.conf import settings
from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.db.models import F, FloatField, Func, QuerySet
from django.utils import timezone

from apps.accounts.permissions import Layer
from apps.accounts.selectors import scope_to_user

from .choices import UnitStatus
from .models import Unit, UnitPosition

# A track replay never returns more fixes than this (a device reporting every second for the
# longest allowed window, 24 h, stays under it); beyond it the replay is cut and says so.
TRACK_MAX_POINTS = 100_000


class NearbyUnit(TypedDict):
    unit: dict
    distance_m: float
    last_seen: object
    stale: bool


def unit_list(*, user) -> QuerySet[Unit]:
    """Active units of the user's agency and of agencies sharing their units layer with it."""
    return scope_to_user(Unit.objects.filter(active=True), user, layer=Layer.UNITS)


def unit_track_scope(*, user) -> QuerySet[Unit]:
    """Units whose track the user may replay: their own agency's only, retired ones included (an
    investigation may concern one). A sharing rule shows a partner where units are now, not where
    they have been; and the replay's audit event is filed under the viewer's agency, so a replay of
    another agency's unit would escape that agency's auditors."""
    return scope_to_user(Unit.objects.all(), user)


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


class TrackPoint(TypedDict):
    t: datetime
    lon: float
    lat: float
    heading: float | None
    speed: float | None


class Track(TypedDict):
    points: list[TrackPoint]
    truncated: bool


def unit_track(*, unit: Unit, since: datetime, until: datetime) -> Track:
    """The unit's AVL fixes in [since, until), oldest first; coordinates read in the database so no
    geometry object is built per fix. The caller has already checked the user may see the unit."""
    rows = (
        UnitPosition.objects.filter(unit=unit, recorded_at__gte=since, recorded_at__lt=until)
        .order_by("recorded_at")
        .annotate(
            lon=Func(F("location"), function="ST_X", output_field=FloatField()),
            lat=Func(F("location"), function="ST_Y", output_field=FloatField()),
        )
        .values_list("recorded_at", "lon", "lat", "heading", "speed")[: TRACK_MAX_POINTS + 1]
    )
    points = [TrackPoint(t=t, lon=lon, lat=lat, heading=heading, speed=speed) for t, lon, lat, heading, speed in rows]
    truncated = len(points) > TRACK_MAX_POINTS
    return Track(points=points[:TRACK_MAX_POINTS], truncated=truncated)
