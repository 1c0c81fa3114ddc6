"""Small geometry in metres (a flat local approximation, see the package docstring) and the `Sampler`
that draws points inside the city, its districts and around its hotspots.
"""

from __future__ import annotations

import bisect
import math
import random
from itertools import accumulate

from .spec import M_PER_DEG_LAT, CitySpec, Corridor, District, Hotspot, LatLon


def offset_m(lon: float, lat: float, east_m: float, north_m: float) -> LatLon:
    return (
        lon + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
        lat + north_m / M_PER_DEG_LAT,
    )


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    kx = M_PER_DEG_LAT * math.cos(math.radians((lat1 + lat2) / 2.0))
    return math.hypot((lon2 - lon1) * kx, (lat2 - lat1) * M_PER_DEG_LAT)


def bearing_deg(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    kx = math.cos(math.radians((lat1 + lat2) / 2.0))
    return math.degrees(math.atan2((lon2 - lon1) * kx, lat2 - lat1)) % 360.0


def _cum(weights) -> list[float]:
    return list(accumulate(float(w) for w in weights))


def _pick(rng: random.Random, items, cum: list[float]):
    return items[bisect.bisect_right(cum, rng.random() * cum[-1])]


class Sampler:
    """Random places in the city: anywhere, around a centre, or along an arterial."""

    def __init__(self, spec: CitySpec, rng: random.Random):
        self.spec = spec
        self.rng = rng
        self._hotspot_cum = _cum(h.weight for h in spec.hotspots)
        lengths = [_line_length(c.line) for c in spec.corridors]
        self._corridor_cum = _cum(lengths)

    def inside(self, lon: float, lat: float, district: District | None = None) -> bool:
        if district is not None and not district.in_box(lon, lat):
            return False
        return self.spec.outline.contains(lon, lat)

    def uniform(self, district: District | None = None) -> LatLon:
        x0, y0, x1, y1 = self.spec.outline.bbox
        if district is not None:
            x0, y0 = max(x0, district.bbox[0]), max(y0, district.bbox[1])
            x1, y1 = min(x1, district.bbox[2]), min(y1, district.bbox[3])
        for _ in range(10_000):
            lon, lat = self.rng.uniform(x0, x1), self.rng.uniform(y0, y1)
            if self.inside(lon, lat, district):
                return lon, lat
        raise RuntimeError("cannot place a point inside the demo city (is the outline degenerate?)")

    def near(self, lon: float, lat: float, spread_m: float, district: District | None = None) -> LatLon:
        """Gaussian around (lon, lat); points that fall in the water or outside are redrawn."""
        for _ in range(50):
            p = offset_m(lon, lat, self.rng.gauss(0.0, spread_m), self.rng.gauss(0.0, spread_m))
            if self.inside(*p, district):
                return p
        return self.uniform(district)

    def hotspot(self) -> Hotspot:
        return _pick(self.rng, self.spec.hotspots, self._hotspot_cum)

    def along_corridor(self, jitter_m: float = 15.0) -> tuple[Corridor, float, float, float]:
        """A point on a length-weighted random arterial: (corridor, lon, lat, bearing of the road)."""
        corridor = _pick(self.rng, self.spec.corridors, self._corridor_cum)
        for _ in range(50):
            lon, lat, road_bearing = _point_on_line(corridor.line, self.rng.random())
            lon, lat = offset_m(lon, lat, self.rng.gauss(0, jitter_m), self.rng.gauss(0, jitter_m))
            if self.inside(lon, lat):
                return corridor, lon, lat, road_bearing
        lon, lat, road_bearing = _point_on_line(corridor.line, 0.5)
        return corridor, lon, lat, road_bearing


def _line_length(line) -> float:
    return sum(distance_m(*line[i], *line[i + 1]) for i in range(len(line) - 1))


def _point_on_line(line, fraction: float) -> tuple[float, float, float]:
    target = _line_length(line) * fraction
    for i in range(len(line) - 1):
        seg = distance_m(*line[i], *line[i + 1])
        if target <= seg or i == len(line) - 2:
            t = min(1.0, target / seg) if seg else 0.0
            (x1, y1), (x2, y2) = line[i], line[i + 1]
            return x1 + (x2 - x1) * t, y1 + (y2 - y1) * t, bearing_deg(x1, y1, x2, y2)
        target -= seg
    raise ValueError("a corridor needs at least two points")
