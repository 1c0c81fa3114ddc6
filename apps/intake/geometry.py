"""GeoJSON geometries built number by number into GEOS Points, Polygons and MultiPolygons.

User text never reaches GDAL/OGR: coordinates are parsed as numbers, range-checked by apps.core.geo and
assembled here (WKT text is first read into the same GeoJSON shape by apps.intake.wkt).
"""

from __future__ import annotations

from typing import Any

from django.contrib.gis.geos import GEOSException, GEOSGeometry, LinearRing, MultiPolygon, Point, Polygon

from apps.core.geo import SRID, GeoInputError, check_lon_lat
from apps.intake.errors import RowError

# A zone with more vertices than this is almost certainly the wrong file (or a hostile one).
MAX_VERTICES = 250_000


def _position(position: Any) -> tuple[float, float]:
    if not isinstance(position, list | tuple) or not 2 <= len(position) <= 4:
        raise RowError(f"a position must be [lon, lat], got {position!r}"[:200])
    lon, lat = position[0], position[1]
    for number in (lon, lat):
        # bool is an int to Python, but true/false in a coordinate is a broken file, not 1/0.
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise RowError(f"coordinates must be numbers, got {number!r}")
    try:
        return check_lon_lat(lon, lat)
    except GeoInputError as exc:
        raise RowError(str(exc)) from None


def _ring(coordinates: Any, budget: list[int]) -> LinearRing:
    if not isinstance(coordinates, list) or len(coordinates) < 4:
        raise RowError("a polygon ring needs at least 4 positions")
    budget[0] -= len(coordinates)
    if budget[0] < 0:
        raise RowError(f"geometry has more than {MAX_VERTICES} vertices")
    points = [_position(position) for position in coordinates]
    if points[0] != points[-1]:
        raise RowError("a polygon ring must end where it starts (closed ring)")
    return LinearRing(points, srid=SRID)


def _polygon(coordinates: Any, budget: list[int]) -> Polygon:
    if not isinstance(coordinates, list) or not coordinates:
        raise RowError("a polygon needs at least one ring")
    rings = [_ring(ring, budget) for ring in coordinates]
    return Polygon(*rings, srid=SRID)


def geometry_from_geojson(*, geometry: Any, allowed: tuple[str, ...]) -> GEOSGeometry:
    """Build a Point, Polygon or MultiPolygon from a GeoJSON geometry object, number by number."""
    if not isinstance(geometry, dict):
        raise RowError("geometry must be a GeoJSON geometry object")
    kind = geometry.get("type")
    if kind not in allowed:
        raise RowError(f"geometry must be a {' or '.join(allowed)}, got {kind!r}")
    coordinates = geometry.get("coordinates")
    budget = [MAX_VERTICES]
    try:
        if kind == "Point":
            lon, lat = _position(coordinates)
            return Point(lon, lat, srid=SRID)
        if kind == "Polygon":
            return _polygon(coordinates, budget)
        if not isinstance(coordinates, list) or not coordinates:
            raise RowError("a MultiPolygon needs at least one polygon")
        return MultiPolygon(*[_polygon(polygon, budget) for polygon in coordinates], srid=SRID)
    except GEOSException as exc:
        raise RowError(f"geometry cannot be built: {exc}") from None


def lon_lat_from_geojson(*, geometry: Any) -> tuple[float, float]:
    """The checked (lon, lat) of a GeoJSON Point, with the reasons geometry_from_geojson gives, without GEOS."""
    if not isinstance(geometry, dict):
        raise RowError("geometry must be a GeoJSON geometry object")
    kind = geometry.get("type")
    if kind != "Point":
        raise RowError(f"geometry must be a Point, got {kind!r}")
    return _position(geometry.get("coordinates"))
