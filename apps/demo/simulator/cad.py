"""The simulated CAD: calls open (at the hour's rate, clustered at hotspots), wait, are dispatched to the
nearest free unit by street distance, worked and closed; each change goes out as a cad_json record.
Mixed into `Simulator` (scheduler.py), whose clock, random source and units it uses.
"""

from __future__ import annotations

import json
import math
from datetime import timedelta

from apps.incidents.choices import IncidentStatus
from apps.units.choices import UnitStatus

from .model import CAR_RESPONSE, RESPONSE_SPEED, SLOW_KINDS, Call, CallEvent, OpenCall, SimUnit, Stream


class CadSource:
    """Calls for service, from the open ones the server already has to new ones."""

    def _adopt(self, oc: OpenCall) -> None:
        """Carry on with an incident the server already has open, from the state it is in."""
        call = Call(
            cad_number=oc.cad_number,
            type_code=oc.type_code,
            description=oc.description,
            priority=oc.priority,
            address=oc.address,
            lon=oc.lon,
            lat=oc.lat,
            received_at=oc.received_at,
            node=self.grid.snap(*self.grid.to_xy(oc.lon, oc.lat)),
            status=oc.status,
            dispatched_at=oc.dispatched_at,
            on_scene_at=oc.on_scene_at,
        )
        self.calls[call.cad_number] = call
        units = [self.units[cs] for cs in oc.units if cs in self.units and self.units[cs].call is None]
        units = [u for u in units if u.status != UnitStatus.OUT_OF_SERVICE]
        if call.status == IncidentStatus.PENDING or not units:
            call.status = IncidentStatus.PENDING
            self.after(self.rng.uniform(5, 30), lambda: self._make_ready(call))
            self.at(
                max(self.now + timedelta(minutes=2), call.received_at + timedelta(seconds=self.config.max_wait_s)),
                lambda: self._expire(call),
            )
            return
        call.units = [u.call_sign for u in units]
        for unit in units:
            unit.call = call.cad_number
            if call.status == IncidentStatus.ON_SCENE:
                self._park(unit, call.node)
            else:
                self._respond(unit, call)
        if call.status == IncidentStatus.ON_SCENE:
            self.after(self.rng.uniform(60, 360), lambda: self._close(call))

    # CAD ---------------------------------------------------------------------------------------------
    def _weight(self, profile: str = "default") -> float:
        local = self.now.astimezone(self.tz)
        rhythm = self.spec.params["rhythm"]
        return rhythm["hours"][profile][local.hour] * rhythm["weekdays"][local.weekday()]

    def _cad_number(self) -> str:
        year = self.now.astimezone(self.tz).year
        n = self._next_cad.get(year, 1)
        self._next_cad[year] = n + 1
        return f"{self.world.cad_prefix}-{year}-{n:06d}"

    def _new_call(self) -> None:
        lo, hi = self.config.call_every_s
        self.after(self.rng.uniform(lo, hi) / max(0.1, self._weight()), self._new_call)
        hour = self.now.astimezone(self.tz).hour
        hours = self.spec.params["rhythm"]["hours"]
        types = self.spec.types
        # Night types are likelier at night: each type's share weighted by its own hour curve.
        itype = self.rng.choices(types, weights=[t.share * hours[t.profile][hour] for t in types])[0]
        share = self.spec.params["clustering"]["hotspot_prone" if itype.hotspot_prone else "other"]
        if self.rng.random() < share:
            h = self.sampler.hotspot()
            lon, lat = self.sampler.near(h.lon, h.lat, h.spread_m * itype.spread_scale)
        else:
            lon, lat = self.sampler.uniform()
        self._open_call(itype.code, itype.description, itype.priority, lon, lat)

    def _open_call(self, code: str, description: str, priority: int, lon: float, lat: float, line: str = "") -> Call:
        address, street = self.addresser.address(self.rng, lon, lat)
        call = Call(
            cad_number=self._cad_number(),
            type_code=code,
            description=description,
            priority=priority,
            address=address,
            street=street,
            lon=round(lon, 6),
            lat=round(lat, 6),
            received_at=self.now,
            node=self.grid.snap(*self.grid.to_xy(lon, lat)),
        )
        texts = self.spec.params["narrative"]["open"]
        words = {"what": description.lower(), "address": address, "street": street}
        taker = f"CT{self.rng.randrange(100, 160)}"
        call.narrative.append((self.now, line or texts[0].format(**words), taker))
        if self.rng.random() < 0.5:
            call.narrative.append((self.now, self.rng.choice(texts[1:]).format(**words), taker))
        self.calls[call.cad_number] = call
        self._send_call(call)
        if self.rng.random() < self.config.by_phone_share.get(priority, 0.0):
            line = "Handled by phone; report taken by the telephone reporting unit."
            self.after(self.rng.uniform(*self.config.by_phone_after_s), lambda: self._close(call, line))
            return call
        lo, hi = self.config.dispatch_after_s.get(priority, (30, 100))
        self.after(self.rng.uniform(lo, hi), lambda: self._make_ready(call))
        self.after(self.config.max_wait_s, lambda: self._expire(call))
        return call

    def _make_ready(self, call: Call) -> None:
        if call.status == IncidentStatus.PENDING and call.cad_number not in self._ready:
            self._ready.append(call.cad_number)
            self._dispatch_ready()

    def _dispatch_ready(self) -> None:
        """Hand waiting calls, most urgent and oldest first, to the nearest available unit."""
        waiting = sorted((self.calls[c] for c in self._ready), key=lambda c: (c.priority, c.received_at))
        for call in waiting:
            free = [u for u in self.units.values() if u.dispatchable]
            if not free:
                return
            self._dispatch(call, free)

    def _dispatch(self, call: Call, free: list[SimUnit]) -> None:
        for unit in free:
            self._move(unit, self.now)
        # Street distance is at least the block distance: skip the search when only slow units are free
        # and even that puts them out of reach (at rush hour this runs for every waiting call).
        if all(u.kind in SLOW_KINDS for u in free) and all(
            self._blocks_apart(u, call) * self.grid.block / max(RESPONSE_SPEED[u.kind]) > self.config.max_slow_eta_s
            for u in free
        ):
            return
        hops, toward = self.grid.tree_to(call.node)
        etas = []
        for unit in free:
            eta = self._eta(unit, hops)
            if unit.kind in SLOW_KINDS and eta > self.config.max_slow_eta_s:
                continue
            etas.append((round(eta, 1), unit.call_sign))
        if not etas:
            return
        eta, call_sign = min(etas)
        unit = self.units[call_sign]
        self._ready.remove(call.cad_number)
        call.status = IncidentStatus.DISPATCHED
        call.dispatched_at = self.now
        call.units.append(call_sign)
        call.narrative.append((self.now, f"Dispatched {call_sign}", "DISP"))
        unit.call = call.cad_number
        unit.status = UnitStatus.DISPATCHED
        self._respond(unit, call, toward)
        self._send_call(call, candidates=tuple((cs, e) for e, cs in sorted(etas)))

    def _blocks_apart(self, unit: SimUnit, call: Call) -> int:
        nx = self.grid.nx
        return abs(unit.node % nx - call.node % nx) + abs(unit.node // nx - call.node // nx) - 1

    def _eta(self, unit: SimUnit, hops: list[int]) -> float:
        """Seconds to drive to the call at the unit's responding speed (mean of its range)."""
        first = unit.path[0] if unit.path else unit.node
        metres = math.dist((unit.x, unit.y), self.grid.xy(first)) + hops[first] * self.grid.block
        lo, hi = RESPONSE_SPEED.get(unit.kind, CAR_RESPONSE)
        return metres / ((lo + hi) / 2)

    def _respond(self, unit: SimUnit, call: Call, toward: list[int] | None = None) -> None:
        """Send the unit along the shortest street route to the call; arrival is scheduled exactly."""
        self._move(unit, self.now)
        if toward is None:
            toward = self.grid.tree_to(call.node)[1]
        first = unit.path[0] if unit.path else unit.node
        route = [first] if unit.path else []
        n = first
        while n != call.node:
            n = toward[n]
            route.append(n)
        unit.path = route
        unit.rest_until = None
        lo, hi = RESPONSE_SPEED.get(unit.kind, CAR_RESPONSE)
        unit.speed = self.rng.uniform(lo, hi)
        length = self._path_length(unit)
        self.after(length / unit.speed, lambda: self._arrive(unit, call))

    def _path_length(self, unit: SimUnit) -> float:
        points = [(unit.x, unit.y), *(self.grid.xy(n) for n in unit.path)]
        return sum(math.dist(a, b) for a, b in zip(points, points[1:], strict=False))

    def _arrive(self, unit: SimUnit, call: Call) -> None:
        self._move(unit, self.now)
        self._park(unit, call.node)
        unit.status = UnitStatus.ON_SCENE
        if call.status != IncidentStatus.DISPATCHED:
            return
        call.status = IncidentStatus.ON_SCENE
        call.on_scene_at = self.now
        call.narrative.append((self.now, f"{unit.call_sign} on scene", unit.call_sign))
        self._send_call(call)
        lo, hi = self.config.work_minutes.get(call.priority, (2, 5))
        self.after(60 * self.rng.uniform(lo, hi), lambda: self._close(call))

    def _park(self, unit: SimUnit, node: int) -> None:
        unit.path = []
        unit.node = node
        unit.x, unit.y = self.grid.xy(node)
        unit.speed = 0.0
        unit.moving = False

    def _close(self, call: Call, line: str = "") -> None:
        if call.status == IncidentStatus.CLOSED:
            return
        call.status = IncidentStatus.CLOSED
        call.closed_at = self.now
        author = call.units[0] if call.units else "DISP"
        call.narrative.append((self.now, line or self.rng.choice(self.spec.params["narrative"]["closed"]), author))
        self._send_call(call)
        # Closed calls are done with: a simulator running for days must not keep them all.
        self.calls.pop(call.cad_number, None)
        for cs in call.units:
            unit = self.units.get(cs)
            if unit is not None and unit.call == call.cad_number:
                self._move(unit, self.now)
                unit.call = None
                unit.status = UnitStatus.AVAILABLE
                unit.path = []
                unit.rest_until = None
        self._dispatch_ready()

    def _expire(self, call: Call) -> None:
        if call.status == IncidentStatus.PENDING:
            if call.cad_number in self._ready:
                self._ready.remove(call.cad_number)
            self._close(call, "No unit available; handled by phone, no further police action.")

    def _send_call(self, call: Call, candidates: tuple[tuple[str, float], ...] = ()) -> None:
        record = {
            "cad_number": call.cad_number,
            "type_code": call.type_code,
            "type_description": call.description,
            "priority": call.priority,
            "status": str(call.status),
            "address": call.address,
            "lon": call.lon,
            "lat": call.lat,
            "received_at": self._iso(call.received_at),
            "dispatched_at": self._iso(call.dispatched_at),
            "on_scene_at": self._iso(call.on_scene_at),
            "closed_at": self._iso(call.closed_at),
            "narrative": [{"time": self._iso(at), "text": text, "author": who} for at, text, who in call.narrative],
            "units": list(call.units),
        }
        event = CallEvent(
            call.cad_number,
            call.type_code,
            call.priority,
            str(call.status),
            call.lon,
            call.lat,
            tuple(call.units),
            candidates,
        )
        self._emit(Stream.CAD, event, body=json.dumps([record]).encode(), content_type="application/json")
