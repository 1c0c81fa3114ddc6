"""An agency's service area: where its records may be.

The area is the union of the agency's zones grown by `Agency.service_area_buffer_m`. A point outside
it (a California ALPR list loaded into a Seattle agency, a CAD row with its coordinates swapped) or
near (0,0) (a GPS with no fix) is refused or flagged at intake, with a reason that says how far out
it is. An agency without zones has no area yet: only the (0,0) rule applies.

`ServiceAreas` loads each agency's area once (two queries) and then checks points in memory: the
importer and feed ingest make one per file / payload, never a query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.gis.db.models import Union
from django.contrib.gis.gdal import CoordTransform, SpatialReference
from django.contrib.gis.geos import GEOSGeometry, Point
from django.contrib.gis.geos.prepared import PreparedGeometry

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


@dataclass(frozen=True)
class ServiceArea:
    """One agency's area in a local metric projection centred on it (azimuthal equidistant), so that the
    buffer and the distance of a point outside are in metres; and the same area back in lon/lat, which
    answers "inside" for most points without reprojecting them (a check costs microseconds, not a
    GDAL call: bulk imports check every row)."""

    agency_id: int
    buffer_m: int
    to_local: CoordTransform | None = None
    area: GEOSGeometry | None = None  # buffered, in the local projection; None: the agency has no zones
    prepared: PreparedGeometry | None = None  # `area` prepared once (GEOSGeometry.prepared makes a new one per call)
    prepared_lonlat: PreparedGeometry | None = None  # the buffered area in lon/lat, prepared

    @classmethod
    def load(cls, agency_id: int) -> ServiceArea:
        buffer_m = Agency.objects.filter(pk=agency_id).values_list("service_area_buffer_m", flat=True).first() or 0
        union = Zone.objects.filter(agency_id=agency_id).aggregate(union=Union("geom"))["union"]
        if union is None or union.empty:
            return cls(agency_id=agency_id, buffer_m=buffer_m)
        centre = union.centroid
        local = SpatialReference(
            f"+proj=aeqd +lat_0={centre.y:.6f} +lon_0={centre.x:.6f} +datum=WGS84 +units=m +no_defs"
        )
        to_local = CoordTransform(SpatialReference(SRID), local)
        area = union.transform(to_local, clone=True)
        lonlat = union
        if buffer_m:
            area = area.buffer(buffer_m)
            lonlat = area.transform(CoordTransform(local, SpatialReference(SRID)), clone=True)
        return cls(
            agency_id=agency_id,
            buffer_m=buffer_m,
            to_local=to_local,
            area=area,
            prepared=area.prepared,
            prepared_lonlat=lonlat.prepared,
        )

    def reason(self, lon: float, lat: float, point: Point | None = None) -> str | None:
        """None when (lon, lat) may be this agency's; else why not. `point`: the same place as a Point, if
        the caller has one already."""
        problem = null_island_reason(lon, lat)
        if problem or self.area is None or self.prepared is None or self.to_local is None:
            return problem
        point = point if point is not None else Point(lon, lat, srid=SRID)
        if self.prepared_lonlat is not None and self.prepared_lonlat.covers(point):
            return None
        # Outside in lon/lat, or on its edge: the exact answer, and the distance, in metres.
        local = point.transform(self.to_local, clone=True)
        if self.prepared.covers(local):
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
        return self.get(agency_id).reason(point.x, point.y, point)


def service_area_check(*, agency_id: int, point: Point, areas: ServiceAreas | None = None) -> str | None:
    """None when `point` may hold a record of the agency; else the reason ("outside service area by
    6,100 km", "(0,0) (null island)"). Pass the same `areas` for a whole batch: it caches per agency."""
    return (areas or ServiceAreas()).check(agency_id, point)
