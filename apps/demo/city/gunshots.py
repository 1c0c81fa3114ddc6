"""Gunshot plans: recent detections near the violence hotspots."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .incidents import Calendar
from .sampling import Sampler, _cum, _pick
from .spec import CitySpec


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
