"""Geo helpers shared by every app: the one SRID we store, and strict parsing of user input.

User text never reaches GDAL/OGR: coordinates are parsed as floats, range-checked and turned into
GEOS geometries with a fixed SRID.
"""
from __future__ import annotations

import math

from django.contrib.gis.geos import Point, Polygon

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
