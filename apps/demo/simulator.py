"""Live simulators for the demo city: CAD calls, AVL, ALPR reads, gunshots and alarms, sent the way real
sources send them, so the map of `make demo` keeps moving.

Nothing here writes to the database. `Simulator` is a discrete-event model on its own clock: `advance(to)`
runs every action due by `to` and hands each record to the injected `send` callable as an `Outgoing`
message, already rendered in the wire format of its source (cad_json, OsmAnd query, CoT XML, alpr_json,
gunshot_json, CAP 1.2 XML) beside a typed event the tests read. `HttpTransport` delivers messages to the
real endpoints (push with a per-source token, the OsmAnd endpoint, the CoT TCP listener) and `run` ties the
model to a clock; both are what `manage.py simulate_city` uses.

Units drive on a Manhattan grid of 100 m blocks clipped to the city outline (the fixtures have no street
network, and Seattle's streets are mostly such a grid), so every position lies on a grid line inside the
city. Unit status is never sent by the AVL streams: CAD updates carry the assigned call sign, and the server
makes units follow their incident (`incident_sync_unit_status`), as it does for a real CAD.

With `speed` N the model runs N times faster than the wall clock and timestamps are compressed back onto
the wall clock (`Simulator.stamp`), so the server sees a fast-forward that is always "now", never records
from the future, which the adapters refuse.
"""

from __future__ import annotations

import functools
import heapq
import http.client
import json
import logging
import math
import random
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

from apps.incidents.choices import IncidentStatus
from apps.units.choices import UnitStatus

from .city import M_PER_DEG_LAT, Addresser, CitySpec, Outline, Sampler, make_plate

log = logging.getLogger(__name__)

KNOT = 1852.0 / 3600.0  # metres per second
BLOCK_M = 100.0  # a Seattle block is roughly 100 m on a side


class Stream(StrEnum):
    """One simulated source; each has its own feed source (and token) on the server."""

    CAD = "cad"
    OSMAND = "osmand"
    COT = "cot"
    ALPR = "alpr"
    GUNSHOT = "gunshot"
    CAP = "cap"


# --- what the simulator starts from -------------------------------------------------------------------


@dataclass(frozen=True)
class UnitInfo:
    call_sign: str
    kind: str
    district: str
    status: str = UnitStatus.AVAILABLE
    lon: float | None = None
    lat: float | None = None


@dataclass(frozen=True)
class SiteInfo:
    """A fixed ALPR reader: its external id is how a read names its site."""

    external_id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class OpenCall:
    """An incident already open on the server (the loader leaves some) that the simulated CAD takes over."""

    cad_number: str
    type_code: str
    description: str
    priority: int
    status: str
    address: str
    lon: float
    lat: float
    received_at: datetime
    dispatched_at: datetime | None = None
    on_scene_at: datetime | None = None
    units: tuple[str, ...] = ()


@dataclass(frozen=True)
class World:
    """The loaded city as the simulator needs it: units, readers, the hotlist, open calls, the CAD counter."""

    units: tuple[UnitInfo, ...]
    sites: tuple[SiteInfo, ...]
    hotlist: tuple[tuple[str, str], ...]  # (plate, state) of active entries
    open_calls: tuple[OpenCall, ...] = ()
    cad_prefix: str = "DEMO"
    next_cad: dict[int, int] = field(default_factory=dict)  # local year -> next sequence number


def world_from_spec(spec: CitySpec, rng: random.Random) -> World:
    """A world built from the fixture alone (tests, or a dry run): units spread over their districts,
    the fixed ALPR sites under the loader's external ids, a made-up hotlist, no open calls."""
    sampler = Sampler(spec, rng)
    units = []
    for u in spec.params["units"]:
        lon, lat = sampler.uniform(spec.district(u["district"]))
        units.append(UnitInfo(u["call_sign"], u["kind"], u["district"], UnitStatus.AVAILABLE, lon, lat))
    sites = tuple(
        SiteInfo(f"DEMO-ALPR-{i:02d}", s["name"], s["at"][0], s["at"][1])
        for i, s in enumerate(spec.params["alpr"]["sites"], start=1)
    )
    hotlist = tuple((make_plate(rng), "WA") for _ in range(int(spec.params["alpr"]["hotlist"]["entries"])))
    return World(units=tuple(units), sites=sites, hotlist=hotlist, cad_prefix=spec.agency["code"])


# --- the street grid ----------------------------------------------------------------------------------


def _crossings(ring: Sequence[tuple[float, float]], value: float, axis: int) -> list[tuple[float, float]]:
    """Inside intervals of the ring along the line where coordinate `axis` equals `value` (even-odd rule)."""
    other = 1 - axis
    cuts = []
    for a, b in zip(ring, ring[1:], strict=False):
        if (a[axis] > value) != (b[axis] > value):
            t = (value - a[axis]) / (b[axis] - a[axis])
            cuts.append(a[other] + t * (b[other] - a[other]))
    cuts.sort()
    return list(zip(cuts[0::2], cuts[1::2], strict=False))


class StreetGrid:
    """Axis-aligned streets every `block_m` metres, clipped to the city outline.

    Coordinates are metres east/north of the outline's south-west corner in one equirectangular
    projection: an affine map, so straight legs stay straight and "inside the outline" means the same
    in metres and in degrees. A street segment exists only when both ends lie in the same inside interval
    of its line, which keeps every point of it on land; only the largest connected piece is kept, so
    every node can reach every other.
    """

    def __init__(self, outline: Outline, block_m: float = BLOCK_M, margin_m: float = 5.0):
        x0, y0, x1, y1 = outline.bbox
        self.lon0, self.lat0 = x0, y0
        self.kx = M_PER_DEG_LAT * math.cos(math.radians((y0 + y1) / 2.0))
        self.block = block_m
        ring = [self.to_xy(lon, lat) for lon, lat in outline.ring]
        width, height = self.to_xy(x1, y1)
        self.nx = int(width // block_m) + 1
        self.ny = int(height // block_m) + 1
        nx, ny = self.nx, self.ny

        def slots(intervals: list[tuple[float, float]], value: float) -> int:
            for k, (lo, hi) in enumerate(intervals):
                if lo + margin_m <= value <= hi - margin_m:
                    return k
            return -1

        row_slot = [-1] * (nx * ny)
        col_slot = [-1] * (nx * ny)
        for j in range(ny):
            intervals = _crossings(ring, self.coord(j), axis=1)
            for i in range(nx):
                row_slot[j * nx + i] = slots(intervals, self.coord(i))
        for i in range(nx):
            intervals = _crossings(ring, self.coord(i), axis=0)
            for j in range(ny):
                col_slot[j * nx + i] = slots(intervals, self.coord(j))
        inside = [r >= 0 and c >= 0 for r, c in zip(row_slot, col_slot, strict=True)]
        neighbours: list[list[int]] = [[] for _ in range(nx * ny)]
        for n in range(nx * ny):
            if not inside[n]:
                continue
            i, j = n % nx, n // nx
            east, north = n + 1, n + nx
            if i + 1 < nx and inside[east] and row_slot[east] == row_slot[n]:
                neighbours[n].append(east)
                neighbours[east].append(n)
            if j + 1 < ny and inside[north] and col_slot[north] == col_slot[n]:
                neighbours[n].append(north)
                neighbours[north].append(n)
        # Narrow necks of the outline can cut a few blocks off; a unit must never be stranded there.
        best: set[int] = set()
        seen = [False] * (nx * ny)
        for n in range(nx * ny):
            if inside[n] and not seen[n]:
                piece = self._flood(n, neighbours, seen)
                if len(piece) > len(best):
                    best = piece
        self.neighbours: list[tuple[int, ...]] = [tuple(neighbours[n]) if n in best else () for n in range(nx * ny)]
        self.nodes: frozenset[int] = frozenset(best)

    @staticmethod
    def _flood(start: int, neighbours: list[list[int]], seen: list[bool]) -> set[int]:
        piece = {start}
        seen[start] = True
        queue = deque([start])
        while queue:
            for m in neighbours[queue.popleft()]:
                if not seen[m]:
                    seen[m] = True
                    piece.add(m)
                    queue.append(m)
        return piece

    def coord(self, index: int) -> float:
        return (index + 0.5) * self.block

    def to_xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.lon0) * self.kx, (lat - self.lat0) * M_PER_DEG_LAT

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        return self.lon0 + x / self.kx, self.lat0 + y / M_PER_DEG_LAT

    def xy(self, node: int) -> tuple[float, float]:
        return self.coord(node % self.nx), self.coord(node // self.nx)

    def snap(self, x: float, y: float) -> int:
        """The street corner nearest to (x, y)."""
        ci = min(self.nx - 1, max(0, round(x / self.block - 0.5)))
        cj = min(self.ny - 1, max(0, round(y / self.block - 0.5)))
        for r in range(max(self.nx, self.ny)):
            ring = [
                j * self.nx + i
                for j in range(max(0, cj - r), min(self.ny, cj + r + 1))
                for i in range(max(0, ci - r), min(self.nx, ci + r + 1))
                if max(abs(i - ci), abs(j - cj)) == r and (j * self.nx + i) in self.nodes
            ]
            if ring:
                return min(ring, key=lambda n: math.dist(self.xy(n), (x, y)))
        raise ValueError("the street grid is empty")

    def tree_to(self, target: int) -> tuple[list[int], list[int]]:
        """Breadth-first from `target`: hops to it from every node (-1: unreachable), and each node's next
        hop towards it."""
        hops = [-1] * (self.nx * self.ny)
        toward = [-1] * (self.nx * self.ny)
        hops[target] = 0
        queue = deque([target])
        while queue:
            n = queue.popleft()
            for m in self.neighbours[n]:
                if hops[m] < 0:
                    hops[m] = hops[n] + 1
                    toward[m] = n
                    queue.append(m)
        return hops, toward

    def route_until(self, start: int, goal: Callable[[int], bool]) -> list[int]:
        """The shortest street route from `start` to the nearest node satisfying `goal` (nodes after start)."""
        came: dict[int, int] = {start: start}
        queue = deque([start])
        while queue:
            n = queue.popleft()
            if goal(n):
                path = []
                while n != start:
                    path.append(n)
                    n = came[n]
                return path[::-1]
            for m in self.neighbours[n]:
                if m not in came:
                    came[m] = n
                    queue.append(m)
        return []


def bearing_xy(x1: float, y1: float, x2: float, y2: float) -> float:
    return math.degrees(math.atan2(x2 - x1, y2 - y1)) % 360.0


# --- rates ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimConfig:
    """Rates, in simulated seconds unless named otherwise. Tuned so the map changes every few seconds
    while a day adds only ~2,000 incidents, ~400,000 fixes and ~35,000 plate reads."""

    streams: frozenset[Stream] = frozenset(Stream)
    call_every_s: tuple[float, float] = (30.0, 75.0)  # divided by the hour/weekday weight (0.4..1.6)
    dispatch_after_s: dict[int, tuple[float, float]] = field(
        default_factory=lambda: {1: (5, 20), 2: (10, 40), 3: (20, 70), 4: (30, 100), 5: (40, 120)}
    )
    work_minutes: dict[int, tuple[float, float]] = field(
        default_factory=lambda: {1: (5, 10), 2: (3, 7), 3: (2, 5), 4: (2, 4), 5: (1.5, 3)}
    )
    # A call nobody could take within this long is handled by phone (the queue must not grow at peak hours).
    max_wait_s: float = 15 * 60
    # Low-priority calls a telephone reporting unit takes without sending anyone, as real CADs do; it also
    # keeps about a third of the units free to patrol at ordinary hours.
    by_phone_share: dict[int, float] = field(default_factory=lambda: {3: 0.15, 4: 0.4, 5: 0.5})
    by_phone_after_s: tuple[float, float] = (60.0, 240.0)
    # Foot and bike officers take calls close by only; a car is sent rather than a 20-minute walk.
    max_slow_eta_s: float = 480.0
    fix_moving_s: tuple[float, float] = (3.0, 5.0)
    fix_parked_s: float = 20.0  # stopped or on scene: devices report on a heartbeat, not on movement
    fix_out_of_service_s: float = 60.0
    cot_units: int = 3
    read_mean_s: float = 2.5  # ALPR: about four reads per 10 s over the fixed sites
    hit_rate: float = 1 / 200  # a hotlist hit (and its alert) every ~8 minutes
    gunshot_every_s: tuple[float, float] = (300.0, 600.0)
    gunshot_call_share: float = 0.6  # bursts that also bring a shots-fired call into CAD
    alarm_every_s: tuple[float, float] = (480.0, 720.0)
    patrol_pause_share: float = 0.15
    patrol_pause_s: tuple[float, float] = (20.0, 90.0)


# Cruising and responding speeds in metres per second; anything not listed drives like a patrol car.
PATROL_SPEED = {"foot": (1.0, 1.7), "bike": (3.5, 6.0), "motor": (9.0, 15.0)}
RESPONSE_SPEED = {"foot": (1.8, 2.6), "bike": (5.0, 7.0), "motor": (12.0, 16.0)}
CAR_PATROL, CAR_RESPONSE = (8.0, 13.0), (11.0, 15.0)
MAX_SPEED = 16.0
SLOW_KINDS = {"foot", "bike"}
NOT_DISPATCHED = {"supervisor"}  # sergeants respond on their own; CAD does not send them
COT_KINDS = ("k9", "motor", "supervisor")  # specialty units are the ones carrying TAK devices

ALARMS = (
    ("Panic button", "Security", "Immediate", "Extreme"),
    ("Duress alarm", "Security", "Immediate", "Extreme"),
    ("Intrusion alarm", "Security", "Expected", "Moderate"),
    ("Glass-break sensor", "Security", "Expected", "Moderate"),
    ("Door sensor", "Security", "Expected", "Minor"),
)
PREMISES = ("bank branch", "pharmacy", "convenience store", "jewelry store", "school office", "transit station")
ALARM_SENDER = "alarms@monitoring.demo.invalid"


# --- events (what tests read) and messages (what goes on the wire) ---------------------------------------


@dataclass(frozen=True)
class CallEvent:
    cad_number: str
    type_code: str
    priority: int
    status: str
    lon: float
    lat: float
    units: tuple[str, ...]
    # At dispatch: every unit that was available, with its driving time to the call (s).
    candidates: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class FixEvent:
    call_sign: str
    lon: float
    lat: float
    speed: float  # m/s
    heading: float
    state: str  # the simulator's view of the unit: patrol, responding, on_scene, out_of_service


@dataclass(frozen=True)
class ReadEvent:
    plate: str
    state: str
    site: str
    hit: bool


@dataclass(frozen=True)
class ShotEvent:
    source_id: str
    burst: int
    lon: float
    lat: float
    rounds: int
    hotspot: str


@dataclass(frozen=True)
class AlarmEvent:
    source_id: str
    kind: str
    title: str
    lon: float
    lat: float


Event = CallEvent | FixEvent | ReadEvent | ShotEvent | AlarmEvent


@dataclass(frozen=True)
class Outgoing:
    """One request's worth: the rendered payload (`body`, or `query` for OsmAnd) and the event behind it."""

    stream: Stream
    at: datetime  # simulated instant
    event: Event
    body: bytes = b""
    content_type: str = ""
    query: dict[str, str] = field(default_factory=dict)


Sender = Callable[[Outgoing], None]


# --- the model ----------------------------------------------------------------------------------------


@dataclass
class Call:
    cad_number: str
    type_code: str
    description: str
    priority: int
    address: str
    lon: float
    lat: float
    received_at: datetime
    node: int
    status: str = IncidentStatus.PENDING
    dispatched_at: datetime | None = None
    on_scene_at: datetime | None = None
    closed_at: datetime | None = None
    units: list[str] = field(default_factory=list)
    narrative: list[tuple[datetime, str, str]] = field(default_factory=list)
    street: str = ""


@dataclass
class SimUnit:
    call_sign: str
    kind: str
    district: str
    status: str
    transport: Stream
    x: float
    y: float
    node: int  # the corner last reached
    t: datetime  # when x, y were computed
    path: list[int] = field(default_factory=list)
    speed: float = 0.0
    heading: float = 0.0
    rest_until: datetime | None = None
    call: str | None = None
    moving: bool = False
    prev: int = -1  # the corner before `node`, so patrols do not turn back on themselves

    @property
    def dispatchable(self) -> bool:
        return self.status == UnitStatus.AVAILABLE and self.kind not in NOT_DISPATCHED

    @property
    def state(self) -> str:
        if self.status == UnitStatus.OUT_OF_SERVICE:
            return "out_of_service"
        if self.call is None:
            return "patrol"
        return "responding" if self.path else "on_scene"


class Simulator:
    """The demo city's live sources on one simulated clock (see the module docstring)."""

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

    def _iso(self, t: datetime | None) -> str | None:
        return None if t is None else self.stamp(t).isoformat()

    # units -------------------------------------------------------------------------------------------
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

    # ALPR, gunshots, alarms -----------------------------------------------------------------------------
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

    def _alarm(self) -> None:
        self.after(self.rng.uniform(*self.config.alarm_every_s), self._alarm)
        device, category, urgency, severity = self.rng.choice(ALARMS)
        premise = self.rng.choice(PREMISES)
        h = self.sampler.hotspot()
        lon, lat = self.sampler.near(h.lon, h.lat, h.spread_m * 1.5)
        address, _ = self.addresser.address(self.rng, lon, lat)
        self._counters["alarms"] += 1
        identifier = f"SIM-AL-{self.run_id}-{self._counters['alarms']:05d}"
        title = f"{device}: {premise}"
        xml = cap_alert(
            identifier=identifier,
            sent=self.stamp(self.now).astimezone(self.tz),
            event=title,
            category=category,
            urgency=urgency,
            severity=severity,
            headline=f"{device} activated at a {premise}, {address}",
            area=f"{premise.capitalize()}, {address}",
            lon=lon,
            lat=lat,
        )
        kind = "panic" if device in ("Panic button", "Duress alarm") else "sensor"
        event = AlarmEvent(f"{ALARM_SENDER},{identifier}", kind, title, round(lon, 6), round(lat, 6))
        self._emit(Stream.CAP, event, body=xml, content_type="application/cap+xml")


# --- wire formats ------------------------------------------------------------------------------------------


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


def cap_alert(
    *,
    identifier: str,
    sent: datetime,
    event: str,
    category: str,
    urgency: str,
    severity: str,
    headline: str,
    area: str,
    lon: float,
    lat: float,
) -> bytes:
    """An OASIS CAP 1.2 alert as an alarm-monitoring centre would send it to the agency."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{escape(identifier)}</identifier>
  <sender>{ALARM_SENDER}</sender>
  <sent>{sent.isoformat(timespec="seconds")}</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Restricted</scope>
  <restriction>Law enforcement dispatch only</restriction>
  <info>
    <language>en-US</language>
    <category>{escape(category)}</category>
    <event>{escape(event)}</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>Observed</certainty>
    <senderName>Demo alarm monitoring centre</senderName>
    <headline>{escape(headline)}</headline>
    <description>Signal received from the premises panel; keyholder being contacted.</description>
    <area>
      <areaDesc>{escape(area)}</areaDesc>
      <circle>{lat:.6f},{lon:.6f} 0</circle>
    </area>
  </info>
</alert>
""".encode()


# --- delivery ------------------------------------------------------------------------------------------------


@dataclass
class StreamStats:
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    failed: int = 0  # HTTP 4xx/5xx or network errors: the whole request was lost


class CotClient:
    """One TCP connection to the CoT listener, reconnecting at most every `retry_s` after a failure."""

    def __init__(self, host: str, port: int, *, timeout: float = 2.0, retry_s: float = 10.0):
        self.host, self.port, self.timeout, self.retry_s = host, port, timeout, retry_s
        self._sock: socket.socket | None = None
        self._next_try = 0.0

    def connect(self) -> bool:
        try:
            self._sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError:
            self._sock = None
            self._next_try = time.monotonic() + self.retry_s
            return False
        return True

    def send(self, data: bytes) -> None:
        if self._sock is None:
            if time.monotonic() < self._next_try or not self.connect():
                raise ConnectionError(f"CoT listener {self.host}:{self.port} is not reachable")
        assert self._sock is not None
        try:
            self._sock.sendall(data)
        except OSError:
            self.close()
            self._next_try = time.monotonic() + self.retry_s
            raise

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None


class HttpTransport:
    """Delivers messages to the real endpoints: push with `Authorization: Bearer`, OsmAnd with the token in
    the path, CoT over TCP. Failures are counted and reported, never raised: a lost fix is no reason to
    stop the city."""

    SHOWN_ERRORS = 5  # per stream, then every 100th, so a broken server does not flood the terminal

    def __init__(
        self,
        base_url: str,
        tokens: dict[Stream, str],
        *,
        cot: CotClient | None = None,
        timeout: float = 5.0,
        out: Callable[[str], None] = print,
    ):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.cot = cot
        self.timeout = timeout
        self.out = out
        self.stats: dict[Stream, StreamStats] = {s: StreamStats() for s in Stream}
        self._errors: Counter[Stream] = Counter()

    def __call__(self, msg: Outgoing) -> None:
        stats = self.stats[msg.stream]
        stats.sent += 1
        if msg.stream == Stream.COT:
            self._send_cot(msg, stats)
            return
        token = self.tokens.get(msg.stream)
        if not token:
            self._fail(msg.stream, stats, "no token for this stream")
            return
        if msg.stream == Stream.OSMAND:
            url = f"{self.base_url}/api/feeds/osmand/{urllib.parse.quote(token)}/?{urllib.parse.urlencode(msg.query)}"
            request = urllib.request.Request(url, method="GET")
        else:
            request = urllib.request.Request(
                f"{self.base_url}/api/feeds/push/",
                data=msg.body,
                method="POST",
                headers={"Authorization": f"Bearer {token}", "Content-Type": msg.content_type},
            )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                report = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            self._fail(msg.stream, stats, f"HTTP {exc.code}: {_reason(exc)}")
            return
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # The token is part of the OsmAnd URL: report the reason only, never the URL.
            self._fail(msg.stream, stats, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
            return
        stats.accepted += int(report.get("accepted", 0))
        stats.duplicates += int(report.get("duplicates", 0))
        rejected = int(report.get("rejected", 0))
        if rejected:
            stats.rejected += rejected
            reasons = "; ".join(r.get("reason", "") for r in report.get("rejections", [])[:3])
            self._report(msg.stream, f"rejected {rejected}: {reasons}")

    def _send_cot(self, msg: Outgoing, stats: StreamStats) -> None:
        if self.cot is None:
            self._fail(msg.stream, stats, "no CoT listener configured")
            return
        try:
            self.cot.send(msg.body)
        except OSError as exc:
            self._fail(msg.stream, stats, str(exc))

    def _fail(self, stream: Stream, stats: StreamStats, reason: str) -> None:
        stats.failed += 1
        self._report(stream, reason)

    def _report(self, stream: Stream, reason: str) -> None:
        self._errors[stream] += 1
        n = self._errors[stream]
        if n <= self.SHOWN_ERRORS or n % 100 == 0:
            self.out(f"[simulate_city] {stream}: {reason} (problem #{n} on this stream)")

    def status_line(self, sim: Simulator) -> str:
        parts = []
        for stream, s in self.stats.items():
            if s.sent == 0:
                continue
            if stream == Stream.COT:
                # The CoT listener sends no reply; its feed source's counters show what it accepted.
                parts.append(f"{stream} {s.sent} sent/{s.failed} failed")
            else:
                parts.append(f"{stream} {s.sent} sent/{s.accepted} ok/{s.rejected} rejected/{s.failed} failed")
        local = sim.now.astimezone(sim.tz)
        return f"[simulate_city] sim {local:%a %H:%M:%S} x{sim.speed:g}: " + (", ".join(parts) or "nothing sent yet")

    @property
    def problems(self) -> int:
        return sum(s.failed + s.rejected for s in self.stats.values())

    def close(self) -> None:
        if self.cot is not None:
            self.cot.close()


def _reason(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason or ""
    return str(body.get("detail") or body)[:300] if isinstance(body, dict) else str(body)[:300]


# --- the run loop --------------------------------------------------------------------------------------------


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
