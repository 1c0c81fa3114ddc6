"""The simulated ALPR readers: plate reads at the fixed sites, a hotlist hit at the configured rate,
sent as alpr_json. Mixed into `Simulator` (scheduler.py).
"""

from __future__ import annotations

import json

from ..city import make_plate
from .model import ReadEvent, Stream


class AlprSource:
    """Plate reads over the fixed reader sites."""

    def _read(self) -> None:
        cfg = self.config
        self.after(self.rng.expovariate(1 / cfg.read_mean_s), self._read)
        site = self.rng.choice(self.world.sites)
        hit = bool(self.world.hotlist) and self.rng.random() < cfg.hit_rate
        if hit:
            plate, state = self.rng.choice(self.world.hotlist)
        else:
            states = self.spec.params["alpr"]["states"]
            state = self.rng.choices([s for s, _ in states], weights=[w for _, w in states])[0]
            plate = make_plate(self.rng, state)
            while plate in self._hot:  # a made-up plate must not hit by accident: the rate is the point
                plate = make_plate(self.rng, state)
        record = {
            "plate": plate,
            "state": state,
            "read_at": self._iso(self.now),
            "lon": site.lon,
            "lat": site.lat,
            "site": site.external_id,
        }
        event = ReadEvent(plate, state, site.external_id, hit)
        self._emit(Stream.ALPR, event, body=json.dumps([record]).encode(), content_type="application/json")
