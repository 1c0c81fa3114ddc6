"""The simulated demo city: hand-drawn geography in fixtures/demo_city.json turned into record plans.

Everything here is pure: functions take the spec, one `random.Random` and "now", and return plain
dataclasses or GEOS geometries without touching the database (`apps.demo.services` writes them).
The same seed gives the same city; only the times move with "now". Point sampling works in a
flat local approximation (metres east/north of a point) with a hand-rolled point-in-ring test:
across a 25 km city the error is far below anything a map shows, and it is much faster than a
GEOS call for each of the ~50,000 candidate points of a default load.

The package, in the order a load uses it: spec.py, sampling.py, zones.py, incidents.py, units.py,
cameras.py, alpr.py, gunshots.py.
"""

from .alpr import PLATE_LETTERS, AlprPlan, HotlistEntryPlan, ReadPlan, SitePlan, make_plate, plan_alpr
from .cameras import CameraPlan, plan_cameras
from .gunshots import GunshotPlan, plan_gunshots
from .incidents import Addresser, Calendar, IncidentPlan, IncidentPlanner, number_incidents
from .sampling import Sampler, bearing_deg, distance_m, offset_m
from .spec import (
    FIXTURE,
    M_PER_DEG_LAT,
    CitySpec,
    Corridor,
    District,
    Hotspot,
    IncidentType,
    LatLon,
    Neighbourhood,
    Outline,
    load_spec,
)
from .units import SPEEDS, WAYPOINT_M, Fix, UnitPlan, assign_units, plan_tracks
from .zones import BeatPlan, as_multi, beat_geometries, city_geometry, district_geometries

__all__ = [
    "Addresser",
    "AlprPlan",
    "BeatPlan",
    "Calendar",
    "CameraPlan",
    "CitySpec",
    "Corridor",
    "District",
    "FIXTURE",
    "Fix",
    "GunshotPlan",
    "HotlistEntryPlan",
    "Hotspot",
    "IncidentPlan",
    "IncidentPlanner",
    "IncidentType",
    "LatLon",
    "M_PER_DEG_LAT",
    "Neighbourhood",
    "Outline",
    "PLATE_LETTERS",
    "ReadPlan",
    "SPEEDS",
    "Sampler",
    "SitePlan",
    "UnitPlan",
    "WAYPOINT_M",
    "as_multi",
    "assign_units",
    "bearing_deg",
    "beat_geometries",
    "city_geometry",
    "distance_m",
    "district_geometries",
    "load_spec",
    "make_plate",
    "number_incidents",
    "offset_m",
    "plan_alpr",
    "plan_cameras",
    "plan_gunshots",
    "plan_tracks",
]
