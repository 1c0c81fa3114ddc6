"""What the simulator starts from (the world), its rates, the events tests read and the messages that go
on the wire, and the mutable model of a call and a unit. No behaviour beyond one row's properties.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from apps.incidents.choices import IncidentStatus
from apps.units.choices import UnitStatus

from ..city import CitySpec, Sampler, make_plate

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
