"""Units at their latest position, their recent trails, and an audited replay of where one unit
has been."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import LayerViewSet, parse_int_param, parse_time_param
from apps.core.geo import parse_bbox

from ..choices import UnitStatus
from ..selectors import TRAIL_MAX_MINUTES, unit_list, unit_track, unit_track_scope, unit_trails
from .serializers import UnitSerializer

# Where an officer was is personal data: a replay is bounded, needs a reason, and is audited.
TRACK_MAX_WINDOW = timedelta(hours=24)
TRAIL_DEFAULT_MINUTES = 10
TRACK_REPLAY = AuditedRead(
    "units.track",
    actions=(AuditAction.UNIT_TRACK_REPLAY,),
    reason=Reason(required="a track replay needs a reason (e.g. a case number)"),
    target=lambda view: view.get_object(),
)


class UnitViewSet(LayerViewSet):
    """Units at their latest position (units never located are left out of the list)."""

    serializer_class = UnitSerializer
    bbox_field = "last_location"
    time_field = "last_seen"
    status_field = "status"
    status_choices = UnitStatus
    required_perms = {
        "list": Perm.VIEW_LAYERS,
        "retrieve": Perm.VIEW_LAYERS,
        "track": Perm.VIEW_LAYERS,
        "trails": Perm.VIEW_LAYERS,
    }

    def selector(self, user):
        if self.action == "track":
            return unit_track_scope(user=user)
        qs = unit_list(user=user)
        if self.action == "list":
            qs = qs.filter(last_location__isnull=False)
        return qs

    def filter_queryset(self, queryset):
        if self.action in ("track", "trails"):
            return queryset  # these actions read their own parameters
        return super().filter_queryset(queryset)

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, required=True, description="start (ISO 8601)"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="end (ISO 8601), default now; at most 24 h"),
            OpenApiParameter("reason", str, required=True, description="why you replay the track (case number)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        description="GeoJSON Feature: a LineString of the unit's fixes in [since, until), "
        "with the fixes and their times in `properties.points`. Audited.",
    )
    @action(detail=True, methods=["get"], url_path="track")
    @audited(TRACK_REPLAY)
    def track(self, request, pk=None, *, look):
        unit = look.obj
        params = request.query_params
        if not params.get("since"):
            raise exceptions.ValidationError({"since": "give the start of the replay (ISO 8601)"})
        since = parse_time_param("since", params["since"])
        until = parse_time_param("until", params["until"]) if params.get("until") else timezone.now()
        if until <= since:
            raise exceptions.ValidationError({"until": "must be after since"})
        if until - since > TRACK_MAX_WINDOW:
            raise exceptions.ValidationError({"since": "a replay covers at most 24 hours"})
        track = unit_track(unit=unit, since=since, until=until)
        points = track["points"]
        look.record(detail={"since": since, "until": until, "points": len(points), "truncated": track["truncated"]})
        coordinates = [[p["lon"], p["lat"]] for p in points]
        return Response(
            {
                "type": "Feature",
                "id": unit.pk,
                # A LineString needs two positions; with fewer there is no line to draw.
                "geometry": {"type": "LineString", "coordinates": coordinates} if len(coordinates) > 1 else None,
                "properties": {
                    "unit": {"id": unit.pk, "call_sign": unit.call_sign, "kind": unit.kind},
                    "since": since,
                    "until": until,
                    "count": len(points),
                    "truncated": track["truncated"],
                    "points": points,
                },
            }
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "minutes", int, description=f"how far back, 1 to {TRAIL_MAX_MINUTES} (default {TRAIL_DEFAULT_MINUTES})"
            ),
            OpenApiParameter("in_bbox", str, description="minlon,minlat,maxlon,maxlat: units located in it"),
        ],
        responses={200: OpenApiTypes.OBJECT},
        description="GeoJSON FeatureCollection, one Feature per unit of the user's own agency with fixes "
        "in the last `minutes`: a LineString (a Point for a single fix) oldest first, with each fix's "
        "time in `properties.times`. Not audited, unlike a track replay: it is the live picture's "
        "last hour at most, of the viewer's own agency only (partners get none).",
    )
    @action(detail=False, methods=["get"], url_path="trails")
    def trails(self, request):
        params = request.query_params
        minutes = parse_int_param(request, "minutes", TRAIL_DEFAULT_MINUTES, 1, TRAIL_MAX_MINUTES)
        bbox = parse_bbox(params["in_bbox"]) if params.get("in_bbox") else None
        since = timezone.now() - timedelta(minutes=minutes)
        found = unit_trails(user=request.user, since=since, bbox=bbox)
        features = []
        for trail in found["trails"]:
            coordinates = [[lon, lat] for _, lon, lat in trail["points"]]
            geometry = (
                {"type": "LineString", "coordinates": coordinates}
                if len(coordinates) > 1
                else {"type": "Point", "coordinates": coordinates[0]}
            )
            features.append(
                {
                    "type": "Feature",
                    "id": trail["unit_id"],
                    "geometry": geometry,
                    "properties": {"call_sign": trail["call_sign"], "times": [t for t, _, _ in trail["points"]]},
                }
            )
        return Response(
            {
                "type": "FeatureCollection",
                "minutes": minutes,
                "since": since,
                "truncated": found["truncated"],
                "features": features,
            }
        )
