from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, status
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.core.api import LayerViewSet

from ..choices import AlertKind, AlertStatus
from ..selectors import alert_list, gunshot_list
from ..services import AlreadyAcknowledged, alert_acknowledge
from .serializers import AcknowledgeSerializer, AlertSerializer, GunshotSerializer


class GunshotViewSet(LayerViewSet):
    """Acoustic gunshot detections."""

    serializer_class = GunshotSerializer
    bbox_field = "location"
    time_field = "detected_at"

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
    required_perms = {**LayerViewSet.required_perms, "acknowledge": Perm.ACK_ALERTS}

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
