"""Reads of units: the live layer, the nearest available units to a spot, and a unit's track."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypedDict

from django.conf import settings
from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point, Polygon
from django.db.models import F, FloatField, Func, QuerySet
from django.utils import timezone

from apps.accounts.permissions import Layer, Perm, user_has_perm
from apps.accounts.selectors import scope_to_user

from .choices import UnitStatus
from .models import Unit, UnitPosition

# A track replay never returns more fixes than this (a device reporting every second for the
# longest allowed window, 24 h, stays under it); beyond it the replay is cut and says so.
TRACK_MAX_POINTS = 100_000
# Map trails (breadcrumbs) look back at most this far: enough to see where a unit came from on a
# call; older history is a track replay, which needs a reason and is audited.
TRAIL_MAX_MINUTES = 60
# A trails answer never holds more fixes than this; past it the oldest fixes are dropped first, so
# every unit keeps its most recent stretch.
TRAIL_MAX_POINTS = 20_000


class NearbyUnit(TypedDict):
    unit: dict
    distance_m: float
    last_seen: object
    stale: bool


def unit_list(*, user) -> QuerySet[Unit]:
    """Active units of the user's agency and of agencies sharing their units layer with it."""
    return scope_to_user(Unit.objects.filter(active=True), user, layer=Layer.UNITS)


# Where units have been (track replays, map trails) is unit history: the roles that may replay the
# past (Perm.PLAYBACK) see it; a partner, who takes no sensitive look, sees where units are now only.
UNIT_HISTORY_PERM = Perm.PLAYBACK


def unit_track_scope(*, user) -> QuerySet[Unit]:
    """Units whose track the user may replay: their own agency's only, retired ones included (an
    investigation may concern one), and none for a role without unit history (a partner). A sharing
    rule shows a partner agency where units are now, not where they have been; and the replay's audit
    event is filed under the viewer's agency, so a replay of another agency's unit would escape that
    agency's auditors."""
    if not user_has_perm(user, UNIT_HISTORY_PERM):
        return Unit.objects.none()
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


class Trail(TypedDict):
    unit_id: int
    call_sign: str
    points: list[tuple[datetime, float, float]]  # (t, lon, lat), oldest first


class Trails(TypedDict):
    trails: list[Trail]
    truncated: bool


def unit_trails(*, user, since: datetime, bbox: Polygon | None = None) -> Trails:
    """Where the user's own agency's active units have been since `since`, per unit, oldest fix
    first, in one query; `bbox` keeps the units whose latest position is in it (those the map draws).

    Own agency only and not for a partner, as for track replays (unit_track_scope): a partner sees
    where units are now, not where they have been."""
    units = unit_track_scope(user=user).filter(active=True, last_location__isnull=False)
    if bbox is not None:
        units = units.filter(last_location__intersects=bbox)
    rows = list(
        UnitPosition.objects.filter(unit__in=units.values("pk"), recorded_at__gte=since)
        .order_by("-recorded_at", "unit_id")
        .annotate(
            lon=Func(F("location"), function="ST_X", output_field=FloatField()),
            lat=Func(F("location"), function="ST_Y", output_field=FloatField()),
        )
        .values_list("unit_id", "unit__call_sign", "recorded_at", "lon", "lat")[: TRAIL_MAX_POINTS + 1]
    )
    truncated = len(rows) > TRAIL_MAX_POINTS
    trails: dict[int, Trail] = {}
    for unit_id, call_sign, t, lon, lat in reversed(rows[:TRAIL_MAX_POINTS]):
        trail = trails.setdefault(unit_id, Trail(unit_id=unit_id, call_sign=call_sign, points=[]))
        trail["points"].append((t, lon, lat))
    return Trails(trails=sorted(trails.values(), key=lambda trail: trail["call_sign"]), truncated=truncated)
