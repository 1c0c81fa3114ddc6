"""The simulated acoustic gunshot sensors: bursts of detections near violence hotspots, sent as
gunshot_json, some followed by a shots-fired call in CAD. Mixed into `Simulator` (scheduler.py).
"""

from __future__ import annotations

import functools
import json

from .model import ShotEvent, Stream


class GunshotSource:
    """Bursts of detections."""

    def _gunshots(self) -> None:
        """A burst: 1-3 detections within seconds and tens of metres of each other near a violence hotspot."""
        self.after(self.rng.uniform(*self.config.gunshot_every_s), self._gunshots)
        cfg = self.spec.params["gunshots"]
        name = self.rng.choices([n for n, _ in cfg["hotspots"]], weights=[w for _, w in cfg["hotspots"]])[0]
        spot = self.spec.hotspot(name)
        lon, lat = self.sampler.near(spot.lon, spot.lat, float(cfg["spread_m"]))
        self._counters["bursts"] += 1
        burst = self._counters["bursts"]
        count = self.rng.choices((1, 2, 3), weights=(0.5, 0.3, 0.2))[0]
        delay = 0.0
        for _ in range(count):
            plon, plat = self.sampler.near(lon, lat, 25.0)
            self.after(delay, functools.partial(self._shot, burst, (plon, plat), name))
            delay += self.rng.uniform(2, 25)
        shots = next((t for t in self.spec.types if t.code == "SHOTS"), None)
        if (
            shots is not None
            and Stream.CAD in self.config.streams
            and self.rng.random() < self.config.gunshot_call_share
        ):
            line = "Acoustic gunshot detection; multiple callers report shots heard."
            self.after(
                delay + self.rng.uniform(20, 60),
                lambda: self._open_call(shots.code, shots.description, shots.priority, lon, lat, line),
            )

    def _shot(self, burst: int, at: tuple[float, float], hotspot: str) -> None:
        self._counters["shots"] += 1
        source_id = f"SIM-GS-{self.run_id}-{self._counters['shots']:05d}"
        rounds = min(30, 1 + int(self.rng.gammavariate(2.0, 1.8)))
        lon, lat = round(at[0], 6), round(at[1], 6)
        record = {
            "id": source_id,
            "lon": lon,
            "lat": lat,
            "detected_at": self._iso(self.now),
            "rounds": rounds,
            "confidence": round(self.rng.uniform(0.72, 0.99), 2),
        }
        event = ShotEvent(source_id, burst, lon, lat, rounds, hotspot)
        self._emit(Stream.GUNSHOT, event, body=json.dumps([record]).encode(), content_type="application/json")
