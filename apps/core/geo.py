"""Geo helpers shared by every app: the one SRID we store, and strict parsing of user input.

User text never reaches GDAL/OGR: coordinates are parsed as floats, range-checked and turned into
GEOS geometries with a fixed SRID.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from django.contrib.gis.geos import GeometryCollection, GEOSGeometry, MultiPolygon, Point, Polygon

SRID = 4326
# The only SRIDs we accept from outside (GeoJSON crs, import files); anything else is refused.
ALLOWED_SRIDS = frozenset({4326})
EARTH_RADIUS_M = 6_371_008.8


class GeoInputError(ValueError):
    """User-supplied coordinates or areas that cannot be used; the message says why."""


def _finite(value, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GeoInputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise GeoInputError(f"{name} must be a finite number, got {value!r}")
    return number


def check_lon_lat(lon, lat) -> tuple[float, float]:
    lon_f = _finite(lon, "longitude")
    lat_f = _finite(lat, "latitude")
    if not -180.0 <= lon_f <= 180.0:
        raise GeoInputError(f"longitude {lon_f} is outside -180..180")
    if not -90.0 <= lat_f <= 90.0:
        raise GeoInputError(f"latitude {lat_f} is outside -90..90")
    return lon_f, lat_f


class LonLat(NamedTuple):
    """A checked WGS84 position as plain numbers, for writers that take numbers (apps.incidents.bulk, fed
    by the importer): named like a Point's coordinates so either serves where only `.x` and `.y` are read."""

    x: float  # longitude
    y: float  # latitude


def make_point(lon, lat) -> Point:
    lon_f, lat_f = check_lon_lat(lon, lat)
    return Point(lon_f, lat_f, srid=SRID)


def parse_bbox(text: str) -> Polygon:
    """`minlon,minlat,maxlon,maxlat` -> polygon; refuses reversed, empty or out-of-range boxes."""
    parts = [p.strip() for p in (text or "").split(",")]
    if len(parts) != 4:
        raise GeoInputError("in_bbox must be minlon,minlat,maxlon,maxlat (four numbers)")
    min_lon, min_lat = check_lon_lat(parts[0], parts[1])
    max_lon, max_lat = check_lon_lat(parts[2], parts[3])
    if min_lon >= max_lon or min_lat >= max_lat:
        raise GeoInputError("in_bbox minimums must be smaller than maximums")
    poly = Polygon.from_bbox((min_lon, min_lat, max_lon, max_lat))
    poly.srid = SRID
    return poly


def check_srid(srid) -> int:
    try:
        value = int(srid)
    except (TypeError, ValueError):
        raise GeoInputError(f"SRID must be an integer, got {srid!r}") from None
    if value not in ALLOWED_SRIDS:
        raise GeoInputError(f"SRID {value} is not accepted; send WGS84 lon/lat (EPSG:4326)")
    return value


def check_extent(geom: GEOSGeometry, name: str = "geometry") -> None:
    """Every vertex of `geom` is a WGS84 lon/lat; GeoInputError otherwise.

    A projected file read as lon/lat (metres, six or seven digits) lands here rather than on the map."""
    if geom.empty:
        raise GeoInputError(f"{name} is empty")
    min_lon, min_lat, max_lon, max_lat = geom.extent
    for value in (min_lon, min_lat, max_lon, max_lat):
        if not math.isfinite(value):
            raise GeoInputError(f"{name} has a coordinate that is not a finite number")
    if min_lon < -180.0 or max_lon > 180.0:
        raise GeoInputError(f"{name} has a longitude outside -180..180")
    if min_lat < -90.0 or max_lat > 90.0:
        raise GeoInputError(f"{name} has a latitude outside -90..90")


def repair_area(geom: GEOSGeometry, name: str = "area") -> MultiPolygon:
    """A valid MultiPolygon covering what `geom` (a Polygon or MultiPolygon) was drawn to cover.

    A self-intersecting ring (a beat drawn as a figure eight, a spike, a ring traced twice) is repaired
    with GEOS MakeValid, which keeps every lobe; the older `buffer(0)` trick keeps only one lobe of a
    figure eight and so would silently drop half a beat. Line or point debris the repair leaves
    (a spike collapses to a line) is dropped, as it encloses nothing. GeoInputError when nothing
    with an area is left, or when the input is not an area or not lon/lat.
    """
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=geom.srid)
    if not isinstance(geom, MultiPolygon):
        raise GeoInputError(f"{name} must be a Polygon or MultiPolygon, got {geom.geom_type}")
    check_extent(geom, name)
    if geom.valid:
        return geom
    fixed = geom.make_valid()
    parts = list(fixed) if isinstance(fixed, GeometryCollection) else [fixed]
    polygons: list[Polygon] = []
    for part in parts:
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part)
    if not polygons:
        raise GeoInputError(f"{name} is invalid ({geom.valid_reason}) and encloses no area once repaired")
    repaired = MultiPolygon(*polygons, srid=geom.srid)
    if not repaired.valid:
        # Polygons from one MakeValid never overlap, but be sure: a union makes a valid whole.
        union = repaired.unary_union
        repaired = union if isinstance(union, MultiPolygon) else MultiPolygon(union, srid=geom.srid)
    if repaired.empty or not repaired.valid:
        raise GeoInputError(f"{name} is invalid ({geom.valid_reason}) and cannot be repaired")
    return repaired


def destination(lon: float, lat: float, bearing_deg: float, distance_m: float) -> tuple[float, float]:
    """Point reached from (lon, lat) going distance_m along bearing_deg on a sphere."""
    phi1 = math.radians(lat)
    lam1 = math.radians(lon)
    theta = math.radians(bearing_deg)
    delta = distance_m / EARTH_RADIUS_M
    phi2 = math.asin(math.sin(phi1) * math.cos(delta) + math.cos(phi1) * math.sin(delta) * math.cos(theta))
    lam2 = lam1 + math.atan2(
        math.sin(theta) * math.sin(delta) * math.cos(phi1), math.cos(delta) - math.sin(phi1) * math.sin(phi2)
    )
    return (math.degrees(lam2) + 540.0) % 360.0 - 180.0, math.degrees(phi2)


def metres_to_degrees(distance_m: float, lat: float) -> float:
    """A degree radius that surely contains every point within distance_m (for index prefilters)."""
    cos_lat = max(math.cos(math.radians(lat)), 0.01)
    return distance_m / (EARTH_RADIUS_M * math.pi / 180.0) / cos_lat
