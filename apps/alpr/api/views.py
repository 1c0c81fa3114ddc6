"""ALPR sites and reads. Every look at reads is accountable: it needs a reason and is audited."""

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import LayerViewSet
from apps.core.params import flag_param

from ..selectors import plate_pattern_filter, read_list, site_list
from .serializers import AlprReadSerializer, AlprSiteSerializer

# The map polls `hits=1` (hotlist hits in view) on every pan and zoom. Those looks need no typed
# reason, and are recorded once per user per window, not once per pan: one event says the user was
# watching hits, without thousands of identical ones burying the deliberate searches.
HIT_MONITOR_REASON = "hotlist hit monitoring"
HIT_MONITOR_AUDIT_SECONDS = 600


def _hits_only(request) -> bool:
    return flag_param(request.query_params, "hits")


def _plate(request) -> str:
    return request.query_params.get("plate", "").strip()


def _list_reason_required(request) -> str:
    """Every read query needs a reason, except the map's automatic hit layer (hits only, no plate)."""
    if _plate(request):
        return "a plate search needs a reason (e.g. a case number)"
    if _hits_only(request):
        return ""
    return "every ALPR read query needs a reason (e.g. a case number); only hits=1 is exempt"


READ_QUERY = AuditedRead(
    "alpr.reads.list",
    actions=(AuditAction.ALPR_READ_QUERY, AuditAction.PLATE_SEARCH),
    reason=Reason(required=_list_reason_required, default=HIT_MONITOR_REASON),
    object_type="alpr.alprread",
    throttle_seconds=HIT_MONITOR_AUDIT_SECONDS,
)
READ_LOOK = AuditedRead(
    "alpr.reads.retrieve",
    actions=(AuditAction.ALPR_READ_QUERY,),
    reason=Reason(required="every ALPR read query needs a reason (e.g. a case number)"),
    object_type="alpr.alprread",
)


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

    def selector(self, user):
        qs = read_list(user=user)
        if _hits_only(self.request):
            qs = qs.filter(hit__isnull=False)
        plate = _plate(self.request)
        if plate:
            if sum(ch.isalnum() for ch in plate) < 2:
                raise exceptions.ValidationError({"plate": "give at least two letters or digits"})
            qs = plate_pattern_filter(qs, plate)
        return qs

    @audited(READ_QUERY)
    def list(self, request, *args, look, **kwargs):
        response = super().list(request, *args, **kwargs)
        plate = _plate(request)
        detail = {"query": request.query_params.dict(), "count": response.data.get("count")}
        if not look.given:  # the map's hit layer, panning: one event per user per window
            detail["throttle_seconds"] = HIT_MONITOR_AUDIT_SECONDS
            look.record(detail=detail, throttle_key=str(request.user.pk))
        else:
            look.record(detail=detail, action=AuditAction.PLATE_SEARCH if plate else AuditAction.ALPR_READ_QUERY)
        return response

    @audited(READ_LOOK)
    def retrieve(self, request, *args, look, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        look.record(object_id=kwargs.get("pk", ""))
        return response
