"""Unit plans: call signs assigned to districts and open incidents, and their recent tracks (patrol
waypoints, drives to calls).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from apps.incidents.choices import IncidentStatus
from apps.units.choices import UnitStatus

from .incidents import IncidentPlan
from .sampling import Sampler, bearing_deg, distance_m
from .spec import CitySpec, District, LatLon


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
