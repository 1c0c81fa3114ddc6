from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.cameras.selectors import cameras_seeing_point
from apps.core.api import LayerViewSet, parse_int_param
from apps.incidents.api.serializers import NearbyUnitSerializer, RankedCameraSerializer
from apps.units.selectors import units_nearest

from ..choices import AlertKind, AlertStatus
from ..selectors import alert_list, gunshot_list
from ..services import AlreadyAcknowledged, alert_acknowledge
from .serializers import AcknowledgeSerializer, AlertSerializer, GunshotSerializer

LIMIT = OpenApiParameter("limit", int, description="how many to return (1..50, default 5)")
# An alert without a place (a sensor that reports none) has nothing to rank around: the answer is
# an empty list that says why, so the queue can show it, rather than an error for a normal alert.
NO_LOCATION = "the alert has no location"


def _nearby_schema(name: str, result) -> dict:
    return {
        "parameters": [LIMIT],
        "responses": inline_serializer(
            name,
            {
                "alert": serializers.IntegerField(),
                "results": result(many=True),
                "reason": serializers.CharField(required=False, help_text=f"only when empty: {NO_LOCATION!r}"),
            },
        ),
    }


class GunshotViewSet(LayerViewSet):
    """Acoustic gunshot detections."""

    serializer_class = GunshotSerializer
    bbox_field = "location"
    time_field = "detected_at"
    required_perms = {"list": Perm.VIEW_LAYERS, "retrieve": Perm.VIEW_LAYERS}

    def selector(self, user):
        return gunshot_list(user=user)


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("kind", str, enum=AlertKind.values)]))
class AlertViewSet(LayerViewSet):
    """Alerts (hotlist hits, gunshots, panic buttons, sensors) and their acknowledgment."""

    serializer_class = AlertSerializer
    bbox_field = "location"
    time_field = "raised_at"
    status_field = "status"
    status_choices = AlertStatus
    required_perms = {
        "list": Perm.VIEW_LAYERS,
        "retrieve": Perm.VIEW_LAYERS,
        "acknowledge": Perm.ACK_ALERTS,
        "cameras": Perm.VIEW_LAYERS,
        "units": Perm.VIEW_LAYERS,
    }

    def selector(self, user):
        qs = alert_list(user=user)
        kind = self.request.query_params.get("kind")
        if kind:
            if kind not in AlertKind.values:
                raise exceptions.ValidationError({"kind": f"unknown kind {kind!r}; use {', '.join(AlertKind.values)}"})
            qs = qs.filter(kind=kind)
        return qs

    @extend_schema(request=AcknowledgeSerializer, responses=AlertSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge the alert with an optional note and outcome (audited); 409 if someone already did."""
        alert = self.get_object()
        body = AcknowledgeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            alert = alert_acknowledge(
                alert_id=alert.pk,
                user=request.user,
                note=body.validated_data["note"],
                outcome=body.validated_data["outcome"],
                request=request,
            )
        except AlreadyAcknowledged as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(AlertSerializer(alert).data)

    # The same selectors as an incident's side panel (apps.incidents.api.views): one ranking rule.
    @extend_schema(**_nearby_schema("AlertCameras", RankedCameraSerializer))
    @action(detail=True)
    def cameras(self, request, pk=None):
        """Cameras that can see the alert's location first (in view, online, live-shareable), then nearby ones."""
        alert = self.get_object()
        limit = parse_int_param(request, "limit", 5, 1, 50)
        if alert.location is None:
            return Response({"alert": alert.pk, "results": [], "reason": NO_LOCATION})
        ranked = cameras_seeing_point(user=request.user, point=alert.location, limit=limit)
        return Response({"alert": alert.pk, "results": RankedCameraSerializer(ranked, many=True).data})

    @extend_schema(**_nearby_schema("AlertUnits", NearbyUnitSerializer))
    @action(detail=True)
    def units(self, request, pk=None):
        """The nearest available units to the alert's location, with their distance in metres."""
        alert = self.get_object()
        limit = parse_int_param(request, "limit", 5, 1, 50)
        if alert.location is None:
            return Response({"alert": alert.pk, "results": [], "reason": NO_LOCATION})
        nearest = units_nearest(user=request.user, point=alert.location, limit=limit)
        return Response({"alert": alert.pk, "results": NearbyUnitSerializer(nearest, many=True).data})
