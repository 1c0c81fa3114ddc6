"""ALPR sites and reads. Every look at reads is accountable: it needs a reason and is audited."""
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.services import audit_record, audit_record_throttled
from apps.core.api import LayerViewSet
from apps.core.params import flag_param

from ..selectors import plate_pattern_filter, read_list, site_list
from .serializers import AlprReadSerializer, AlprSiteSerializer

# The map polls `hits=1` (hotlist hits in view) on every pan and zoom. Those looks need no typed
# reason, and are recorded once per user per window, not once per pan: one event says the user was
# watching hits, without thousands of identical ones burying the deliberate searches.
HIT_MONITOR_REASON = "hotlist hit monitoring"
HIT_MONITOR_AUDIT_SECONDS = 600


class AlprSiteViewSet(LayerViewSet):
    """ALPR reader sites (mobile readers have no fixed location)."""

    serializer_class = AlprSiteSerializer
    bbox_field = "location"
    required_perms = {"list": Perm.VIEW_LAYERS, "retrieve": Perm.VIEW_LAYERS}

    def selector(self, user):
        return site_list(user=user)


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("plate", str, description="plate to search; `*` matches any characters"),
            OpenApiParameter(
                "reason",
                str,
                description="why you look (case number); required, except for `hits=1` hotlist-hit monitoring",
            ),
            OpenApiParameter("hits", bool, description="only reads that matched a hotlist"),
        ]
    ),
    retrieve=extend_schema(
        parameters=[OpenApiParameter("reason", str, required=True, description="why you look (case number)")]
    ),
)
class AlprReadViewSet(LayerViewSet):
    """Plate reads. Every query needs a reason (hit monitoring excepted) and is audited."""

    serializer_class = AlprReadSerializer
    bbox_field = "location"
    time_field = "read_at"
    required_perms = {"list": Perm.VIEW_ALPR_READS, "retrieve": Perm.VIEW_ALPR_READS}

    def _hits_only(self) -> bool:
        return flag_param(self.request.query_params, "hits")

    def _plate(self) -> str:
        return self.request.query_params.get("plate", "").strip()

    def _reason(self) -> str:
        return self.request.query_params.get("reason", "").strip()

    def selector(self, user):
        qs = read_list(user=user)
        if self._hits_only():
            qs = qs.filter(hit__isnull=False)
        plate = self._plate()
        if plate:
            if sum(ch.isalnum() for ch in plate) < 2:
                raise exceptions.ValidationError({"plate": "give at least two letters or digits"})
            qs = plate_pattern_filter(qs, plate)
        return qs

    def _is_hit_monitoring(self) -> bool:
        """The map's automatic hit layer: hits only, no plate, no reason given."""
        return self.action == "list" and self._hits_only() and not self._plate() and not self._reason()

    def _require_reason(self) -> None:
        if self._reason() or self._is_hit_monitoring():
            return
        if self._plate():
            raise exceptions.ValidationError({"reason": "a plate search needs a reason (e.g. a case number)"})
        raise exceptions.ValidationError(
            {"reason": "every ALPR read query needs a reason (e.g. a case number); only hits=1 is exempt"}
        )

    def list(self, request, *args, **kwargs):
        self._require_reason()
        monitoring = self._is_hit_monitoring()
        response = super().list(request, *args, **kwargs)
        plate = self._plate()
        event = {
            "user": request.user,
            "action": AuditAction.PLATE_SEARCH if plate else AuditAction.ALPR_READ_QUERY,
            "object_type": "alpr.alprread",
            "reason": HIT_MONITOR_REASON if monitoring else self._reason(),
            "detail": {"query": request.query_params.dict(), "count": response.data.get("count")},
            "request": request,
        }
        if monitoring:
            event["detail"]["throttle_seconds"] = HIT_MONITOR_AUDIT_SECONDS
            audit_record_throttled(
                throttle_key=f"alpr-hit-monitoring:{request.user.pk}", seconds=HIT_MONITOR_AUDIT_SECONDS, **event
            )
        else:
            audit_record(**event)
        return response

    def retrieve(self, request, *args, **kwargs):
        self._require_reason()
        response = super().retrieve(request, *args, **kwargs)
        audit_record(
            user=request.user,
            action=AuditAction.ALPR_READ_QUERY,
            object_type="alpr.alprread",
            object_id=kwargs.get("pk", ""),
            reason=self._reason(),
            request=request,
        )
        return response
