from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.cameras.selectors import cameras_seeing_point
from apps.core.api import LayerViewSet, parse_int_param
from apps.units.selectors import units_nearest

from ..choices import IncidentStatus
from ..selectors import incident_detail_queryset, incident_list
from .serializers import IncidentDetailSerializer, IncidentSerializer, NearbyUnitSerializer, RankedCameraSerializer

LIMIT = OpenApiParameter("limit", int, description="how many to return (1..50, default 5)")


class IncidentViewSet(LayerViewSet):
    """CAD incidents (calls for service) as GeoJSON."""

    bbox_field = "location"
    time_field = "received_at"
    status_field = "status"
    status_choices = IncidentStatus
    required_perms = {
        "list": Perm.VIEW_LAYERS,
        "retrieve": Perm.VIEW_LAYERS,
        "cameras": Perm.VIEW_LAYERS,
        "units": Perm.VIEW_LAYERS,
    }

    def selector(self, user):
        if self.action == "list":
            return incident_list(user=user)
        return incident_detail_queryset(user=user)

    def get_serializer_class(self):
        return IncidentSerializer if self.action == "list" else IncidentDetailSerializer

    @extend_schema(
        parameters=[LIMIT],
        responses=inline_serializer(
            "IncidentCameras", {"incident": serializers.IntegerField(), "results": RankedCameraSerializer(many=True)}
        ),
    )
    @action(detail=True)
    def cameras(self, request, pk=None):
        """Cameras that can see the incident first (in view, online, live-shareable), then nearby ones."""
        incident = self.get_object()
        limit = parse_int_param(request, "limit", 5, 1, 50)
        ranked = cameras_seeing_point(user=request.user, point=incident.location, limit=limit)
        return Response({"incident": incident.pk, "results": RankedCameraSerializer(ranked, many=True).data})

    @extend_schema(
        parameters=[LIMIT],
        responses=inline_serializer(
            "IncidentUnits", {"incident": serializers.IntegerField(), "results": NearbyUnitSerializer(many=True)}
        ),
    )
    @action(detail=True)
    def units(self, request, pk=None):
        """The nearest available units with their distance in metres."""
        incident = self.get_object()
        limit = parse_int_param(request, "limit", 5, 1, 50)
        nearest = units_nearest(user=request.user, point=incident.location, limit=limit)
        return Response({"incident": incident.pk, "results": NearbyUnitSerializer(nearest, many=True).data})
