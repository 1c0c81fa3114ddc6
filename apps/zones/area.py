"""An agency's service area: where its records may be.

The area is the union of the agency's zones grown by `Agency.service_area_buffer_m`. A point outside
it (a California ALPR list loaded into a Seattle agency, a CAD row with its coordinates swapped) or
near (0,0) (a GPS with no fix) is refused or flagged at intake, with a reason that says how far out
it is. An agency without zones has no area yet: only the (0,0) rule applies.

`ServiceAreas` loads each agency's area once (two small queries; the geometry is rebuilt only when the
agency's zones or buffer changed) and then checks points in memory: the importer and feed ingest make
one per file / payload, never a query per row.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from django.contrib.gis.db.models import Union
from django.contrib.gis.geos import Point
from django.db.models import Count, Max

from apps.accounts.models import Agency
from apps.core.geo import SRID

from .models import Zone

# What to do with a record outside the service area: refuse it (the default), or keep it with a flag.
REJECT, FLAG = "reject", "flag"
POLICIES = (REJECT, FLAG)
# Within this many degrees of (0,0) a position is a missing fix written as zeros, not a place
# (0.01 degrees is about 1.1 km; nothing any agency patrols is there).
NULL_ISLAND_DEGREES = 0.01


def check_policy(value: Any, *, what: str = "service area policy") -> str:
    """`value` as a policy; ValueError naming the choices otherwise."""
    policy = REJECT if value in (None, "") else value
    if policy not in POLICIES:
        raise ValueError(f"{what} must be {' or '.join(POLICIES)}, got {value!r}")
    return policy


def distance_text(metres: float) -> str:
    """'850 m', '3.2 km', '6,100 km'."""
    if metres < 1000:
        return f"{metres:,.0f} m"
    if metres < 10_000:
        return f"{metres / 1000:.1f} km"
    return f"{metres / 1000:,.0f} km"


def null_island_reason(lon: float, lat: float) -> str | None:
    if abs(lon) < NULL_ISLAND_DEGREES and abs(lat) < NULL_ISLAND_DEGREES:
        return f"position {lon:g},{lat:g} is at (0,0) (null island): a missing fix, not a place"
    return None


# agency id -> ((zone count, newest zone change, buffer), its area), per thread: GEOS prepared geometries
# build their indexes lazily on first use, so one is never shared between threads.
_BUILT = threading.local()


def _reproject(geom: Any, transformer: Any) -> Any:
    def coords(xy: Any) -> Any:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    return shapely.transform(geom, coords)


@dataclass(frozen=True)
class ServiceArea:
    """One agency's area in a local metric projection centred on it (azimuthal equidistant, PROJ through
    pyproj as the hotspots use it; never GDAL), so that the buffer and the distance of a point outside are
    in metres; and the same area back in lon/lat, which answers "inside" for most points without
    reprojecting them (microseconds a check: bulk imports check every row)."""

    agency_id: int
    buffer_m: int
    forward: Any = None  # pyproj Transformer lon/lat -> local metres; None: the agency has no zones
    area: Any = None  # shapely geometry, buffered, in local metres (prepared)
    area_lonlat: Any = None  # the same in lon/lat (prepared)

    @classmethod
    def load(cls, agency_id: int) -> ServiceArea:
        """The agency's area: two small queries, and the geometry work only when its zones or buffer changed
        since this thread last built it (a feed pushing one fix per request must not rebuild it each time)."""
        stamp = Zone.objects.filter(agency_id=agency_id).aggregate(count=Count("id"), last=Max("updated_at"))
        buffer_m = Agency.objects.filter(pk=agency_id).values_list("service_area_buffer_m", flat=True).first() or 0
        key = (stamp["count"], stamp["last"], buffer_m)
        cache: dict[int, tuple[tuple[Any, ...], ServiceArea]] = _BUILT.__dict__.setdefault("areas", {})
        built = cache.get(agency_id)
        if built is not None and built[0] == key:
            return built[1]
        area = cls._build(agency_id, buffer_m) if stamp["count"] else cls(agency_id=agency_id, buffer_m=0)
        cache[agency_id] = (key, area)
        return area

    @classmethod
    def _build(cls, agency_id: int, buffer_m: int) -> ServiceArea:
        from pyproj import CRS, Transformer

        union = Zone.objects.filter(agency_id=agency_id).aggregate(union=Union("geom"))["union"]
        if union is None or union.empty:
            return cls(agency_id=agency_id, buffer_m=0)
        centre = union.centroid
        # Numbers from our own zones, never text from a file or a request.
        local = CRS.from_dict({"proj": "aeqd", "lat_0": centre.y, "lon_0": centre.x, "datum": "WGS84", "units": "m"})
        forward = Transformer.from_crs(SRID, local, always_xy=True)
        area_lonlat = shapely.from_wkb(bytes(union.wkb))
        area = _reproject(area_lonlat, forward)
        if buffer_m:
            area = area.buffer(buffer_m)
            area_lonlat = _reproject(area, Transformer.from_crs(local, SRID, always_xy=True))
        shapely.prepare(area)
        shapely.prepare(area_lonlat)
        return cls(agency_id=agency_id, buffer_m=buffer_m, forward=forward, area=area, area_lonlat=area_lonlat)

    def reason(self, lon: float, lat: float) -> str | None:
        """None when (lon, lat) may be this agency's; else why not."""
        problem = null_island_reason(lon, lat)
        if problem or self.forward is None:
            return problem
        if shapely.contains_xy(self.area_lonlat, lon, lat):
            return None
        # Outside in lon/lat, or on its edge: the exact answer, and the distance, in metres.
        local = shapely.Point(*self.forward.transform(lon, lat))
        if self.area.covers(local):
            return None
        return f"outside service area by {distance_text(self.area.distance(local))}"


class ServiceAreas:
    """Service areas by agency, each loaded on first use: one per import or feed payload."""

    def __init__(self) -> None:
        self._areas: dict[int, ServiceArea] = {}

    def get(self, agency_id: int) -> ServiceArea:
        area = self._areas.get(agency_id)
        if area is None:
            area = self._areas[agency_id] = ServiceArea.load(agency_id)
        return area

    def check(self, agency_id: int, point: Point) -> str | None:
        return self.get(agency_id).reason(point.x, point.y)


def service_area_check(*, agency_id: int, point: Point, areas: ServiceAreas | None = None) -> str | None:
    """None when `point` may hold a record of the agency; else the reason ("outside service area by
    6,100 km", "(0,0) (null island)"). Pass the same `areas` for a whole batch: it caches per agency."""
    return (areas or ServiceAreas()).check(agency_id, point)
