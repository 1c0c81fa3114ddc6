"""The simulated demo city: hand-drawn geography in fixtures/demo_city.json turned into record plans.

Everything here is pure: functions take the spec, one `random.Random` and "now", and return plain
dataclasses or GEOS geometries without touching the database (`apps.demo.services` writes them).
The same seed gives the same city; only the times move with "now". Point sampling works in a
flat local approximation (metres east/north of a point) with a hand-rolled point-in-ring test:
across a 25 km city the error is far below anything a map shows, and it is much faster than a
GEOS call for each of the ~50,000 candidate points of a default load.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from itertools import accumulate
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.contrib.gis.geos.collections import GeometryCollection

from apps.alpr.choices import SiteKind
from apps.cameras.choices import CameraStatus, OwnerKind, Sharing
from apps.core.geo import SRID
from apps.incidents.choices import IncidentStatus
from apps.units.choices import UnitStatus

FIXTURE = Path(settings.BASE_DIR) / "fixtures" / "demo_city.json"
M_PER_DEG_LAT = 111_320.0
LatLon = tuple[float, float]


# --- the spec -------------------------------------------------------------------------------------


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


# --- small geometry in metres ------------------------------------------------------------------------


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


# --- zones ------------------------------------------------------------------------------------------


def _polygons(geom: GEOSGeometry) -> list[Polygon]:
    """The polygonal parts of an intersection result (which may hold stray lines or points)."""
    if geom.empty:
        return []
    if isinstance(geom, Polygon):
        return [geom] if geom.area > 0 else []
    if isinstance(geom, GeometryCollection):  # MultiPolygon included
        parts: list[Polygon] = []
        for g in geom:
            parts.extend(_polygons(g))
        return parts
    return []


def as_multi(parts: list[Polygon]) -> MultiPolygon:
    multi = MultiPolygon(*[p.clone() for p in parts], srid=SRID)
    if not multi.valid:
        # Parts sharing an edge make an invalid MultiPolygon; buffer(0) dissolves them into one.
        merged = multi.buffer(0)
        multi = MultiPolygon(*_polygons(merged), srid=SRID)
    return multi


def city_geometry(spec: CitySpec) -> MultiPolygon:
    return MultiPolygon(spec.outline.polygon(), srid=SRID)


def district_geometries(spec: CitySpec) -> dict[str, MultiPolygon]:
    city = spec.outline.polygon()
    result = {}
    for d in spec.districts:
        box = Polygon.from_bbox(d.bbox)
        box.srid = SRID
        result[d.code] = as_multi(_polygons(city.intersection(box)))
    return result


@dataclass
class BeatPlan:
    code: str
    district: str
    geom: MultiPolygon


def beat_geometries(spec: CitySpec, districts: dict[str, MultiPolygon]) -> list[BeatPlan]:
    """Cut a grid over the city, split it by district, and fold slivers into a neighbour.

    Busy districts get a finer grid, and cells whose centre lies in a dense box finer still: small
    beats where the calls are, as a real department draws them downtown.
    """
    grid = spec.params["beat_grid"]
    finer = {code: int(k) for code, k in grid.get("finer", {}).items()}
    dense = [(tuple(box["bbox"]), int(box["finer"])) for box in grid.get("dense", [])]
    # Every cell edge is a whole number of lattice steps from the corner, so cells of different
    # sizes still share bit-identical coordinates and the union of neighbours dissolves the edge.
    lattice = math.lcm(1, *finer.values()) * math.lcm(1, *(k for _, k in dense))
    x0, y0, x1, y1 = spec.outline.bbox
    cols, rows = int(grid["cols"]) * lattice, int(grid["rows"]) * lattice
    ux, uy = (x1 - x0) / cols, (y1 - y0) / rows
    min_share = float(grid["min_share"])
    beats: list[BeatPlan] = []
    for d in spec.districts:
        size = lattice // finer.get(d.code, 1)
        dgeom = districts[d.code]
        pieces: list[tuple[GEOSGeometry, float]] = []
        for c, r, n in _cells(cols, rows, size, dense, x0, y0, ux, uy):
            cell = Polygon.from_bbox((x0 + c * ux, y0 + r * uy, x0 + (c + n) * ux, y0 + (r + n) * uy))
            cell.srid = SRID
            if cell.intersects(dgeom):
                pieces.extend((p, cell.area) for p in _polygons(dgeom.intersection(cell)))
        merged = _merge_slivers(pieces, min_share)
        # Number beats north to south, then west to east, as a dispatcher reads a map.
        row_h = size * uy
        merged.sort(key=lambda g: (-round(g.centroid.y / row_h), g.centroid.x))
        for i, piece in enumerate(merged, start=1):
            beats.append(BeatPlan(code=f"{d.code}{i}", district=d.code, geom=as_multi(_polygons(piece))))
    return beats


def _cells(
    cols: int, rows: int, size: int, dense: list, x0: float, y0: float, ux: float, uy: float
) -> Iterator[tuple[int, int, int]]:
    """Grid cells as (col, row, side) in lattice steps, split k x k where their centre is in a dense box."""
    for r in range(0, rows, size):
        for c in range(0, cols, size):
            cx, cy = x0 + (c + size / 2) * ux, y0 + (r + size / 2) * uy
            k = next((k for (bx0, by0, bx1, by1), k in dense if bx0 <= cx < bx1 and by0 <= cy < by1), 1)
            sub = size // k
            for j in range(k):
                for i in range(k):
                    yield c + i * sub, r + j * sub, sub


def _merge_slivers(pieces: list[tuple[GEOSGeometry, float]], min_share: float) -> list[GEOSGeometry]:
    """Fold every piece smaller than min_share of its own cell into the neighbour it borders most."""
    pieces = list(pieces)
    while len(pieces) > 1:
        small_i = min(range(len(pieces)), key=lambda i: pieces[i][0].area / pieces[i][1])
        small, nominal = pieces[small_i]
        if small.area >= nominal * min_share:
            break
        best_j, best_len = None, 0.0
        for j, (other, _) in enumerate(pieces):
            if j != small_i:
                shared = small.intersection(other).length
                if shared > best_len:
                    best_j, best_len = j, shared
        if best_j is None:
            # An island that touches nothing in its district: the nearest piece takes it.
            best_j = min((j for j in range(len(pieces)) if j != small_i), key=lambda j: small.distance(pieces[j][0]))
        other, other_nominal = pieces[best_j]
        pieces = [p for k, p in enumerate(pieces) if k not in (small_i, best_j)]
        pieces.append((other.union(small), max(nominal, other_nominal)))
    return [g for g, _ in pieces]


# --- time ---------------------------------------------------------------------------------------------


class Calendar:
    """Draws local times over the past year with the fixture's hour, weekday and month rhythm."""

    def __init__(self, spec: CitySpec, now: datetime, days: int = 365):
        rhythm = spec.params["rhythm"]
        self.tz = ZoneInfo(spec.agency["time_zone"])
        self.now = now
        today = now.astimezone(self.tz).date()
        self.days: list[date] = [today - timedelta(days=i) for i in range(days)]
        self._day_cum = _cum(rhythm["weekdays"][d.weekday()] * rhythm["months"][d.month - 1] for d in self.days)
        self._hour_cum = {name: _cum(weights) for name, weights in rhythm["hours"].items()}
        self.hour_weights = rhythm["hours"]

    def sample(self, rng: random.Random, profile: str, not_after: datetime) -> datetime:
        for _ in range(1000):
            day = _pick(rng, self.days, self._day_cum)
            hour = bisect.bisect_right(self._hour_cum[profile], rng.random() * self._hour_cum[profile][-1])
            local = datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=self.tz)
            at = local.astimezone(UTC)
            if at <= not_after:
                return at
        raise RuntimeError("calendar cannot produce a time before not_after")

    def sample_recent(self, rng: random.Random, hours: float, profile: str = "default") -> datetime:
        """A time in the last `hours`, thinned by the hour-of-day curve (rejection sampling)."""
        weights = self.hour_weights[profile]
        top = max(weights)
        while True:
            at = self.now - timedelta(seconds=rng.uniform(0, hours * 3600))
            if rng.random() * top <= weights[at.astimezone(self.tz).hour]:
                return at


def _lognormal(rng: random.Random, median: float, sigma: float = 0.6) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


# --- incidents ----------------------------------------------------------------------------------------


@dataclass
class IncidentPlan:
    type: IncidentType
    lon: float
    lat: float
    address: str
    street: str
    district: str
    received_at: datetime
    status: str = IncidentStatus.CLOSED
    dispatched_at: datetime | None = None
    on_scene_at: datetime | None = None
    closed_at: datetime | None = None
    cad_number: str = ""
    narrative: list[tuple[datetime, str, str]] = field(default_factory=list)
    units: list[str] = field(default_factory=list)


class Addresser:
    """Made-up block addresses: the nearest neighbourhood's streets, a random hundred block."""

    def __init__(self, spec: CitySpec):
        self.hoods = spec.neighbourhoods
        self.kx = math.cos(math.radians((spec.outline.bbox[1] + spec.outline.bbox[3]) / 2.0))

    def nearest(self, lon: float, lat: float) -> Neighbourhood:
        kx = self.kx
        return min(self.hoods, key=lambda n: ((n.lon - lon) * kx) ** 2 + (n.lat - lat) ** 2)

    def address(self, rng: random.Random, lon: float, lat: float) -> tuple[str, str]:
        hood = self.nearest(lon, lat)
        street = rng.choice(hood.streets)
        return f"{rng.randrange(1, 40)}00 block of {street}", street


class IncidentPlanner:
    """Historical and open incidents: where (hotspots or anywhere), when (rhythm) and how handled."""

    def __init__(self, spec: CitySpec, rng: random.Random, now: datetime):
        self.spec = spec
        self.rng = rng
        self.now = now
        self.sampler = Sampler(spec, rng)
        self.calendar = Calendar(spec, now)
        self.addresser = Addresser(spec)
        self._type_cum = _cum(t.share for t in spec.types)
        self.clustering = spec.params["clustering"]
        self.response = spec.params["response_minutes"]
        self.texts = spec.params["narrative"]

    def _place(self, itype: IncidentType) -> LatLon:
        share = self.clustering["hotspot_prone" if itype.hotspot_prone else "other"]
        if self.rng.random() < share:
            h = self.sampler.hotspot()
            return self.sampler.near(h.lon, h.lat, h.spread_m * itype.spread_scale)
        return self.sampler.uniform()

    def _new(self, itype: IncidentType, lon: float, lat: float, received_at: datetime) -> IncidentPlan:
        address, street = self.addresser.address(self.rng, lon, lat)
        district = self.spec.district_of(lon, lat)
        return IncidentPlan(
            type=itype,
            lon=lon,
            lat=lat,
            address=address,
            street=street,
            district=district.code if district else "",
            received_at=received_at,
        )

    def historical(self, count: int, *, min_age: timedelta = timedelta(hours=2)) -> list[IncidentPlan]:
        not_after = self.now - min_age
        recent_cutoff = self.now - timedelta(days=7)
        plans = []
        for _ in range(count):
            itype = _pick(self.rng, self.spec.types, self._type_cum)
            lon, lat = self._place(itype)
            plan = self._new(itype, lon, lat, self.calendar.sample(self.rng, itype.profile, not_after))
            self._close(plan)
            if plan.received_at >= recent_cutoff:
                # Only the last week carries narrative: enough for anyone clicking a recent call.
                author = f"OFC{self.rng.randrange(4100, 4999)}"
                plan.narrative.append((plan.closed_at, author, self.rng.choice(self.texts["closed"])))
            plans.append(plan)
        plans.sort(key=lambda p: p.received_at)
        return plans

    def _close(self, plan: IncidentPlan) -> None:
        times = self.response[str(plan.type.priority)]
        rng = self.rng
        plan.dispatched_at = plan.received_at + timedelta(minutes=max(0.2, _lognormal(rng, times["dispatch"])))
        if rng.random() < 0.08:
            # Cancelled or gone before anyone arrived.
            end = plan.dispatched_at + timedelta(minutes=_lognormal(rng, 6))
        else:
            plan.on_scene_at = plan.dispatched_at + timedelta(minutes=max(1.0, _lognormal(rng, times["travel"], 0.5)))
            end = plan.on_scene_at + timedelta(minutes=max(3.0, _lognormal(rng, times["work"], 0.7)))
        # A long tail must not close a call in the future.
        latest = self.now - timedelta(minutes=1)
        plan.closed_at = max(min(end, latest), plan.on_scene_at or plan.dispatched_at)
        plan.status = IncidentStatus.CLOSED

    def open(self) -> list[IncidentPlan]:
        cfg = self.spec.params["open_incidents"]
        rng = self.rng
        statuses = [s for s, n in cfg["statuses"].items() for _ in range(n)]
        rng.shuffle(statuses)
        urgent = [t for t in self.spec.types if t.priority == 1]
        plans = []
        for i, status in enumerate(statuses[: cfg["count"]]):
            itype = rng.choice(urgent) if i < cfg["priority1"] else _pick(rng, self.spec.types, self._type_cum)
            if rng.random() < 0.8:
                h = self.sampler.hotspot()
                lon, lat = self.sampler.near(h.lon, h.lat, h.spread_m * itype.spread_scale)
            else:
                lon, lat = self.sampler.uniform()
            age = {
                IncidentStatus.PENDING: (0.5, 20),
                IncidentStatus.DISPATCHED: (4, 35),
                IncidentStatus.ON_SCENE: (12, 58),
            }[status]
            plan = self._new(itype, lon, lat, self.now - timedelta(minutes=rng.uniform(*age)))
            plan.status = status
            if status in (IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE):
                plan.dispatched_at = plan.received_at + timedelta(minutes=rng.uniform(0.5, 3))
            if status == IncidentStatus.ON_SCENE:
                plan.on_scene_at = plan.dispatched_at + timedelta(minutes=rng.uniform(3, 9))
            fmt = {"what": itype.description.lower(), "address": plan.address, "street": plan.street}
            author = f"CT{rng.randrange(100, 160)}"
            # A call taken seconds ago has no narrative from the future.
            first = min(self.now, plan.received_at + timedelta(seconds=40))
            plan.narrative.append((first, author, self.texts["open"][0].format(**fmt)))
            if rng.random() < 0.7:
                line = rng.choice(self.texts["open"][1:]).format(**fmt)
                later = min(self.now, plan.received_at + timedelta(seconds=rng.uniform(60, 180)))
                plan.narrative.append((later, author, line))
            plans.append(plan)
        return plans


def number_incidents(plans: list[IncidentPlan], prefix: str, tz: ZoneInfo) -> None:
    """CAD numbers run per local year in call order, as a CAD system issues them."""
    counters: dict[int, int] = {}
    for plan in sorted(plans, key=lambda p: p.received_at):
        year = plan.received_at.astimezone(tz).year
        counters[year] = counters.get(year, 0) + 1
        plan.cad_number = f"{prefix}-{year}-{counters[year]:06d}"


# --- units -------------------------------------------------------------------------------------------


@dataclass
class Fix:
    lon: float
    lat: float
    heading: float
    speed: float
    at: datetime | None = None


@dataclass
class UnitPlan:
    call_sign: str
    kind: str
    district: str
    status: str = UnitStatus.AVAILABLE
    track: list[Fix] = field(default_factory=list)


# Cruising speeds (m/s) while moving; anything not listed drives like a patrol car.
SPEEDS = {"foot": (0.9, 1.6), "bike": (3.0, 6.0), "motor": (6.0, 15.0)}
WAYPOINT_M = {"foot": 250.0, "bike": 700.0}


def assign_units(spec: CitySpec, rng: random.Random, open_plans: list[IncidentPlan]) -> list[UnitPlan]:
    """Units from the call-sign plan; open calls being worked get units from their own district first."""
    units = [UnitPlan(u["call_sign"], u["kind"], u["district"]) for u in spec.params["units"]]
    free = [u for u in units if u.kind != "supervisor"]
    worked = [p for p in open_plans if p.status in (IncidentStatus.DISPATCHED, IncidentStatus.ON_SCENE)]
    worked.sort(key=lambda p: (p.type.priority, p.received_at))
    for plan in worked:
        wanted = 2 if plan.type.priority == 1 else 1
        for _ in range(wanted):
            if not free:
                break
            local = [u for u in free if u.district == plan.district]
            unit = rng.choice(local) if local else rng.choice(free)
            free.remove(unit)
            unit.status = plan.status
            plan.units.append(unit.call_sign)
    if free:
        rng.choice(free).status = UnitStatus.OUT_OF_SERVICE
    return units


def plan_tracks(
    spec: CitySpec, rng: random.Random, units: list[UnitPlan], open_plans: list[IncidentPlan], now: datetime
) -> None:
    """A breadcrumb trail per unit ending at its current fix: patrolling, driving to its call, or parked there."""
    avl = spec.params["avl"]
    every_s = int(avl["every_s"])
    steps = int(avl["minutes"]) * 60 // every_s
    sampler = Sampler(spec, rng)
    call_of = {cs: p for p in open_plans for cs in p.units}
    for unit in units:
        district = spec.district(unit.district)
        call = call_of.get(unit.call_sign)
        if unit.status == UnitStatus.OUT_OF_SERVICE:
            lon, lat = sampler.uniform(district)
            heading = round(rng.uniform(0, 360), 1)
            track = [Fix(lon, lat, heading, 0.0) for _ in range(steps)]
        elif call is not None:
            track = _to_call(
                sampler, rng, district, unit.kind, call, steps, every_s, arrived=unit.status == UnitStatus.ON_SCENE
            )
        else:
            h = sampler.hotspot()
            near_hotspot = district.in_box(h.lon, h.lat) and rng.random() < 0.6
            start = sampler.near(h.lon, h.lat, 800, district) if near_hotspot else sampler.uniform(district)
            track = _patrol(sampler, rng, district, unit.kind, steps, every_s, start)
        last_seen = now - timedelta(seconds=rng.uniform(3, 75))
        for i, fix in enumerate(track):
            fix.at = last_seen - timedelta(seconds=(len(track) - 1 - i) * every_s)
        unit.track = track


def _patrol(
    sampler: Sampler, rng: random.Random, district: District, kind: str, steps: int, every_s: int, start: LatLon
) -> list[Fix]:
    """Drive from waypoint to waypoint (with stops) starting at `start`, which is the first fix."""
    lo, hi = SPEEDS.get(kind, (4.0, 13.0))
    reach = WAYPOINT_M.get(kind, 1500.0)
    lon, lat = start
    goal = _waypoint(sampler, lon, lat, reach, district)
    heading, pause = round(rng.uniform(0, 360), 1), 0
    track = [Fix(lon, lat, heading, 0.0)]
    while len(track) < steps:
        if pause > 0:
            pause -= 1
            track.append(Fix(lon, lat, heading, 0.0))
            continue
        speed = rng.uniform(lo, hi)
        step = speed * every_s
        left = distance_m(lon, lat, *goal)
        if left <= step:
            lon, lat = goal
            goal = _waypoint(sampler, lon, lat, reach, district)
            if rng.random() < 0.35:
                pause = rng.randrange(1, 8)
        else:
            heading = round(bearing_deg(lon, lat, *goal), 1)
            t = step / left
            lon, lat = lon + (goal[0] - lon) * t, lat + (goal[1] - lat) * t
        track.append(Fix(lon, lat, heading, round(speed, 1)))
    return track


def _clear_path(sampler: Sampler, a: LatLon, b: LatLon, every_m: float = 60.0) -> bool:
    """Whether the straight line a-b stays on land (checked every few tens of metres)."""
    n = max(2, int(distance_m(*a, *b) / every_m))
    return all(sampler.inside(a[0] + (b[0] - a[0]) * k / n, a[1] + (b[1] - a[1]) * k / n) for k in range(1, n))


def _waypoint(sampler: Sampler, lon: float, lat: float, reach: float, district: District | None) -> LatLon:
    """A next stop, reachable in a straight line without crossing water; staying put if none is found."""
    for _ in range(30):
        goal = sampler.near(lon, lat, reach, district)
        if _clear_path(sampler, (lon, lat), goal):
            return goal
    return lon, lat


def _to_call(
    sampler: Sampler,
    rng: random.Random,
    district: District,
    kind: str,
    call: IncidentPlan,
    steps: int,
    every_s: int,
    *,
    arrived: bool,
) -> list[Fix]:
    """A trail that ends at the call (parked, if on scene) or on the way to it (if dispatched).

    Drawn backwards: a patrol walked away from the end point and then reversed is as plausible as
    one walked forwards, and it ends exactly where the unit has to be.
    """
    if arrived:
        parked = rng.randrange(3, 9)
        end = sampler.near(call.lon, call.lat, 15)
    else:
        parked = 0
        end = _waypoint(sampler, call.lon, call.lat, 900, None)
    back = _patrol(sampler, rng, district, kind, steps - parked, every_s, end)
    track = [Fix(f.lon, f.lat, round((f.heading + 180.0) % 360.0, 1), f.speed) for f in reversed(back)]
    last = track[-1]
    last.heading = round(bearing_deg(last.lon, last.lat, call.lon, call.lat), 1)
    if not arrived:
        last.speed = round(rng.uniform(9, 17), 1)
    track.extend(Fix(last.lon, last.lat, last.heading, 0.0) for _ in range(parked))
    return track


# --- cameras ------------------------------------------------------------------------------------------


@dataclass
class CameraPlan:
    external_id: str
    name: str
    owner_kind: str
    owner_name: str
    owner_contact: str
    lon: float
    lat: float
    heading: float | None
    fov_angle: float
    fov_range: float
    ptz: bool
    status: str
    sharing: str
    offline_for_h: float = 0.0


def plan_cameras(spec: CitySpec, rng: random.Random) -> list[CameraPlan]:
    """Agency, partner and community cameras: clustered at hotspots and along arterials."""
    cfg = spec.params["cameras"]
    sampler = Sampler(spec, rng)
    addresser = Addresser(spec)
    count = int(cfg["count"])
    mix = cfg["owner_mix"]
    kinds = [OwnerKind.AGENCY] * round(count * mix["agency"]) + [OwnerKind.PARTNER] * round(count * mix["partner"])
    kinds += [OwnerKind.COMMUNITY] * (count - len(kinds))
    names: dict[str, int] = {}
    plans = []

    def unique(base: str) -> str:
        names[base] = names.get(base, 0) + 1
        return f"{base} {names[base]:02d}"

    for i, kind in enumerate(kinds, start=1):
        heading: float | None = rng.uniform(0, 360)
        fov = rng.uniform(*cfg["fov_deg"])
        ptz = False
        sharing = Sharing.LIVE
        contact = ""
        if kind == OwnerKind.AGENCY:
            owner = spec.agency["name"]
            contact = "RTCC video desk"
            if rng.random() < 0.45:
                corridor, lon, lat, road = sampler.along_corridor()
                heading = (road + rng.choice((0, 180)) + rng.gauss(0, 20)) % 360
                place = corridor.name
            else:
                h = sampler.hotspot()
                lon, lat = sampler.near(h.lon, h.lat, h.spread_m * 0.6)
                place = addresser.nearest(lon, lat).name
            ptz = rng.random() < cfg["agency_ptz_share"]
            name = unique(f"SPD {'PTZ' if ptz else 'CCTV'} {place}")
        elif kind == OwnerKind.PARTNER:
            contact = f"+1-206-555-01{rng.randrange(100):02d}"
            if rng.random() < cfg["partner_traffic_share"]:
                owner = cfg["traffic_owner"]
                corridor, lon, lat, road = sampler.along_corridor(jitter_m=8)
                heading = (road + rng.choice((0, 180)) + rng.gauss(0, 10)) % 360
                name = unique(f"SDOT traffic {corridor.name}")
            else:
                business = rng.choice(cfg["business_owners"])
                owner = business["name"]
                lon, lat = sampler.near(*business["at"], business["spread_m"])
                name = unique(f"{owner.removesuffix(' (demo)')} - {addresser.nearest(lon, lat).name}")
            if rng.random() < cfg["partner_on_request_share"]:
                sharing = Sharing.ON_REQUEST
        else:
            if rng.random() < 0.6:
                lon, lat = sampler.uniform()
            else:
                h = sampler.hotspot()
                lon, lat = sampler.near(h.lon, h.lat, h.spread_m * 1.2)
            owner = "Registered resident (demo)" if rng.random() < 0.7 else "Registered business (demo)"
            name = unique(f"Community registry {addresser.nearest(lon, lat).name}")
            sharing = Sharing.LIVE if rng.random() < cfg["community_live_share"] else Sharing.ON_REQUEST
        if ptz:
            heading, fov, reach = None, 360.0, rng.uniform(80, cfg["range_m"][1])
        else:
            reach = rng.uniform(*cfg["range_m"])
        roll = rng.random()
        if roll < cfg["offline_share"]:
            status = CameraStatus.OFFLINE
        elif roll < cfg["offline_share"] + cfg["unknown_share"]:
            status = CameraStatus.UNKNOWN
        else:
            status = CameraStatus.ONLINE
        plans.append(
            CameraPlan(
                external_id=f"DEMO-CAM-{i:04d}",
                name=name,
                owner_kind=kind,
                owner_name=owner,
                owner_contact=contact,
                lon=lon,
                lat=lat,
                heading=None if heading is None else round(heading, 1),
                fov_angle=round(fov),
                fov_range=round(reach),
                ptz=ptz,
                status=status,
                sharing=sharing,
                offline_for_h=rng.uniform(1, 72),
            )
        )
    return plans


# --- ALPR ----------------------------------------------------------------------------------------------

# Letters that are not confused with digits on a plate.
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"


def make_plate(rng: random.Random, state: str = "WA") -> str:
    """A made-up plate in the usual shape for its state (three letters and four digits for WA)."""
    letters = "".join(rng.choice(PLATE_LETTERS) for _ in range(3))
    if state == "WA":
        return f"{letters}{rng.randrange(10000):04d}"
    return f"{rng.randrange(1000):03d}{letters}"


@dataclass
class SitePlan:
    name: str
    external_id: str
    kind: str
    lon: float | None
    lat: float | None
    direction: float | None


@dataclass
class HotlistEntryPlan:
    plate: str
    state: str
    reason: str
    expires_in_days: int | None


@dataclass
class ReadPlan:
    site: int
    plate: str
    state: str
    read_at: datetime
    lon: float
    lat: float
    hit: int | None = None


@dataclass
class AlprPlan:
    sites: list[SitePlan]
    entries: list[HotlistEntryPlan]
    reads: list[ReadPlan]


def plan_alpr(spec: CitySpec, rng: random.Random, now: datetime) -> AlprPlan:
    """Reader sites, a hotlist, and a day of reads of which about one in a hundred is a hit."""
    cfg = spec.params["alpr"]
    sampler = Sampler(spec, rng)
    calendar = Calendar(spec, now, days=2)
    sites = [
        SitePlan(s["name"], f"DEMO-ALPR-{i:02d}", SiteKind.FIXED, s["at"][0], s["at"][1], float(s["direction"]))
        for i, s in enumerate(cfg["sites"], start=1)
    ]
    sites += [
        SitePlan(f"Mobile ALPR {i} (patrol car)", f"DEMO-MALPR-{i}", SiteKind.MOBILE, None, None, None)
        for i in range(1, int(cfg["mobile_sites"]) + 1)
    ]
    hot = cfg["hotlist"]
    reasons, reason_cum = [r for r, _ in hot["reasons"]], _cum(w for _, w in hot["reasons"])
    entries: list[HotlistEntryPlan] = []
    taken: set[str] = set()
    while len(entries) < int(hot["entries"]):
        plate = make_plate(rng)
        if plate in taken:
            continue
        taken.add(plate)
        # The demo always shows one AMBER alert, whatever the draw.
        reason = "AMBER alert" if len(entries) == 1 else _pick(rng, reasons, reason_cum)
        expires = None if reason == "AMBER alert" else rng.randrange(30, 180)
        entries.append(HotlistEntryPlan(plate, "WA", reason, expires))

    states, state_cum = [s for s, _ in cfg["states"]], _cum(w for _, w in cfg["states"])
    pool: list[tuple[str, str]] = []
    while len(pool) < int(cfg["plate_pool"]):
        state = _pick(rng, states, state_cum)
        plate = make_plate(rng, state)
        if plate not in taken:
            taken.add(plate)
            pool.append((plate, state))
    # Commuters pass the same readers daily: a few plates are read often, most once.
    pool_cum = _cum(1.0 / (k + 1) ** 0.8 for k in range(len(pool)))
    fixed = [i for i, s in enumerate(sites) if s.kind == SiteKind.FIXED]
    mobile = [i for i, s in enumerate(sites) if s.kind == SiteKind.MOBILE]
    total = int(cfg["reads"])
    reads: list[ReadPlan] = []
    for _ in range(total):
        plate, state = _pick(rng, pool, pool_cum)
        at = calendar.sample_recent(rng, 24)
        if rng.random() < 0.85 or not mobile:
            idx = rng.choice(fixed)
            lon, lat = sites[idx].lon, sites[idx].lat
        else:
            idx = rng.choice(mobile)
            h = sampler.hotspot()
            lon, lat = sampler.near(h.lon, h.lat, 600)
        reads.append(ReadPlan(idx, plate, state, at, lon, lat))
    for k in rng.sample(range(total), round(total * float(cfg["hit_rate"]))):
        hit = rng.randrange(len(entries))
        reads[k].plate, reads[k].state, reads[k].hit = entries[hit].plate, entries[hit].state, hit
    reads.sort(key=lambda r: r.read_at)
    return AlprPlan(sites, entries, reads)


# --- gunshots --------------------------------------------------------------------------------------------


@dataclass
class GunshotPlan:
    source_id: str
    lon: float
    lat: float
    detected_at: datetime
    rounds: int
    confidence: float


def plan_gunshots(spec: CitySpec, rng: random.Random, now: datetime) -> list[GunshotPlan]:
    """A year of acoustic detections in a few hotspots, mostly at night; a few in the last day."""
    cfg = spec.params["gunshots"]
    sampler = Sampler(spec, rng)
    calendar = Calendar(spec, now)
    spots = [spec.hotspot(name) for name, _ in cfg["hotspots"]]
    spot_cum = _cum(w for _, w in cfg["hotspots"])
    recent = int(cfg["recent"])
    plans = []
    for k in range(int(cfg["count"])):
        if k < recent:
            at = now - timedelta(hours=rng.uniform(0.1, 20))
        else:
            at = calendar.sample(rng, "night", now - timedelta(days=1))
        spot = _pick(rng, spots, spot_cum)
        lon, lat = sampler.near(spot.lon, spot.lat, float(cfg["spread_m"]))
        rounds = min(30, 1 + int(rng.gammavariate(2.0, 1.8)))
        plans.append(GunshotPlan("", lon, lat, at, rounds, round(rng.uniform(0.72, 0.99), 2)))
    plans.sort(key=lambda g: g.detected_at)
    for i, g in enumerate(plans, start=1):
        g.source_id = f"DEMO-GS-{i:05d}"
    return plans
