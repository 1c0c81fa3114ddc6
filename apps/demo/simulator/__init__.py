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

The package: model.py (world, rates, events, messages), grid.py (the streets), one module per simulated
source mixed into the scheduler (cad.py, units.py for the OsmAnd and CoT fixes, alpr.py, gunshots.py,
alarms.py), scheduler.py (`Simulator`, `run`) and transport.py (`HttpTransport`, `CotClient`).
"""

from .alarms import ALARM_SENDER, ALARMS, PREMISES, cap_alert
from .grid import StreetGrid, bearing_xy
from .model import (
    BLOCK_M,
    CAR_PATROL,
    CAR_RESPONSE,
    COT_KINDS,
    KNOT,
    MAX_SPEED,
    NOT_DISPATCHED,
    PATROL_SPEED,
    RESPONSE_SPEED,
    SLOW_KINDS,
    AlarmEvent,
    Call,
    CallEvent,
    Event,
    FixEvent,
    OpenCall,
    Outgoing,
    ReadEvent,
    Sender,
    ShotEvent,
    SimConfig,
    SimUnit,
    SiteInfo,
    Stream,
    UnitInfo,
    World,
    world_from_spec,
)
from .scheduler import Clock, Simulator, Stop, WallClock, run
from .transport import CotClient, HttpTransport, StreamStats
from .units import cot_event

__all__ = [
    "ALARMS",
    "ALARM_SENDER",
    "AlarmEvent",
    "BLOCK_M",
    "CAR_PATROL",
    "CAR_RESPONSE",
    "COT_KINDS",
    "Call",
    "CallEvent",
    "Clock",
    "CotClient",
    "Event",
    "FixEvent",
    "HttpTransport",
    "KNOT",
    "MAX_SPEED",
    "NOT_DISPATCHED",
    "OpenCall",
    "Outgoing",
    "PATROL_SPEED",
    "PREMISES",
    "RESPONSE_SPEED",
    "ReadEvent",
    "SLOW_KINDS",
    "Sender",
    "ShotEvent",
    "SimConfig",
    "SimUnit",
    "Simulator",
    "SiteInfo",
    "Stop",
    "Stream",
    "StreamStats",
    "StreetGrid",
    "UnitInfo",
    "WallClock",
    "World",
    "bearing_xy",
    "cap_alert",
    "cot_event",
    "run",
    "world_from_spec",
]
