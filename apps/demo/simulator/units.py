"""The simulated units' movement (patrol legs, responses along the grid) and their position fixes: OsmAnd
queries for most units, CoT events for the few carrying TAK devices. Mixed into `Simulator` (scheduler.py).
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime, timedelta
from xml.sax.saxutils import quoteattr

from apps.units.choices import UnitStatus

from .grid import bearing_xy
from .model import CAR_PATROL, KNOT, PATROL_SPEED, FixEvent, SimUnit, Stream

log = logging.getLogger(__name__)


class UnitSource:
    """Units moving on the grid and reporting where they are."""

    def _move(self, unit: SimUnit, t: datetime) -> None:
        """Bring the unit to time `t`: along its path, then (on patrol) along new legs and pauses."""
        cur = unit.t
        unit.t = max(unit.t, t)
        unit.moving = False
        guard = 0
        while cur < t:
            guard += 1
            if guard > 10_000:  # a model bug must not hang the demo
                log.error("unit %s: movement did not converge", unit.call_sign)
                break
            if not unit.path:
                if unit.call is not None or unit.status == UnitStatus.OUT_OF_SERVICE:
                    unit.speed = 0.0
                    break
                if unit.rest_until is not None and unit.rest_until > cur:
                    if unit.rest_until >= t:
                        unit.speed = 0.0
                        break
                    cur = unit.rest_until
                unit.rest_until = None
                self._patrol_leg(unit, cur)
                continue
            tx, ty = self.grid.xy(unit.path[0])
            gap = math.dist((unit.x, unit.y), (tx, ty))
            if gap > 0:
                unit.heading = round(bearing_xy(unit.x, unit.y, tx, ty), 1)
            reach = unit.speed * (t - cur).total_seconds()
            if reach >= gap:
                unit.x, unit.y = tx, ty
                unit.prev, unit.node = unit.node, unit.path.pop(0)
                cur += timedelta(seconds=gap / unit.speed) if unit.speed else t - cur
                unit.moving = bool(unit.path)
            else:
                f = reach / gap
                unit.x += (tx - unit.x) * f
                unit.y += (ty - unit.y) * f
                unit.moving = True
                break

    def _patrol_leg(self, unit: SimUnit, cur: datetime) -> None:
        """Next patrol leg: straight ahead for a few blocks, or a turn; a pause now and then. A unit left
        outside its district (after a call) first drives back into it."""
        cfg = self.config
        lo, hi = PATROL_SPEED.get(unit.kind, CAR_PATROL)
        unit.speed = self.rng.uniform(lo, hi)
        if self._district_of.get(unit.node) != unit.district:
            unit.path = self.grid.route_until(unit.node, lambda n: self._district_of.get(n) == unit.district)
            if unit.path:
                return
        if self.rng.random() < cfg.patrol_pause_share:
            unit.rest_until = cur + timedelta(seconds=self.rng.uniform(*cfg.patrol_pause_s))
            return
        here = unit.node
        options = [m for m in self.grid.neighbours[here] if self._district_of.get(m) == unit.district]
        options = options or list(self.grid.neighbours[here])
        if not options:
            unit.rest_until = cur + timedelta(seconds=30)
            return
        # No U-turn unless it is a dead end.
        nxt = self.rng.choice([m for m in options if m != unit.prev] or options)
        step = nxt - here
        path = [nxt]
        for _ in range(self.rng.randint(1, 11)):
            m = path[-1] + step
            if m in self.grid.neighbours[path[-1]] and self._district_of.get(m) == unit.district:
                path.append(m)
            else:
                break
        unit.path = path

    def _fix(self, unit: SimUnit) -> None:
        cfg = self.config
        self._move(unit, self.now)
        if unit.status == UnitStatus.OUT_OF_SERVICE:
            wait = cfg.fix_out_of_service_s
        elif unit.moving:
            wait = self.rng.uniform(*cfg.fix_moving_s)
        else:
            wait = cfg.fix_parked_s * self.rng.uniform(0.8, 1.2)
        self.after(wait, lambda: self._fix(unit))
        lon, lat = self.grid.to_lonlat(unit.x, unit.y)
        speed = round(unit.speed, 1) if unit.moving else 0.0
        event = FixEvent(unit.call_sign, round(lon, 6), round(lat, 6), speed, unit.heading, unit.state)
        when = self.stamp(self.now)
        if unit.transport == Stream.COT:
            self._emit(Stream.COT, event, body=cot_event(event, when), content_type="application/xml")
        else:
            query = {
                "id": unit.call_sign,
                "lat": f"{event.lat:.6f}",
                "lon": f"{event.lon:.6f}",
                # Milliseconds: at a high --speed two fixes of a unit can fall in the same wall second.
                "timestamp": str(int(when.timestamp() * 1000)),
                "speed": f"{speed / KNOT:.1f}",
                "bearing": f"{event.heading % 360:.1f}",
            }
            self._emit(Stream.OSMAND, event, query=query)


def _cot_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def cot_event(fix: FixEvent, when: datetime) -> bytes:
    """A friendly ground unit's position as a TAK client sends it (uid and callsign: the call sign)."""
    uid = quoteattr(fix.call_sign)
    return (
        f'<event version="2.0" uid={uid} type="a-f-G-U-C" how="m-g" time="{_cot_time(when)}" '
        f'start="{_cot_time(when)}" stale="{_cot_time(when + timedelta(minutes=2))}">'
        f'<point lat="{fix.lat:.6f}" lon="{fix.lon:.6f}" hae="9999999.0" ce="9.9" le="9999999.0"/>'
        f"<detail><contact callsign={uid}/>"
        f'<track course="{fix.heading % 360:.1f}" speed="{fix.speed:.1f}"/></detail></event>\n'
    ).encode()
