"""CAP area geometry: `<polygon>` and `<circle>` text to (lon, lat) rings, and geocodes to codes.

CAP writes points as ``lat,lon`` (WGS 84), pairs separated by spaces; a polygon repeats its first
pair last and has at least four; a circle is ``lat,lon radius`` with the radius in kilometres.

A circle becomes a polygon of CIRCLE_VERTICES points at its radius on the WGS 84 ellipsoid
(geodesic destinations, so it is round in metres at any latitude). A circle of radius 0 (the CAP 1.0 spec
examples, tsunami messages) is a point, not an area: it gives the alert its location and no
polygon. The alert's representative point is the centre of its first circle, else the centroid of
its first polygon (as before), and the zones' area when only geocodes place it (set at store time).
"""

from __future__ import annotations

import math
from xml.etree.ElementTree import Element

from pyproj import Geod

from ..common import RecordError, centroid, coords, xml_text

CIRCLE_VERTICES = 64
MAX_RADIUS_KM = 2000.0  # bigger is a unit error (metres written as km), not an alert area
Ring = tuple[tuple[float, float], ...]
_GEOD = Geod(ellps="WGS84")

# How CAP feeds name their geocode schemes, and the scheme a zone lists the code under.
SCHEMES = {
    "profile:cap-cp:location:0.3": "CAP-CP",
    "profile:cap-cp:location": "CAP-CP",
    "fips6": "FIPS6",
}


def lat_lon(pair: str, name: str) -> tuple[float, float]:
    """One CAP ``lat,lon`` pair as a checked (lon, lat)."""
    try:
        lat, lon = (float(v) for v in pair.split(","))
    except ValueError:
        raise RecordError(f"{name} point {pair!r} is not lat,lon") from None
    return coords(lon, lat)


def polygon_ring(value: str) -> Ring | None:
    """A `<polygon>` as a ring of (lon, lat); None for an empty element (NWS writes `<polygon></polygon>`)."""
    pairs = value.split()
    if not pairs:
        return None
    ring = tuple(lat_lon(pair, "polygon") for pair in pairs)
    if len(ring) < 4 or ring[0] != ring[-1]:
        raise RecordError("polygon must be at least four lat,lon pairs with the first repeated last")
    return ring


def circle(value: str) -> tuple[tuple[float, float], float]:
    """A `<circle>` as ((lon, lat) centre, radius in metres)."""
    parts = value.split()
    if len(parts) != 2:
        raise RecordError(f"circle {value!r} is not 'lat,lon radius'")
    centre = lat_lon(parts[0], "circle")
    try:
        radius_km = float(parts[1])
    except ValueError:
        raise RecordError(f"circle radius {parts[1]!r} is not a number of kilometres") from None
    if not 0 <= radius_km <= MAX_RADIUS_KM or not math.isfinite(radius_km):
        raise RecordError(f"circle radius {parts[1]} km is outside 0..{MAX_RADIUS_KM:g} km")
    return centre, radius_km * 1000.0


def circle_ring(centre: tuple[float, float], radius_m: float, vertices: int = CIRCLE_VERTICES) -> Ring:
    """The circle as a closed ring of (lon, lat): points `radius_m` along geodesics from the centre on
    the WGS 84 ellipsoid (pyproj), so it is round in metres at any latitude."""
    bearings = [360.0 * k / vertices for k in range(vertices)]
    lons, lats, _ = _GEOD.fwd([centre[0]] * vertices, [centre[1]] * vertices, bearings, [radius_m] * vertices)
    ring = [(round(lon, 7), round(lat, 7)) for lon, lat in zip(lons, lats, strict=True)]
    ring.append(ring[0])
    return tuple(ring)


def areas_geometry(areas: list[Element], ns: str) -> tuple[tuple[Ring, ...], tuple[float, float] | None]:
    """Every polygon and circle of the areas, and the representative point (see the module docstring)."""
    rings: list[Ring] = []
    point: tuple[float, float] | None = None
    first_polygon: Ring | None = None
    for area in areas:
        for element in area.findall(ns + "circle"):
            centre, radius_m = circle(xml_text(element))
            point = point or centre
            if radius_m > 0:
                rings.append(circle_ring(centre, radius_m))
        for element in area.findall(ns + "polygon"):
            ring = polygon_ring(xml_text(element))
            if ring is not None:
                rings.append(ring)
                first_polygon = first_polygon or ring
    if point is None and first_polygon is not None:
        point = coords(*centroid(list(first_polygon)))
    return tuple(rings), point


def scheme(value_name: str) -> str:
    name = value_name.strip()
    return SCHEMES.get(name.lower(), name.upper())


def geocodes(areas: list[Element], ns: str) -> tuple[str, ...]:
    """Every `<geocode>` of the areas as "SCHEME:value" (scheme upper-cased, CAP-CP's profile name shortened)."""
    found: dict[str, None] = {}
    for area in areas:
        for code in area.findall(ns + "geocode"):
            name, value = xml_text(code.find(ns + "valueName")), xml_text(code.find(ns + "value"))
            if name and value:
                found[f"{scheme(name)}:{value}"] = None
    return tuple(found)
