"""The demo city's definition: fixtures/demo_city.json read into a checked `CitySpec` (outline,
districts, neighbourhoods, hotspots, incident types, corridors, rhythm).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.gis.geos import Polygon

from apps.core.geo import SRID

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_city.json"
M_PER_DEG_LAT = 111_320.0
LatLon = tuple[float, float]


@dataclass(frozen=True)
class Hotspot:
    name: str
    lon: float
    lat: float
    weight: float
    spread_m: float


@dataclass(frozen=True)
class IncidentType:
    code: str
    description: str
    priority: int
    share: float
    hotspot_prone: bool
    spread_scale: float
    profile: str


@dataclass(frozen=True)
class District:
    code: str
    name: str
    bbox: tuple[float, float, float, float]

    def in_box(self, lon: float, lat: float) -> bool:
        return self.bbox[0] <= lon < self.bbox[2] and self.bbox[1] <= lat < self.bbox[3]


@dataclass(frozen=True)
class Neighbourhood:
    name: str
    lon: float
    lat: float
    streets: tuple[str, ...]


@dataclass(frozen=True)
class Corridor:
    name: str
    line: tuple[LatLon, ...]


class Outline:
    """The city limits as one closed lon/lat ring, with a fast point-in-polygon test."""

    def __init__(self, ring: list[list[float]]):
        points = [(float(x), float(y)) for x, y in ring]
        if points[0] != points[-1]:
            points.append(points[0])
        self.ring: tuple[LatLon, ...] = tuple(points)
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        self.bbox = (min(xs), min(ys), max(xs), max(ys))

    def contains(self, lon: float, lat: float) -> bool:
        """Even-odd ray casting; points exactly on the ring may fall either way, which sampling tolerates."""
        inside = False
        ring = self.ring
        for i in range(len(ring) - 1):
            x1, y1 = ring[i]
            x2, y2 = ring[i + 1]
            if (y1 > lat) != (y2 > lat) and lon < x1 + (lat - y1) * (x2 - x1) / (y2 - y1):
                inside = not inside
        return inside

    def polygon(self) -> Polygon:
        return Polygon(self.ring, srid=SRID)


@dataclass(frozen=True)
class CitySpec:
    """The parsed fixture. `params` keeps the loosely structured sections (cameras, alpr, ...)."""

    agency: dict
    city: dict
    outline: Outline
    districts: tuple[District, ...]
    hotspots: tuple[Hotspot, ...]
    types: tuple[IncidentType, ...]
    neighbourhoods: tuple[Neighbourhood, ...]
    corridors: tuple[Corridor, ...]
    params: dict

    def district(self, code: str) -> District:
        for d in self.districts:
            if d.code == code:
                return d
        raise KeyError(code)

    def district_of(self, lon: float, lat: float) -> District | None:
        for d in self.districts:
            if d.in_box(lon, lat):
                return d
        return None

    def hotspot(self, name: str) -> Hotspot:
        for h in self.hotspots:
            if h.name == name:
                return h
        raise KeyError(name)


def load_spec(path: Path = FIXTURE) -> CitySpec:
    """Read and check the fixture; a broken hand edit fails here with a message, not mid-load."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    outline = Outline(raw["outline"])
    spec = CitySpec(
        agency=raw["agency"],
        city=raw["city"],
        outline=outline,
        districts=tuple(District(d["code"], d["name"], tuple(d["bbox"])) for d in raw["districts"]),
        hotspots=tuple(Hotspot(h["name"], *h["at"], h["weight"], h["spread_m"]) for h in raw["hotspots"]),
        types=tuple(
            IncidentType(
                t["code"],
                t["description"],
                int(t["priority"]),
                float(t["share"]),
                bool(t["hotspot_prone"]),
                float(t["spread_scale"]),
                t["profile"],
            )
            for t in raw["incident_types"]
        ),
        neighbourhoods=tuple(Neighbourhood(n["name"], *n["at"], tuple(n["streets"])) for n in raw["neighbourhoods"]),
        corridors=tuple(Corridor(c["name"], tuple(tuple(p) for p in c["line"])) for c in raw["corridors"]),
        params=raw,
    )
    _check_spec(spec)
    return spec


def _check_spec(spec: CitySpec) -> None:
    if not spec.outline.polygon().valid:
        raise ValueError("demo city outline is not a valid polygon")
    named = [(h.name, h.lon, h.lat) for h in spec.hotspots]
    named += [(n.name, n.lon, n.lat) for n in spec.neighbourhoods]
    named += [(c.name, *p) for c in spec.corridors for p in c.line]
    named += [(s["name"], *s["at"]) for s in spec.params["alpr"]["sites"]]
    named += [(a["title"], *a["at"]) for a in spec.params["other_alerts"]]
    named += [(b["name"], *b["at"]) for b in spec.params["cameras"]["business_owners"]]
    outside = [name for name, lon, lat in named if not spec.outline.contains(lon, lat)]
    if outside:
        raise ValueError(f"demo city points outside the outline: {', '.join(outside)}")
    if abs(sum(t.share for t in spec.types) - 1.0) > 1e-6:
        raise ValueError("incident type shares must sum to 1")
    profiles = spec.params["rhythm"]["hours"]
    for t in spec.types:
        if t.profile not in profiles or not 1 <= t.priority <= 5:
            raise ValueError(f"incident type {t.code}: unknown profile or priority outside 1..5")
    if any(len(p) != 24 or min(p) < 0 or sum(p) <= 0 for p in profiles.values()):
        raise ValueError("every hour profile needs 24 non-negative weights, not all zero")
    for unit in spec.params["units"]:
        spec.district(unit["district"])
