"""GET /api/tiles/<layer>/<z>/<x>/<y>.mvt: one vector tile of one registered layer."""

from __future__ import annotations

import hashlib
import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, renderers, viewsets

from apps.accounts.permissions import Perm, user_has_perm
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import parse_time_param
from apps.core.params import choice_list_param

from ..layers import TILE_LAYERS, TileFilters, TileLayer
from ..tiles import TileAddress, TileError, render_tile, tile_etag

MVT_MEDIA_TYPE = "application/vnd.mapbox-vector-tile"
# A user panning over a history layer asks for dozens of tiles a minute: one audit event per user,
# layer, reason and window says they looked, without thousands identical to it.
AUDIT_WINDOW_SECONDS = 600
FILTER_PARAMS = ("since", "until", "type")


def _tile_read(layer: TileLayer) -> AuditedRead:
    def required(request) -> str:
        # A layer the role may not view is a 403 (the view says so) before any word about its reason.
        if not layer.reason_required or not any(user_has_perm(request.user, perm) for perm in layer.perms):
            return ""
        return f"the {layer.name} tiles need a reason (e.g. a case number)"

    return AuditedRead(
        f"tiles.{layer.name}",
        actions=(layer.audit_action,),
        reason=Reason(required=required),
        object_type=f"tiles.{layer.name}",
        throttle_seconds=AUDIT_WINDOW_SECONDS,
    )


# The tile registry declares which layers are sensitive looks (`audit_action`); each is an audited read.
TILE_READS = {name: _tile_read(layer) for name, layer in TILE_LAYERS.items() if layer.audit_action}


class MVTRenderer(renderers.BaseRenderer):
    """Lets a client that accepts only vector tiles reach the view; errors still go out as JSON text."""

    media_type = MVT_MEDIA_TYPE
    format = "mvt"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class TileViewSet(viewsets.ViewSet):
    """Vector tiles, one route per registered layer (`layer` is fixed in the URLconf)."""

    renderer_classes = [renderers.JSONRenderer, MVTRenderer]
    # Every tile layer needs at least the map; the layer's own permissions are checked in `tile`.
    required_perms = {"tile": Perm.VIEW_LAYERS}
    layer: str = ""

    def _check_access(self, layer: TileLayer) -> None:
        if not any(user_has_perm(self.request.user, perm) for perm in layer.perms):
            raise exceptions.PermissionDenied(f"Your role may not view the {layer.name} tiles.")

    def _filters(self, layer: TileLayer) -> TileFilters:
        params = self.request.query_params
        for name in FILTER_PARAMS:
            if params.get(name) and name not in layer.filters:
                raise exceptions.ValidationError({name: f"the {layer.name} tiles take no {name} filter"})
        since = parse_time_param("since", params["since"]) if params.get("since") else None
        until = parse_time_param("until", params["until"]) if params.get("until") else None
        if since and until and until <= since:
            raise exceptions.ValidationError({"until": "must be after since"})
        types = tuple(sorted(choice_list_param(params, "type")))
        return TileFilters(since=since, until=until, types=types)

    def _audit(self, look, layer: TileLayer, filters: TileFilters, address: TileAddress) -> None:
        window = f"{filters.since and filters.since.isoformat()}|{filters.until and filters.until.isoformat()}"
        digest = hashlib.sha1(f"{look.reason}\x1f{window}".encode(), usedforsecurity=False).hexdigest()
        look.record(
            throttle_key=f"{self.request.user.pk}:{digest}",
            detail={"layer": layer.name, "since": filters.since, "until": filters.until, "first_tile": str(address)},
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("since", OpenApiTypes.DATETIME, description="history layers: from (ISO 8601)"),
            OpenApiParameter("until", OpenApiTypes.DATETIME, description="history layers: until (ISO 8601)"),
            OpenApiParameter("type", str, description="incidents_history: type codes, comma separated"),
            OpenApiParameter("reason", str, description="alpr_reads and unit_positions: why you look (case number)"),
        ],
        responses={(200, MVT_MEDIA_TYPE): OpenApiTypes.BINARY},
        description="A Mapbox Vector Tile (XYZ scheme). Empty body when nothing is in the tile.",
    )
    @audited(lambda view: TILE_READS.get(view.layer))
    def tile(self, request, z: int, x: int, y: int, *, look):
        layer = TILE_LAYERS[self.layer]
        self._check_access(layer)
        try:
            address = TileAddress(z=int(z), x=int(x), y=int(y))
        except TileError as exc:
            raise exceptions.ValidationError({exc.param: str(exc)}) from None
        filters = self._filters(layer)
        if look is not None:
            self._audit(look, layer, filters, address)
        if layer.min_zoom <= address.z <= layer.max_zoom:
            blob = render_tile(
                address=address, sources=layer.sources(user=request.user, filters=filters, zoom=address.z)
            )
        else:
            blob = b""
        etag = tile_etag(blob)
        cache = f"{'private' if layer.scoped else 'public'}, max-age={layer.max_age}"
        if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(blob, content_type=MVT_MEDIA_TYPE)
        response["ETag"] = etag
        response["Cache-Control"] = cache
        return response
