"""Reads for playback: what happened in a past window (unit fixes, incidents with their status
changes, alerts, gunshots), and the state of the picture at one instant.

Units follow the track-replay rule (`apps.units.selectors.unit_track_scope`): a user replays their
own agency's units only, since a sharing rule shows a partner where units are, not where they were.
Incidents, alerts and gunshots come through their layers' scoped selectors, as on the live map.

Incident status history is read from the CAD timestamps each incident carries (received,
dispatched, on scene, closed): that is the status history CAD sends us.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.contrib.gis.geos import Polygon
from django.db.models import F, FloatField, Func, OuterRef, Q, QuerySet, Subquery

from apps.incidents.choices import IncidentStatus
from apps.incidents.selectors import incident_list
from apps.sensors.selectors import alert_list, gunshot_list
from apps.units.models import Unit, UnitPosition
from apps.units.selectors import unit_track_scope

# A replay is bounded: where officers were is personal data, and a window is what an investigation
# needs (the hour around a shooting), not a shift-long sweep.
PLAYBACK_MAX_WINDOW = timedelta(hours=6)
# A unit's last fix before the window places it at the start; one older than this means the unit
# was off the air (end of shift), so it is not drawn.
UNIT_LOOKBACK = timedelta(hours=2)
# A gunshot counts as "now" on the picture for this long after it was detected.
GUNSHOT_RECENT = timedelta(minutes=15)
MAX_FIXES = 200_000
MAX_RECORDS = 5_000


class Fix(TypedDict):
    t: datetime
    lon: float
    lat: float
    heading: float | None
    speed: float | None


class UnitFrames(TypedDict):
    id: int
    call_sign: str
    kind: str
    fixes: list[Fix]


def _lon_lat(field: str) -> dict[str, Func]:
    return {
        "lon": Func(F(field), function="ST_X", output_field=FloatField()),
        "lat": Func(F(field), function="ST_Y", output_field=FloatField()),
    }


def _last_fix_ids(units: QuerySet[Unit], *, at: datetime, inclusive: bool) -> QuerySet:
    """Per unit, the id of its latest fix before `at` (or at it), within UNIT_LOOKBACK: one index
    probe per unit on (unit, -recorded_at), never a scan of the history."""
    before = {"recorded_at__lte" if inclusive else "recorded_at__lt": at, "recorded_at__gte": at - UNIT_LOOKBACK}
    latest = UnitPosition.objects.filter(unit=OuterRef("pk"), **before).order_by("-recorded_at").values("pk")[:1]
    return units.annotate(fix_id=Subquery(latest)).filter(fix_id__isnull=False).values("fix_id")


def _unit_info(unit_ids: set[int]) -> dict[int, dict[str, Any]]:
    rows = Unit.objects.filter(pk__in=unit_ids).values("id", "call_sign", "kind")
    return {row["id"]: row for row in rows}


def playback_units(
    *, user: Any, start: datetime, end: datetime, bbox: Polygon | None = None
) -> tuple[list[UnitFrames], bool]:
    """Each replayable unit's fixes in [start, end], led by its last fix before start (if within
    UNIT_LOOKBACK); with `bbox`, the units that were inside it at some fix. Also whether cut."""
    units = unit_track_scope(user=user)
    positions = UnitPosition.objects.filter(
        Q(pk__in=_last_fix_ids(units, at=start, inclusive=False))
        | Q(unit__in=units, recorded_at__gte=start, recorded_at__lte=end)
    )
    if bbox is not None:
        positions = positions.filter(unit_id__in=positions.filter(location__intersects=bbox).values("unit_id"))
    rows = list(
        positions.order_by("unit_id", "recorded_at")
        .annotate(**_lon_lat("location"))
        .values_list("unit_id", "recorded_at", "lon", "lat", "heading", "speed")[: MAX_FIXES + 1]
    )
    truncated = len(rows) > MAX_FIXES
    rows = rows[:MAX_FIXES]
    info = _unit_info({row[0] for row in rows})
    frames: dict[int, UnitFrames] = {}
    for unit_id, t, lon, lat, heading, speed in rows:
        unit = frames.get(unit_id)
        if unit is None:
            unit = frames[unit_id] = UnitFrames(
                id=unit_id, call_sign=info[unit_id]["call_sign"], kind=info[unit_id]["kind"], fixes=[]
            )
        unit["fixes"].append(Fix(t=t, lon=lon, lat=lat, heading=heading, speed=speed))
    return sorted(frames.values(), key=lambda u: u["call_sign"]), truncated


def incident_changes(row: dict[str, Any]) -> list[dict[str, Any]]:
    """The incident's status changes in time order, from its CAD timestamps."""
    steps = [
        (IncidentStatus.PENDING, row["received_at"]),
        (IncidentStatus.DISPATCHED, row["dispatched_at"]),
        (IncidentStatus.ON_SCENE, row["on_scene_at"]),
        (IncidentStatus.CLOSED, row["closed_at"]),
    ]
    return sorted(({"status": str(s), "at": at} for s, at in steps if at is not None), key=lambda c: c["at"])


def incident_status_at(row: dict[str, Any], at: datetime) -> str | None:
    """The incident's status at `at` (None before it was received)."""
    status = None
    for change in incident_changes(row):
        if change["at"] > at:
            break
        status = change["status"]
    return status


_INCIDENT_FIELDS = (
    "id",
    "cad_number",
    "type_code",
    "type_description",
    "priority",
    "address",
    "status",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "closed_at",
)


def _incident_rows(qs: QuerySet, bbox: Polygon | None) -> tuple[list[dict[str, Any]], bool]:
    if bbox is not None:
        qs = qs.filter(location__intersects=bbox)
    rows = list(
        qs.order_by("received_at", "id")
        .annotate(**_lon_lat("location"))
        .values(*_INCIDENT_FIELDS, "lon", "lat")[: MAX_RECORDS + 1]
    )
    for row in rows:
        row["changes"] = incident_changes(row)
    return rows[:MAX_RECORDS], len(rows) > MAX_RECORDS


def _closed_without_time(received_before: datetime) -> Q:
    """A record CAD closed without a close time: only its receipt is known, so it counts only
    around then (else it would look open forever)."""
    return Q(closed_at__isnull=True, status=IncidentStatus.CLOSED, received_at__gte=received_before)


def playback_incidents(
    *, user: Any, start: datetime, end: datetime, bbox: Polygon | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Incidents received by `end` and not closed before `start`, with their status changes."""
    still_open = Q(closed_at__isnull=True) & ~Q(status=IncidentStatus.CLOSED)
    qs = (
        incident_list(user=user)
        .filter(received_at__lte=end)
        .filter(Q(closed_at__gte=start) | still_open | _closed_without_time(start))
    )
    return _incident_rows(qs, bbox)


_ALERT_FIELDS = ("id", "kind", "title", "status", "raised_at", "acknowledged_at", "closed_at")


def _alert_rows(qs: QuerySet, bbox: Polygon | None) -> tuple[list[dict[str, Any]], bool]:
    if bbox is not None:
        qs = qs.filter(location__intersects=bbox)
    rows = list(
        qs.order_by("raised_at", "id")
        .annotate(**_lon_lat("location"))
        .values(*_ALERT_FIELDS, "lon", "lat")[: MAX_RECORDS + 1]
    )
    return rows[:MAX_RECORDS], len(rows) > MAX_RECORDS


def playback_alerts(
    *, user: Any, start: datetime, end: datetime, bbox: Polygon | None = None
) -> tuple[list[dict[str, Any]], bool]:
    """Alerts raised by `end` and neither acknowledged nor closed (cancelled, expired) before `start`."""
    qs = (
        alert_list(user=user)
        .filter(raised_at__lte=end)
        .filter(Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gte=start))
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
    )
    return _alert_rows(qs, bbox)


def _gunshot_rows(qs: QuerySet, bbox: Polygon | None) -> tuple[list[dict[str, Any]], bool]:
    if bbox is not None:
        qs = qs.filter(location__intersects=bbox)
    rows = list(
        qs.order_by("detected_at", "id")
        .annotate(**_lon_lat("location"))
        .values("id", "detected_at", "rounds", "confidence", "lon", "lat")[: MAX_RECORDS + 1]
    )
    return rows[:MAX_RECORDS], len(rows) > MAX_RECORDS


def playback_gunshots(
    *, user: Any, start: datetime, end: datetime, bbox: Polygon | None = None
) -> tuple[list[dict[str, Any]], bool]:
    return _gunshot_rows(gunshot_list(user=user).filter(detected_at__gte=start, detected_at__lte=end), bbox)


def playback_frames(*, user: Any, start: datetime, end: datetime, bbox: Polygon | None = None) -> dict[str, Any]:
    """Everything needed to replay [start, end]: units with fixes, incidents with status changes,
    alerts and gunshots; `truncated` names any list that was cut at its cap."""
    units, units_cut = playback_units(user=user, start=start, end=end, bbox=bbox)
    incidents, incidents_cut = playback_incidents(user=user, start=start, end=end, bbox=bbox)
    alerts, alerts_cut = playback_alerts(user=user, start=start, end=end, bbox=bbox)
    gunshots, gunshots_cut = playback_gunshots(user=user, start=start, end=end, bbox=bbox)
    cut = {"units": units_cut, "incidents": incidents_cut, "alerts": alerts_cut, "gunshots": gunshots_cut}
    return {
        "start": start,
        "end": end,
        "units": units,
        "incidents": incidents,
        "alerts": alerts,
        "gunshots": gunshots,
        "truncated": sorted(name for name, was_cut in cut.items() if was_cut),
    }


def playback_state_at(*, user: Any, at: datetime, bbox: Polygon | None = None) -> dict[str, Any]:
    """The picture at instant `at`: where each replayable unit was (its last fix at or before `at`,
    within UNIT_LOOKBACK), the incidents open then with their status then, the alerts raised and
    not yet acknowledged or closed, and the gunshots of the preceding GUNSHOT_RECENT."""
    fixes = UnitPosition.objects.filter(pk__in=_last_fix_ids(unit_track_scope(user=user), at=at, inclusive=True))
    if bbox is not None:
        fixes = fixes.filter(location__intersects=bbox)
    fix_rows = list(fixes.annotate(**_lon_lat("location")).values("unit_id", "recorded_at", "lon", "lat", "heading"))
    info = _unit_info({row["unit_id"] for row in fix_rows})
    units = sorted(
        (
            {
                "id": row["unit_id"],
                "call_sign": info[row["unit_id"]]["call_sign"],
                "t": row["recorded_at"],
                "lon": row["lon"],
                "lat": row["lat"],
                "heading": row["heading"],
            }
            for row in fix_rows
        ),
        key=lambda u: u["call_sign"],
    )
    open_then = Q(closed_at__gt=at) | (Q(closed_at__isnull=True) & ~Q(status=IncidentStatus.CLOSED))
    incidents, _ = _incident_rows(incident_list(user=user).filter(received_at__lte=at).filter(open_then), bbox)
    for row in incidents:
        row["status_at"] = incident_status_at(row, at)
    active = (Q(acknowledged_at__isnull=True) | Q(acknowledged_at__gt=at)) & (
        Q(closed_at__isnull=True) | Q(closed_at__gt=at)
    )
    alerts, _ = _alert_rows(alert_list(user=user).filter(raised_at__lte=at).filter(active), bbox)
    gunshots, _ = _gunshot_rows(
        gunshot_list(user=user).filter(detected_at__gt=at - GUNSHOT_RECENT, detected_at__lte=at), bbox
    )
    return {"at": at, "units": units, "incidents": incidents, "alerts": alerts, "gunshots": gunshots}
