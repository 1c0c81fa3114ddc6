"""ALPR plans: plates, the fixed reader sites, a hotlist and the recent reads."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from apps.alpr.choices import SiteKind

from .incidents import Calendar
from .sampling import Sampler, _cum, _pick
from .spec import CitySpec

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
