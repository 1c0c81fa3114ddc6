"""The area a camera sees: a sector (or a circle for PTZ and 360° cameras), in lon/lat."""

from __future__ import annotations

from django.contrib.gis.geos import Polygon

from apps.core.geo import SRID, destination

ARC_STEP_DEG = 5.0
CIRCLE_SEGMENTS = 48


def view_polygon(lon: float, lat: float, heading: float | None, fov_deg: float, range_m: float, ptz: bool) -> Polygon:
    if range_m <= 0:
        raise ValueError("range must be positive")
    if ptz or heading is None or fov_deg >= 360:
        ring = [destination(lon, lat, i * 360.0 / CIRCLE_SEGMENTS, range_m) for i in range(CIRCLE_SEGMENTS)]
        ring.append(ring[0])
    else:
        start = heading - fov_deg / 2.0
        steps = max(2, int(round(fov_deg / ARC_STEP_DEG)))
        arc = [destination(lon, lat, start + fov_deg * i / steps, range_m) for i in range(steps + 1)]
        ring = [(lon, lat), *arc, (lon, lat)]
    return Polygon(ring, srid=SRID)
