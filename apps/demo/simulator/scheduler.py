"""The simulator itself: one discrete-event clock (a heap of due actions) that starts every source's
first action, and `run`, which advances it with a real clock. The sources are the mixins of
`Simulator`: cad.py, units.py (OsmAnd and CoT fixes), alpr.py, gunshots.py, alarms.py.
"""

from __future__ import annotations

import functools
import heapq
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from apps.units.choices import UnitStatus

from ..city import Addresser, CitySpec, Sampler
from .alarms import AlarmSource
from .alpr import AlprSource
from .cad import CadSource
from .grid import StreetGrid
from .gunshots import GunshotSource
from .model import COT_KINDS, Call, Event, Outgoing, Sender, SimConfig, SimUnit, Stream, World
from .units import UnitSource


class Simulator(CadSource, UnitSource, AlprSource, GunshotSource, AlarmSource):
    """The demo city's live sources on one simulated clock (see the package docstring)."""

    def __init__(
        self,
        *,
        spec: CitySpec,
        world: World,
        start: datetime,
        send: Sender,
        seed: int | None = None,
        config: SimConfig | None = None,
        speed: float = 1.0,
        grid: StreetGrid | None = None,
    ):
        if start.tzinfo is None:
            raise ValueError("start must be an aware datetime")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.spec = spec
        self.world = world
        self.config = config or SimConfig()
        self.rng = random.Random(seed)
        self.start = self.now = start
        self.speed = speed
        self.send = send
        self.tz = ZoneInfo(spec.agency["time_zone"])
        self.grid = grid or StreetGrid(spec.outline)
        self.sampler = Sampler(spec, self.rng)
        self.addresser = Addresser(spec)
        self.run_id = start.strftime("%Y%m%d%H%M%S")
        self._queue: list[tuple[datetime, int, Callable[[], object]]] = []
        self._seq = 0
        self._district_of = self._node_districts()
        self.units: dict[str, SimUnit] = {}
        self.calls: dict[str, Call] = {}
        self._ready: list[str] = []  # pending calls whose dispatch delay is over, waiting for a unit
        self._next_cad = dict(world.next_cad)
        self._counters: Counter[str] = Counter()
        self._hot = {p for p, _ in world.hotlist}
        self._setup()

    # scheduling ------------------------------------------------------------------------------------
    def at(self, when: datetime, action: Callable[[], object]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (when, self._seq, action))

    def after(self, seconds: float, action: Callable[[], object]) -> None:
        self.at(self.now + timedelta(seconds=seconds), action)

    def advance(self, until: datetime) -> None:
        """Run every action due by `until`, in time order; the clock ends at `until`."""
        while self._queue and self._queue[0][0] <= until:
            when, _, action = heapq.heappop(self._queue)
            self.now = max(self.now, when)
            action()
        self.now = max(self.now, until)

    def stamp(self, t: datetime) -> datetime:
        """The wall-clock time a simulated instant is reported at: compressed by `speed` after the start,
        unchanged before it (incidents the loader left open keep their real times)."""
        if t <= self.start or self.speed == 1.0:
            return t
        return self.start + (t - self.start) / self.speed

    def _emit(self, stream: Stream, event: Event, *, body: bytes = b"", content_type: str = "", query=None) -> None:
        self.send(Outgoing(stream, self.now, event, body, content_type, dict(query or {})))

    # setup -----------------------------------------------------------------------------------------
    def _node_districts(self) -> dict[int, str]:
        result = {}
        for n in self.grid.nodes:
            d = self.spec.district_of(*self.grid.to_lonlat(*self.grid.xy(n)))
            if d is not None:
                result[n] = d.code
        return result

    def _setup(self) -> None:
        cfg = self.config
        ordered = sorted(self.world.units, key=lambda u: u.call_sign)
        # One unit of each specialty kind first, so the CoT layer shows a K9, a motor and a sergeant.
        specialty = [u for u in ordered if u.kind in COT_KINDS]
        firsts = {kind: next(u.call_sign for u in specialty if u.kind == kind) for kind in {u.kind for u in specialty}}
        picked = sorted(specialty, key=lambda u: (u.call_sign not in firsts.values(), COT_KINDS.index(u.kind)))
        wanted = cfg.cot_units if Stream.COT in cfg.streams else 0
        over_cot = {u.call_sign for u in picked[:wanted]}
        for info in ordered:
            if info.lon is None or info.lat is None:
                lon, lat = self.sampler.uniform(self.spec.district(info.district))
            else:
                lon, lat = info.lon, info.lat
            node = self.grid.snap(*self.grid.to_xy(lon, lat))
            transport = Stream.COT if info.call_sign in over_cot else Stream.OSMAND
            x, y = self.grid.xy(node)
            self.units[info.call_sign] = SimUnit(
                call_sign=info.call_sign,
                kind=info.kind,
                district=info.district,
                status=info.status,
                transport=transport,
                x=x,
                y=y,
                node=node,
                t=self.now,
                heading=round(self.rng.uniform(0, 360), 1),
            )
        if cfg.streams & {Stream.OSMAND, Stream.COT}:
            for unit in self.units.values():
                if unit.transport in cfg.streams:
                    self.after(self.rng.uniform(0, cfg.fix_moving_s[1]), functools.partial(self._fix, unit))
        if Stream.CAD in cfg.streams:
            for open_call in self.world.open_calls:
                self._adopt(open_call)
            for unit in self.units.values():
                # Busy on the server but on no open call we know: free for the next dispatch, which
                # brings the server's status back in line.
                if unit.call is None and unit.status in (UnitStatus.DISPATCHED, UnitStatus.ON_SCENE):
                    unit.status = UnitStatus.AVAILABLE
            self.after(self.rng.uniform(3, 12), self._new_call)
        if Stream.ALPR in cfg.streams and self.world.sites:
            self.after(self.rng.expovariate(1 / cfg.read_mean_s), self._read)
        if Stream.GUNSHOT in cfg.streams:
            self.after(self.rng.uniform(30, cfg.gunshot_every_s[0]), self._gunshots)
        if Stream.CAP in cfg.streams:
            self.after(self.rng.uniform(30, cfg.alarm_every_s[0] / 2), self._alarm)

    def _iso(self, t: datetime | None) -> str | None:
        return None if t is None else self.stamp(t).isoformat()


# --- the run loop ---------------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class WallClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Stop(Protocol):
    def is_set(self) -> bool: ...


def run(
    sim: Simulator,
    *,
    clock: Clock,
    stop: Stop,
    duration: float | None = None,
    status: Callable[[], str] | None = None,
    out: Callable[[str], None] = print,
    status_every: float = 30.0,
    tick: float = 0.1,
) -> None:
    """Advance the simulator with `clock` (times `sim.speed`) until `stop` is set or `duration` wall seconds
    have passed, printing `status()` every `status_every` seconds and once at the end."""
    began = clock.now()
    next_status = status_every
    while not stop.is_set():
        elapsed = (clock.now() - began).total_seconds()
        if duration is not None and elapsed >= duration:
            elapsed = duration
        sim.advance(sim.start + timedelta(seconds=elapsed * sim.speed))
        if duration is not None and elapsed >= duration:
            break
        if status is not None and elapsed >= next_status:
            out(status())
            next_status += status_every
        clock.sleep(tick)
    if status is not None:
        out(status())
