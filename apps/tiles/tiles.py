"""Mapbox Vector Tiles built by PostGIS: one query per tile, `ST_AsMVT` over `ST_AsMVTGeom`.

A tile is made of sources (one MVT layer each: "streets", "zones", "incidents" ...), each a Django
queryset the caller has already scoped to the user. The queryset is compiled to SQL and wrapped:

    SELECT ST_AsMVT(t, name, extent, 'tile_geom', 'id') FROM (
        SELECT ST_AsMVTGeom(ST_Transform(s.tile_geom, 3857), <tile envelope 3857>, ...) AS tile_geom, attrs
        FROM (<scoped queryset>) s
        WHERE s.tile_geom && ST_Transform(<tile envelope 3857 + buffer>, 4326)   -- the GiST index
    ) t

The `&&` test is written on the stored column in its stored SRID (4326) against the envelope
transformed once, so PostgreSQL pushes it into the subquery and answers it from the GiST index;
transforming every stored geometry to 3857 first would compare computed values and scan the table.

Dense point sources can aggregate below a zoom: points are counted on a coarse grid (one cell per
screen pixel of a 256 px tile) and each cell becomes one feature with a `count`, so a city-wide tile
over a million incidents stays small enough to send and draw.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import F, QuerySet

MAX_ZOOM = 20
EXTENT = 4096  # MVT coordinate space of one tile, the spec's usual value
BUFFER = 64  # tile units drawn beyond the edge, so lines and symbols do not stop at tile seams
AGGREGATE_EXTENT = 256  # grid of an aggregated tile: one cell per pixel of a 256 px tile
GEOM = "tile_geom"  # the geometry column inside a tile query


class TileError(ValueError):
    """A tile address that does not exist: which parameter (`param`) and why."""

    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class TileAddress:
    """z/x/y in the XYZ (Google/OSM) scheme, validated."""

    z: int
    x: int
    y: int

    def __post_init__(self) -> None:
        if not 0 <= self.z <= MAX_ZOOM:
            raise TileError("z", f"z must be between 0 and {MAX_ZOOM}, got {self.z}")
        limit = (1 << self.z) - 1
        if not 0 <= self.x <= limit:
            raise TileError("x", f"x must be between 0 and {limit} at zoom {self.z}, got {self.x}")
        if not 0 <= self.y <= limit:
            raise TileError("y", f"y must be between 0 and {limit} at zoom {self.z}, got {self.y}")

    def __str__(self) -> str:
        return f"{self.z}/{self.x}/{self.y}"


@dataclass(frozen=True)
class TileSource:
    """One MVT layer of a tile: a scoped queryset, its geometry field and the attributes to carry.

    `attributes` maps an MVT attribute name to a model field path or a query expression (an int,
    float, text or boolean value; use epoch seconds for times). `aggregates` are the attributes of
    an aggregated cell (name -> SQL aggregate over the source's attribute columns, e.g.
    "min(priority)"); they are used when the tile's zoom is below `aggregate_below` (point sources).
    """

    name: str
    queryset: QuerySet
    geom_field: str
    attributes: Mapping[str, object] = field(default_factory=dict)
    aggregate_below: int | None = None
    aggregates: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.aggregate_below is not None and not self.is_point:
            raise ValueError(f"{self.name}: only point sources can be aggregated")

    @property
    def is_point(self) -> bool:
        return self.queryset.model._meta.get_field(self.geom_field).geom_type == "POINT"

    def aggregated(self, z: int) -> bool:
        return self.aggregate_below is not None and z < self.aggregate_below


def _source_sql(source: TileSource) -> tuple[str, list]:
    """The scoped queryset as SQL selecting id, the stored geometry as `tile_geom`, and the attributes."""
    plain = [name for name, path in source.attributes.items() if name == path]
    renamed = {
        name: (path if hasattr(path, "resolve_expression") else F(path))
        for name, path in source.attributes.items()
        if name != path
    }
    qs = source.queryset.order_by().values("id", *plain, **renamed, **{GEOM: F(source.geom_field)})
    sql, params = qs.query.sql_with_params()
    return sql, list(params)


def _layer_sql(source: TileSource, address: TileAddress) -> tuple[str, list]:
    inner, inner_params = _source_sql(source)
    zxy = [address.z, address.x, address.y]
    if source.aggregated(address.z):
        return _aggregated_sql(source, address, inner, inner_params)
    columns = "".join(f", s.{connection.ops.quote_name(name)}" for name in source.attributes)
    if source.is_point:
        # A point needs no clipping or simplifying: its tile coordinates are arithmetic on its
        # longitude/latitude, about half the cost of reprojecting it and running ST_AsMVTGeom.
        n = 1 << address.z
        geometry = f"ST_MakePoint(round({_tile_x(EXTENT)}), round({_tile_y(EXTENT)}))"
        geometry_params = [n, address.x, n, address.y]
    else:
        geometry = f"ST_AsMVTGeom(ST_Transform(s.{GEOM}, 3857), ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true)"
        geometry_params = zxy
    body = f"""
        SELECT s.id, {geometry} AS {GEOM}{columns}
        FROM ({inner}) s
        WHERE s.{GEOM} && ST_Transform(ST_TileEnvelope(%s, %s, %s, margin => {BUFFER / EXTENT}), 4326)
    """
    sql = f"SELECT ST_AsMVT(t, %s, {EXTENT}, '{GEOM}', 'id') FROM ({body}) t WHERE t.{GEOM} IS NOT NULL"
    return sql, [source.name, *geometry_params, *inner_params, *zxy]


def _tile_x(scale: int) -> str:
    """SQL: a 4326 point's x inside the tile, in units of 1/scale of the tile (params: 2^z, x)."""
    return f"((ST_X(s.{GEOM}) + 180.0) / 360.0 * %s - %s) * {scale}"


def _tile_y(scale: int) -> str:
    """SQL: the same for y, downwards from the tile's top edge (params: 2^z, y)."""
    return f"((1.0 - asinh(tan(radians(ST_Y(s.{GEOM})))) / pi()) / 2.0 * %s - %s) * {scale}"


def _aggregated_sql(source: TileSource, address: TileAddress, inner: str, inner_params: list) -> tuple[str, list]:
    """One feature per cell of a AGGREGATE_EXTENT grid over the tile, at the cell's centre.

    The cell of a point is computed from its longitude/latitude with the Web Mercator tile formulas
    (plain arithmetic, no reprojection of each of a million rows) and grouped on two integers."""
    n = 1 << address.z
    per_cell = EXTENT // AGGREGATE_EXTENT
    aggregates = "".join(f", {sql} AS {connection.ops.quote_name(name)}" for name, sql in source.aggregates.items())
    outputs = "".join(f", c.{connection.ops.quote_name(name)}" for name in source.aggregates)
    # A point on the tile's very edge may compute to cell -1 or 256 (float rounding): clamp it. (A filter
    # on cx/cy would be pushed below the GROUP BY, and its guessed selectivity makes the planner
    # expect a handful of rows and sort a million on disk instead of hashing them.)
    cell_x = f"LEAST(GREATEST(floor({_tile_x(AGGREGATE_EXTENT)})::int, 0), {AGGREGATE_EXTENT - 1})"
    cell_y = f"LEAST(GREATEST(floor({_tile_y(AGGREGATE_EXTENT)})::int, 0), {AGGREGATE_EXTENT - 1})"
    body = f"""
        SELECT ST_MakePoint(c.cx * {per_cell} + {per_cell // 2}, c.cy * {per_cell} + {per_cell // 2}) AS {GEOM},
               c.count{outputs}
        FROM (
            SELECT {cell_x} AS cx, {cell_y} AS cy, count(*)::int AS count{aggregates}
            FROM ({inner}) s
            WHERE s.{GEOM} && ST_Transform(ST_TileEnvelope(%s, %s, %s), 4326)
            GROUP BY 1, 2
        ) c
    """
    sql = f"SELECT ST_AsMVT(t, %s, {EXTENT}, '{GEOM}') FROM ({body}) t"
    zxy = [address.z, address.x, address.y]
    return sql, [source.name, n, address.x, n, address.y, *inner_params, *zxy]


def tile_sql(*, address: TileAddress, sources: list[TileSource]) -> tuple[str, list]:
    """One statement whose single value is the whole tile: the layers' MVT blobs concatenated
    (a tile with several layers is their protobuf messages one after another)."""
    parts, params = [], []
    for source in sources:
        sql, source_params = _layer_sql(source, address)
        parts.append(f"COALESCE(({sql}), ''::bytea)")
        params.extend(source_params)
    return "SELECT " + " || ".join(parts), params


def render_tile(*, address: TileAddress, sources: list[TileSource]) -> bytes:
    """The tile's bytes (empty when no source has a feature in it)."""
    if not sources:
        return b""
    sql, params = tile_sql(address=address, sources=sources)
    with transaction.atomic(), connection.cursor() as cursor:
        # A city-wide tile over a million rows costs enough for PostgreSQL to JIT-compile it, and the
        # compiling took a quarter of the tile's time (0.5 of 1.9 s at z10 over 1M incidents): a tile
        # query is short and never repeated in the same backend, the case JIT does not pay off for.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(sql, params)
        (blob,) = cursor.fetchone()
    return bytes(blob or b"")


def tile_etag(blob: bytes) -> str:
    return '"' + hashlib.blake2b(blob, digest_size=16).hexdigest() + '"'
