"""A read-only OGC API - Features endpoint (Part 1: Core, GeoJSON) over the exportable layers, so
GIS tools such as QGIS can add them. Needs EXPORT_LAYERS plus each layer's own permission; each
items (or item) request is one audited export."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from apps.accounts.permissions import Perm, user_has_perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited
from apps.core.api import parse_time_param
from apps.core.geo import GeoInputError, parse_bbox
from apps.core.params import BIGINT_MAX, int_param, parse_id

from ..layers import LAYERS, ExportLayer
from ..selectors import collection_extent, ogc_feature, ogc_filter, ogc_page

OGC_DEFAULT_LIMIT = 100
OGC_MAX_LIMIT = 10_000
# A GIS client cannot type a reason per request; its reads are recorded under this one.
OGC_READ_REASON = "OGC API Features read"
GEOJSON = "application/geo+json"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def _ogc_reason_required(request) -> str:
    layer = LAYERS.get(request.parser_context["kwargs"].get("collection_id", ""))
    # A collection the user may not read is a 404 (the view says so), never a hint that it exists.
    if layer is None or not layer.needs_reason or not user_has_perm(request.user, layer.perm):
        return ""
    return "plate reads need a reason (add reason=<case number>)"


OGC_READ = AuditedRead(
    "exports.ogc",
    actions=(AuditAction.EXPORT,),
    reason=Reason(required=_ogc_reason_required, default=OGC_READ_REASON),
)


class GeoJsonRenderer(JSONRenderer):
    """JSON under the GeoJSON media type, so a client asking for application/geo+json gets it."""

    media_type = GEOJSON
    format = "geojson"


def _parse_ogc_bbox(raw: str):
    parts = raw.split(",")
    if len(parts) == 6:  # minx,miny,minz,maxx,maxy,maxz: heights are not filtered on
        parts = [parts[0], parts[1], parts[3], parts[4]]
    try:
        return parse_bbox(",".join(parts))
    except GeoInputError as exc:
        raise exceptions.ValidationError({"bbox": str(exc).replace("in_bbox", "bbox")}) from None


def _parse_ogc_datetime(raw: str):
    """`T`, `A/B`, `A/..`, `../B` (RFC 3339); returns (start, end), None for an open end."""
    if "/" not in raw:
        instant = parse_time_param("datetime", raw)
        return instant, instant
    first, _, second = raw.partition("/")
    start = None if first in ("", "..") else parse_time_param("datetime", first)
    end = None if second in ("", "..") else parse_time_param("datetime", second)
    if start is None and end is None:
        raise exceptions.ValidationError({"datetime": "give at least one end of the interval"})
    if start is not None and end is not None and end < start:
        raise exceptions.ValidationError({"datetime": "the interval ends before it starts"})
    return start, end


class OgcViewSet(viewsets.ViewSet):
    """OGC API - Features (Part 1: Core, GeoJSON) over the layers the user's role may read, so GIS
    tools such as QGIS can add them. Session or `Authorization: Token <key>`."""

    renderer_classes = [JSONRenderer, GeoJsonRenderer]
    required_perms = {
        action: Perm.EXPORT_LAYERS
        for action in ("landing", "conformance", "collections", "collection", "items", "item")
    }

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        f = request.query_params.get("f", "")
        if f not in ("", "json", "geojson", "application/json", GEOJSON):
            raise exceptions.ValidationError({"f": "only JSON is served: use f=json"})

    def _url(self, name: str, **kwargs) -> str:
        return self.request.build_absolute_uri(reverse(f"ogc-{name}", kwargs=kwargs))

    def _layers(self) -> list[ExportLayer]:
        return [layer for layer in LAYERS.values() if user_has_perm(self.request.user, layer.perm)]

    def _layer(self, collection_id: str) -> ExportLayer:
        layer = LAYERS.get(collection_id)
        if layer is None or not user_has_perm(self.request.user, layer.perm):
            raise exceptions.NotFound(f"no collection {collection_id!r}")
        return layer

    def _collection(self, layer: ExportLayer) -> dict:
        items = self._url("items", collection_id=layer.name)
        return {
            "id": layer.name,
            "title": layer.title,
            "description": layer.description,
            "itemType": "feature",
            "crs": [CRS84],
            "extent": collection_extent(layer=layer, user=self.request.user),
            "links": [
                {
                    "href": self._url("collection", collection_id=layer.name),
                    "rel": "self",
                    "type": "application/json",
                    "title": layer.title,
                },
                {"href": items, "rel": "items", "type": GEOJSON, "title": f"{layer.title} (GeoJSON)"},
            ],
        }

    @extend_schema(operation_id="ogc_landing", responses={200: OpenApiTypes.OBJECT})
    def landing(self, request):
        return Response(
            {
                "title": "rtcc-gis layers",
                "description": "The map's layers as OGC API - Features (read only, scoped to your agency).",
                "links": [
                    {"href": self._url("landing"), "rel": "self", "type": "application/json", "title": "This document"},
                    {
                        "href": request.build_absolute_uri(reverse("schema")),
                        "rel": "service-desc",
                        "type": "application/vnd.oai.openapi+json;version=3.0",
                        "title": "The API definition",
                    },
                    {
                        "href": self._url("conformance"),
                        "rel": "conformance",
                        "type": "application/json",
                        "title": "Conformance classes",
                    },
                    {
                        "href": self._url("collections"),
                        "rel": "data",
                        "type": "application/json",
                        "title": "Collections",
                    },
                ],
            }
        )

    @extend_schema(operation_id="ogc_conformance", responses={200: OpenApiTypes.OBJECT})
    def conformance(self, request):
        return Response({"conformsTo": CONFORMANCE})

    @extend_schema(operation_id="ogc_collections", responses={200: OpenApiTypes.OBJECT})
    def collections(self, request):
        return Response(
            {
                "links": [{"href": self._url("collections"), "rel": "self", "type": "application/json"}],
                "collections": [self._collection(layer) for layer in self._layers()],
            }
        )

    @extend_schema(operation_id="ogc_collection", responses={200: OpenApiTypes.OBJECT})
    def collection(self, request, collection_id: str):
        return Response(self._collection(self._layer(collection_id)))

    def _audit(self, look, layer: ExportLayer, *, detail: dict, object_id: str = "") -> None:
        look.record(
            obj=layer.queryset(self.request.user),
            object_id=object_id,
            detail={"layer": layer.name, "format": "geojson", "via": "ogc", **detail},
        )

    @extend_schema(
        operation_id="ogc_items",
        parameters=[
            OpenApiParameter("limit", int, description=f"1..{OGC_MAX_LIMIT}, default {OGC_DEFAULT_LIMIT}"),
            OpenApiParameter("offset", int),
            OpenApiParameter("bbox", str, description="minlon,minlat,maxlon,maxlat (CRS84)"),
            OpenApiParameter("datetime", str, description="instant or interval (A/B, ../B, A/..)"),
            OpenApiParameter("reason", str, description="why you read (required for alpr_reads)"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    @audited(OGC_READ)
    def items(self, request, collection_id: str, *, look):
        layer = self._layer(collection_id)
        params = request.query_params
        limit = int_param(params, "limit", default=OGC_DEFAULT_LIMIT, low=1)
        limit = min(limit, OGC_MAX_LIMIT)  # OGC: a limit above the maximum is served at the maximum
        offset = int_param(params, "offset", default=0, low=0, high=BIGINT_MAX - OGC_MAX_LIMIT)
        bbox_crs = params.get("bbox-crs", CRS84)
        if bbox_crs != CRS84:
            raise exceptions.ValidationError({"bbox-crs": f"only {CRS84} is supported"})
        bbox = _parse_ogc_bbox(params["bbox"]) if params.get("bbox") else None
        start = end = None
        if params.get("datetime"):
            if not layer.time_field:
                raise exceptions.ValidationError({"datetime": f"the {layer.name} collection has no time"})
            start, end = _parse_ogc_datetime(params["datetime"])
        qs = ogc_filter(layer.queryset(request.user), layer=layer, bbox=bbox, start=start, end=end).order_by("pk")
        features, matched = ogc_page(qs, layer=layer, limit=limit, offset=offset)
        self._audit(
            look,
            layer,
            detail={"filters": {k: v for k, v in params.items() if k != "reason"}, "rows": len(features)},
        )
        links = [
            {"href": self._page_url(collection_id, limit, offset), "rel": "self", "type": GEOJSON},
            {
                "href": self._url("collection", collection_id=collection_id),
                "rel": "collection",
                "type": "application/json",
            },
        ]
        if offset + len(features) < matched:
            links.append({"href": self._page_url(collection_id, limit, offset + limit), "rel": "next", "type": GEOJSON})
        if offset > 0:
            links.append(
                {"href": self._page_url(collection_id, limit, max(offset - limit, 0)), "rel": "prev", "type": GEOJSON}
            )
        body = {
            "type": "FeatureCollection",
            "features": features,
            "numberMatched": matched,
            "numberReturned": len(features),
            "timeStamp": timezone.now(),
            "links": links,
        }
        return Response(body, content_type=GEOJSON)

    def _page_url(self, collection_id: str, limit: int, offset: int) -> str:
        query = self.request.query_params.copy()
        query["limit"] = str(limit)
        query["offset"] = str(offset)
        return f"{self._url('items', collection_id=collection_id)}?{query.urlencode()}"

    @extend_schema(operation_id="ogc_item", responses={200: OpenApiTypes.OBJECT})
    @audited(OGC_READ)
    def item(self, request, collection_id: str, fid: str, *, look):
        layer = self._layer(collection_id)
        pk = parse_id(fid)
        found = ogc_feature(layer=layer, user=request.user, fid=pk) if pk is not None else None
        if found is None:
            raise exceptions.NotFound(f"no feature {fid!r} in {collection_id}")
        self._audit(look, layer, detail={"rows": 1}, object_id=fid)
        found["links"] = [
            {"href": self._url("item", collection_id=collection_id, fid=fid), "rel": "self", "type": GEOJSON},
            {
                "href": self._url("collection", collection_id=collection_id),
                "rel": "collection",
                "type": "application/json",
            },
        ]
        return Response(found, content_type=GEOJSON)
