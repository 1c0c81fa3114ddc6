from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.api import LayerViewSet

from ..selectors import plate_pattern_filter, read_list, site_list
from .serializers import AlprReadSerializer, AlprSiteSerializer


class AlprSiteViewSet(LayerViewSet):
    """ALPR reader sites (mobile readers have no fixed location)."""

    serializer_class = AlprSiteSerializer
    bbox_field = "location"

    def selector(self, user):
        return site_list(user=user)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("plate", str, description="plate to search; `*` matches any characters"),
            OpenApiParameter("reason", str, description="why you search (case number); required with plate"),
            OpenApiParameter("hits", bool, description="only reads that matched a hotlist"),
        ]
    )
)
class AlprReadViewSet(LayerViewSet):
    """Plate reads. Every query is audited; a plate search needs a reason."""

    serializer_class = AlprReadSerializer
    bbox_field = "location"
    time_field = "read_at"
    required_perms = {"list": Perm.VIEW_ALPR_READS, "retrieve": Perm.VIEW_ALPR_READS}

    def selector(self, user):
        qs = read_list(user=user)
        params = self.request.query_params
        hits = params.get("hits", "")
        if hits not in ("", "0", "1", "true", "false"):
            raise exceptions.ValidationError({"hits": "use 1/true or 0/false"})
        if hits in ("1", "true"):
            qs = qs.filter(hit__isnull=False)
        plate = params.get("plate", "").strip()
        if plate:
            if self.action == "list" and not params.get("reason", "").strip():
                raise exceptions.ValidationError({"reason": "a plate search needs a reason (e.g. a case number)"})
            if sum(ch.isalnum() for ch in plate) < 2:
                raise exceptions.ValidationError({"plate": "give at least two letters or digits"})
            qs = plate_pattern_filter(qs, plate)
        return qs

    def list(self, request, *args, **kwargs):
        response = super().list(request, *args, **kwargs)
        plate = request.query_params.get("plate", "").strip()
        audit_record(
            user=request.user,
            action=AuditAction.PLATE_SEARCH if plate else AuditAction.ALPR_READ_QUERY,
            object_type="alpr.alprread",
            reason=request.query_params.get("reason", ""),
            detail={"query": request.query_params.dict(), "count": response.data.get("count")},
            request=request,
        )
        return response

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        audit_record(
            user=request.user,
            action=AuditAction.ALPR_READ_QUERY,
            object_type="alpr.alprread",
            object_id=kwargs.get("pk", ""),
            reason=request.query_params.get("reason", ""),
            request=request,
        )
        return response
