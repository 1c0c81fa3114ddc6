from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions

from apps.accounts.permissions import Perm
from apps.core.api import LayerViewSet

from ..choices import ZoneKind
from ..selectors import zone_list
from .serializers import ZoneSerializer


@extend_schema_view(list=extend_schema(parameters=[OpenApiParameter("kind", str, enum=ZoneKind.values)]))
class ZoneViewSet(LayerViewSet):
    """Beats, sectors, districts and geofences."""

    serializer_class = ZoneSerializer
    bbox_field = "geom"
    required_perms = {"list": Perm.VIEW_LAYERS, "retrieve": Perm.VIEW_LAYERS}

    def selector(self, user):
        qs = zone_list(user=user)
        kind = self.request.query_params.get("kind")
        if kind:
            if kind not in ZoneKind.values:
                raise exceptions.ValidationError({"kind": f"unknown kind {kind!r}; use {', '.join(ZoneKind.values)}"})
            qs = qs.filter(kind=kind)
        return qs
