"""Reads for exports and the OGC API Features endpoint: a layer's scoped, filtered selection, its
rows with the geometry already encoded by PostGIS, and a collection's extent."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from types import SimpleNamespace
from typing import Any, Literal

from django.contrib.gis.db.models import Extent
from django.contrib.gis.db.models.functions import AsGeoJSON, AsKML, AsWKT
from django.db.models import F, FloatField, Func, Max, Min, QuerySet
from rest_framework import exceptions

from apps.core.api import LayerFilterBackend
from apps.core.params import choice_list_param, id_list_param

from .layers import ExportLayer

GeometryEncoding = Literal["geojson", "wkt", "lonlat", "kml"]

MAX_IDS = 10_000
# Rows fetched per round trip from the server-side cursor while a big export streams.
CHUNK_SIZE = 2000


def export_queryset(*, layer: ExportLayer, user: Any, params: Mapping[str, str]) -> QuerySet:
    """What `user` may see of `layer`, narrowed by the map's filters (in_bbox, since/until, status)
    plus `type=` (comma-separated) and `ids=` (explicit record ids), in id order.

    Bad filter values raise a DRF ValidationError naming the parameter.
    """
    qs = layer.queryset(user)
    # The layer entry carries the same attributes a LayerViewSet does, so the map's filter backend
    # applies unchanged: one definition of what in_bbox, since/until and status mean.
    qs = LayerFilterBackend().filter_queryset(SimpleNamespace(query_params=params), qs, layer)
    if params.get("type", ""):
        if not layer.type_field:
            raise exceptions.ValidationError({"type": f"the {layer.name} layer has no type to filter on"})
        choices = layer.type_choices.values if layer.type_choices is not None else None
        wanted = choice_list_param(params, "type", choices)
        qs = qs.filter(**{f"{layer.type_field}__in": wanted})
    ids = id_list_param(params, "ids", max_count=MAX_IDS)
    if ids is not None:
        qs = qs.filter(pk__in=ids)
    return qs.order_by("pk")


def ogc_filter(
    qs: QuerySet, *, layer: ExportLayer, bbox=None, start: datetime | None = None, end: datetime | None = None
) -> QuerySet:
    """OGC `bbox` (intersects) and `datetime` (a closed interval; either end may be open)."""
    if bbox is not None:
        qs = qs.filter(**{f"{layer.geom_field}__intersects": bbox})
    if start is not None:
        qs = qs.filter(**{f"{layer.time_field}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{layer.time_field}__lte": end})
    return qs


def _geometry_annotations(layer: ExportLayer, encoding: GeometryEncoding) -> dict[str, Any]:
    geom = layer.geom_field
    if encoding == "geojson":
        return {"_geom": AsGeoJSON(geom)}
    if encoding == "wkt":
        return {"_geom": AsWKT(geom)}
    if encoding == "kml":
        return {"_geom": AsKML(geom)}
    return {
        "_lon": Func(F(geom), function="ST_X", output_field=FloatField()),
        "_lat": Func(F(geom), function="ST_Y", output_field=FloatField()),
    }


def _row_values(qs: QuerySet, layer: ExportLayer, encoding: GeometryEncoding) -> QuerySet:
    annotations = _geometry_annotations(layer, encoding)
    return qs.annotate(**annotations).values(*[lookup for _, lookup in layer.fields], *annotations)


def _as_row(layer: ExportLayer, values: dict[str, Any]) -> dict[str, Any]:
    row = {name: values[lookup] for name, lookup in layer.fields}
    row.update({key: value for key, value in values.items() if key.startswith("_")})
    return row


def export_rows(
    qs: QuerySet, *, layer: ExportLayer, encoding: GeometryEncoding, limit: int | None = None
) -> Iterator[dict[str, Any]]:
    """Each record as {column: value, ..., "_geom" or "_lon"/"_lat": geometry}, streamed from a
    server-side cursor so a big export never sits in memory."""
    values = _row_values(qs, layer, encoding)
    if limit is not None:
        values = values[:limit]
    for item in values.iterator(chunk_size=CHUNK_SIZE):
        yield _as_row(layer, item)


def feature(layer: ExportLayer, row: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON Feature (as a dict) from a row read with the geojson encoding."""
    properties = {name: row[name] for name, _ in layer.fields}
    geometry = row.get("_geom")
    return {
        "type": "Feature",
        "id": row["id"],
        "geometry": json.loads(geometry) if geometry else None,
        "properties": properties,
    }


def ogc_page(qs: QuerySet, *, layer: ExportLayer, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    """One page of features and how many match in all."""
    matched = qs.count()
    rows = _row_values(qs, layer, "geojson")[offset : offset + limit]
    return [feature(layer, _as_row(layer, item)) for item in rows], matched


def ogc_feature(*, layer: ExportLayer, user: Any, fid: int) -> dict[str, Any] | None:
    item = _row_values(layer.queryset(user).filter(pk=fid), layer, "geojson").first()
    return None if item is None else feature(layer, _as_row(layer, item))


def collection_extent(*, layer: ExportLayer, user: Any) -> dict[str, Any]:
    """The spatial (lon/lat box) and temporal extent of what the user may see of the layer."""
    aggregates: dict[str, Any] = {"box": Extent(layer.geom_field)}
    if layer.time_field:
        aggregates["first"] = Min(layer.time_field)
        aggregates["last"] = Max(layer.time_field)
    found = layer.queryset(user).aggregate(**aggregates)
    extent: dict[str, Any] = {
        "spatial": {
            "bbox": [list(found["box"]) if found["box"] else [-180.0, -90.0, 180.0, 90.0]],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        }
    }
    if layer.time_field:
        extent["temporal"] = {
            "interval": [[found["first"], found["last"]]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        }
    return extent
