"""Reads for hotspot runs: filtered incident counts, the study area, camera coverage, runs themselves.

Scope: a run reads its own agency's incidents and cameras only. Records another agency shares are
left out on purpose: a hotspot map mixing two jurisdictions' reporting practices would mislead, and
a shared layer can end mid-period, which would make a run's answer depend on when it ran.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Count, FloatField, Func, QuerySet
from django.db.models.functions import ExtractHour, ExtractIsoWeekDay
from django.utils import timezone

from apps.accounts.models import Agency
from apps.accounts.selectors import scope_to_user
from apps.cameras.choices import OwnerKind
from apps.cameras.models import Camera
from apps.incidents.models import Incident
from apps.zones.choices import ZoneKind
from apps.zones.models import Zone

from .analysis import Points
from .choices import RunStatus
from .models import HotspotRun, stale_runs_q
from .params import hours_in_window

STUDY_AREA_KINDS = (ZoneKind.CITY, ZoneKind.DISTRICT, ZoneKind.SECTOR, ZoneKind.BEAT)


def incident_type_codes(*, agency_id: int) -> set[str]:
    return set(Incident.objects.filter(agency_id=agency_id).order_by().values_list("type_code", flat=True).distinct())


def period_bounds(agency: Agency, start: str, end: str) -> tuple[datetime, datetime]:
    """[local midnight of start, local midnight after end) in the agency's time zone."""
    tz = ZoneInfo(agency.time_zone)
    lo = datetime.combine(date.fromisoformat(start), time.min, tzinfo=tz)
    hi = datetime.combine(date.fromisoformat(end) + timedelta(days=1), time.min, tzinfo=tz)
    return lo, hi


def incidents_filtered(*, agency: Agency, params: dict, period: str = "") -> QuerySet[Incident]:
    """The agency's incidents matching the run's filters; `period="compare_"` reads period B.

    Hour of day and weekday are taken in the agency's time zone, in the database
    (EXTRACT(... FROM received_at AT TIME ZONE tz)).
    """
    lo, hi = period_bounds(agency, params[f"{period}start"], params[f"{period}end"])
    qs = Incident.objects.filter(agency_id=agency.pk, received_at__gte=lo, received_at__lt=hi).order_by()
    if params.get("types"):
        qs = qs.filter(type_code__in=params["types"])
    tz = ZoneInfo(agency.time_zone)
    hours = hours_in_window(params.get("hour_start"), params.get("hour_end"))
    if hours is not None and len(hours) < 24:
        qs = qs.annotate(local_hour=ExtractHour("received_at", tzinfo=tz)).filter(local_hour__in=hours)
    if params.get("days") and len(params["days"]) < 7:
        qs = qs.annotate(local_dow=ExtractIsoWeekDay("received_at", tzinfo=tz)).filter(local_dow__in=params["days"])
    return qs


def incident_points(*, agency: Agency, params: dict, period: str = "") -> Points:
    """Distinct locations of the filtered incidents with how many each holds, grouped in SQL (many
    calls come from the same address), so only one row per place crosses to Python."""
    rows = (
        incidents_filtered(agency=agency, params=params, period=period)
        .annotate(
            lon=Func("location", function="ST_X", output_field=FloatField()),
            lat=Func("location", function="ST_Y", output_field=FloatField()),
        )
        .values_list("lon", "lat")
        .annotate(n=Count("id"))
    )
    return Points.from_rows(list(rows))


def study_area(*, agency_id: int) -> dict | None:
    """The agency's patrol area (the union of its city limits, districts, sectors and beats) as a
    GeoJSON geometry, or None when it has no zones."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT ST_AsGeoJSON(ST_Union(geom)) FROM {Zone._meta.db_table} WHERE agency_id = %s AND kind = ANY(%s)",
            [agency_id, [str(k) for k in STUDY_AREA_KINDS]],
        )
        (geojson,) = cursor.fetchone()
    return json.loads(geojson) if geojson else None


_COVERAGE_SQL = f"""
WITH cells AS (
    SELECT c.id, ST_SetSRID(ST_GeomFromGeoJSON(c.geom), 4326) AS geom
    FROM unnest(%(ids)s::text[], %(geoms)s::text[]) AS c(id, geom)
)
SELECT cells.id,
       v.cameras,
       ST_Area(ST_Intersection(cells.geom, v.all_views)::geography) / ST_Area(cells.geom::geography),
       ST_Area(ST_Intersection(cells.geom, v.agency_views)::geography) / ST_Area(cells.geom::geography),
       ST_Area(ST_Intersection(cells.geom, v.partner_views)::geography) / ST_Area(cells.geom::geography),
       ST_Area(ST_Intersection(cells.geom, v.community_views)::geography) / ST_Area(cells.geom::geography)
FROM cells
LEFT JOIN LATERAL (
    SELECT count(*) AS cameras,
           ST_Union(cam.view) AS all_views,
           ST_Union(cam.view) FILTER (WHERE cam.owner_kind = '{OwnerKind.AGENCY}') AS agency_views,
           ST_Union(cam.view) FILTER (WHERE cam.owner_kind = '{OwnerKind.PARTNER}') AS partner_views,
           ST_Union(cam.view) FILTER (WHERE cam.owner_kind = '{OwnerKind.COMMUNITY}') AS community_views
    FROM {Camera._meta.db_table} cam
    WHERE cam.agency_id = %(agency)s AND cam.active AND ST_Intersects(cam.view, cells.geom)
) v ON true
"""


def cell_camera_coverage(*, agency_id: int, cells: dict[str, dict]) -> dict[str, dict]:
    """For each cell (id -> GeoJSON polygon): how many of the agency's active cameras look into it
    and what share of its area their view polygons cover, all together and by owner kind."""
    if not cells:
        return {}
    ids = list(cells)
    with connection.cursor() as cursor:
        cursor.execute(_COVERAGE_SQL, {"ids": ids, "geoms": [json.dumps(cells[i]) for i in ids], "agency": agency_id})
        rows = cursor.fetchall()

    def share(value) -> float:
        return round(min(1.0, float(value or 0.0)), 3)

    return {
        cell: {
            "cameras": int(n or 0),
            "covered": share(all_),
            "covered_agency": share(agency),
            "covered_partner": share(partner),
            "covered_community": share(community),
        }
        for cell, n, all_, agency, partner, community in rows
    }


def hotspot_runs(*, user) -> QuerySet[HotspotRun]:
    """Runs the user may read: their own agency's."""
    return scope_to_user(HotspotRun.objects.all(), user)


def hotspot_run_reusable(*, agency_id: int, kind: str, digest: str, max_age_seconds: int) -> HotspotRun | None:
    """An identical run still being computed (within the task's time limit), or finished recently
    enough to serve again. A failed run, or one pending or running past the limit, is never reused."""
    now = timezone.now()
    fresh = now - timedelta(seconds=max_age_seconds)
    return (
        HotspotRun.objects.filter(agency_id=agency_id, kind=kind, params_hash=digest, created_at__gte=fresh)
        .filter(status__in=[RunStatus.DONE, RunStatus.PENDING, RunStatus.RUNNING])
        .exclude(stale_runs_q(now))
        .order_by("-created_at")
        .first()
    )
