from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, viewsets
from rest_framework.pagination import PageNumberPagination

from apps.accounts.permissions import Perm
from apps.core.api import LayerFilterBackend

from ..models import AuditAction
from ..selectors import audit_event_list
from ..services import audit_record
from .serializers import AuditEventSerializer


class AuditPagination(PageNumberPagination):
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("user", str, description="username"),
            OpenApiParameter("action", str, enum=AuditAction.values),
            OpenApiParameter("object_type", str),
            OpenApiParameter("object_id", str),
        ]
    )
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """The audit trail, for auditors and agency admins. Reading it is itself audited."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditPagination
    filter_backends = [LayerFilterBackend]
    time_field = "at"
    required_perms = {"list": Perm.VIEW_AUDIT, "retrieve": Perm.VIEW_AUDIT}

    def get_queryset(self):
        qs = audit_event_list(user=self.request.user)
        params = self.request.query_params
        if params.get("user"):
            qs = qs.filter(username=params["user"])
        if params.get("action"):
            if params["action"] not in AuditAction.values:
                raise exceptions.ValidationError({"action": f"unknown action {params['action']!r}"})
            qs = qs.filter(action=params["action"])
        for field in ("object_type", "object_id"):
            if params.get(field):
                qs = qs.filter(**{field: params[field]})
        return qs

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        audit_record(
            user=request.user,
            action=AuditAction.AUDIT_QUERY,
            detail={"query": request.query_params.dict()},
            request=request,
        )
        return response
