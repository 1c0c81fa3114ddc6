"""Layer exports as files (GeoJSON, CSV, KML). Need EXPORT_LAYERS plus the layer's own permission,
read through the layer's scoped selector, and are audited (AuditAction.EXPORT) with the layer,
format, filters and row count. The OGC API endpoint over the same layers is in `ogc.py`."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, viewsets

from apps.accounts.permissions import Perm, user_has_perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason, audited

from ..formats import CONTENT_TYPES, CSV_GEOMETRIES, FORMATS, csv_chunks, geojson_chunks, kml_chunks
from ..layers import LAYERS, ExportLayer
from ..selectors import export_queryset, export_rows

# A bigger selection is refused with a 400 that says how to narrow it: an export is meant for a
# case file or a GIS session, not for copying the database out.
EXPORT_MAX_ROWS = getattr(settings, "RTCC_EXPORT_MAX_ROWS", 100_000)


EXPORT = AuditedRead(
    "exports.export",
    actions=(AuditAction.EXPORT,),
    reason=Reason(required="every export needs a reason (e.g. a case number)"),
)


def _layer_for(request, name: str, *, param: str) -> ExportLayer:
    layer = LAYERS.get(name)
    if layer is None:
        raise exceptions.ValidationError({param: f"unknown layer {name!r}; use {', '.join(LAYERS)}"})
    if not user_has_perm(request.user, layer.perm):
        raise exceptions.PermissionDenied(f"Your role may not read the {name} layer.")
    return layer


def _filters(request) -> dict[str, str]:
    return {k: v for k, v in request.query_params.items() if k != "reason"}


class ExportViewSet(viewsets.ViewSet):
    """`GET /api/exports/<layer>.<format>`: a layer or a selection of it as a file, streamed."""

    required_perms = {"export": Perm.EXPORT_LAYERS}

    def perform_content_negotiation(self, request, force=False):
        # The file is written by hand; a client asking only for text/csv or KML must not get a 406.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="layer_export",
        parameters=[
            OpenApiParameter("layer", str, OpenApiParameter.PATH, enum=list(LAYERS)),
            OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(FORMATS)),
            OpenApiParameter("reason", str, required=True, description="why you export (case number); recorded"),
            OpenApiParameter("in_bbox", str, description="minlon,minlat,maxlon,maxlat"),
            OpenApiParameter("since", OpenApiTypes.DATETIME),
            OpenApiParameter("until", OpenApiTypes.DATETIME),
            OpenApiParameter("status", str, description="comma-separated statuses"),
            OpenApiParameter("type", str, description="comma-separated types (incident type code, alert kind...)"),
            OpenApiParameter("ids", str, description="comma-separated record ids"),
            OpenApiParameter("csv_geometry", str, enum=list(CSV_GEOMETRIES), description="CSV only; default wkt"),
        ],
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="GeoJSON, CSV or KML file")},
    )
    @audited(EXPORT)
    def export(self, request, layer: str, fmt: str, *, look):
        spec = _layer_for(request, layer, param="layer")
        if fmt not in FORMATS:
            raise exceptions.ValidationError({"format": f"unknown format {fmt!r}; use {', '.join(FORMATS)}"})
        csv_geometry = request.query_params.get("csv_geometry", "wkt")
        if csv_geometry not in CSV_GEOMETRIES:
            raise exceptions.ValidationError({"csv_geometry": f"use {' or '.join(CSV_GEOMETRIES)}"})
        if fmt == "csv" and csv_geometry == "lonlat" and not spec.points_only:
            raise exceptions.ValidationError({"csv_geometry": f"{layer} are areas: use csv_geometry=wkt"})
        qs = export_queryset(layer=spec, user=request.user, params=request.query_params)
        count = qs.count()
        if count > EXPORT_MAX_ROWS:
            raise exceptions.ValidationError(
                {
                    "detail": f"the selection has {count} rows; an export holds at most {EXPORT_MAX_ROWS}. "
                    "Narrow it with in_bbox, since/until, status, type or ids."
                }
            )
        # Recorded before the first row is read: a client that drops the download is still on record.
        look.record(obj=qs, detail={"layer": spec.name, "format": fmt, "filters": _filters(request), "rows": count})
        if fmt == "geojson":
            chunks = geojson_chunks(export_rows(qs, layer=spec, encoding="geojson", limit=count), layer=spec)
        elif fmt == "kml":
            chunks = kml_chunks(export_rows(qs, layer=spec, encoding="kml", limit=count), layer=spec)
        else:
            encoding = "wkt" if csv_geometry == "wkt" else "lonlat"
            rows = export_rows(qs, layer=spec, encoding=encoding, limit=count)
            chunks = csv_chunks(rows, layer=spec, geometry=csv_geometry)
        response = StreamingHttpResponse(chunks, content_type=CONTENT_TYPES[fmt])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="{spec.name}-{stamp}.{fmt}"'
        response["Cache-Control"] = "no-store"
        return response
