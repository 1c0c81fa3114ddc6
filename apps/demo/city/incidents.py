"""Incident plans: the calendar of the load window, addresses, and the planner that spreads incidents
over hours, weekdays and hotspots.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apps.incidents.choices import IncidentStatus

from .sampling import Sampler, _cum, _pick
from .spec import CitySpec, IncidentType, LatLon, Neighbourhood


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
