from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.decorators import action
from rest_framework.response import Response

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import LayerViewSet
from apps.incidents.selectors import incident_list

from ..choices import CameraStatus
from ..selectors import camera_list
from ..services import StreamRefused, camera_stream_open
from .serializers import CameraDetailSerializer, CameraSerializer, StreamRequestSerializer, StreamSerializer


def _stream_reason_required(request) -> str:
    # The incident being worked stands in for a reason (its number is on the event's detail).
    body = request.data if isinstance(request.data, dict) else {}
    return "" if body.get("incident") not in (None, "") else "give a reason or the incident you are working"


STREAM_OPEN = AuditedRead(
    "cameras.stream",
    actions=(AuditAction.CAMERA_STREAM_OPEN,),
    reason=Reason(required=_stream_reason_required, source="body"),
    target=lambda view: view.get_object(),
)


class CameraViewSet(LayerViewSet):
    """The camera registry as GeoJSON; `stream` hands out a live view (audited)."""

    bbox_field = "location"
    status_field = "status"
    status_choices = CameraStatus
    required_perms = {"list": Perm.VIEW_LAYERS, "retrieve": Perm.VIEW_LAYERS, "stream": Perm.VIEW_CAMERA_STREAM}

    def selector(self, user):
        return camera_list(user=user)

    def get_serializer_class(self):
        return CameraDetailSerializer if self.action == "retrieve" else CameraSerializer

    @extend_schema(request=StreamRequestSerializer, responses=StreamSerializer)
    @action(detail=True, methods=["post"])
    @audited(STREAM_OPEN)
    def stream(self, request, pk=None, *, look):
        """Open the camera's live view: needs a reason or the incident being worked; audited."""
        camera = look.obj
        body = StreamRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        incident_id = body.validated_data["incident"]
        if incident_id is not None and not incident_list(user=request.user).filter(pk=incident_id).exists():
            raise exceptions.ValidationError({"incident": f"no incident {incident_id} that you can see"})
        try:
            stream = camera_stream_open(
                camera=camera,
                user=request.user,
                reason=look.reason,
                incident_id=incident_id,
                display=body.validated_data["display"],
                renewal=body.validated_data["renewal"],
                request=request,
                look=look,
            )
        except StreamRefused as exc:
            raise exceptions.PermissionDenied(str(exc)) from None
        except ValueError as exc:
            raise exceptions.ValidationError({"reason": str(exc)}) from None
        return Response(StreamSerializer(stream).data)
