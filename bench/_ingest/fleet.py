"""The bench's agency, user, feed sources and units, and the fixes it sends them (GTFS-RT payloads,
OsmAnd queries).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.db import connection
from google.transit import gtfs_realtime_pb2

from apps.accounts.choices import Role
from apps.accounts.models import Agency, User
from apps.feeds.models import FeedSource
from apps.units.models import Unit

from . import config
from .config import CENTER


@dataclass(frozen=True)
class UnitRef:
    pk: int
    device: str
    call_sign: str


@dataclass(frozen=True)
class Bench:
    agency_id: int
    user: User
    units: list[UnitRef]
    gtfs_source_id: int
    gtfs_token: str
    osmand_source_id: int
    osmand_token: str


def bench_setup(unit_count: int) -> Bench:
    """The bench agency, its operator, units and two push sources with fresh tokens; history emptied."""
    if settings.DATABASES["default"]["NAME"] != config.ENV.database:
        raise SystemExit("refusing to write: Django is not connected to the bench database")
    with connection.cursor() as cur:
        cur.execute("TRUNCATE units_unitposition, feeds_deadletter")
    agency, _ = Agency.objects.get_or_create(code="BENCH", defaults={"name": "Ingest bench agency"})
    user, _ = User.objects.get_or_create(username="bench-operator", defaults={"agency": agency, "role": Role.OPERATOR})
    user.set_unusable_password()
    user.agency, user.role, user.is_active = agency, Role.OPERATOR, True
    user.save()
    existing = {u.call_sign: u for u in Unit.objects.filter(agency=agency)}
    Unit.objects.bulk_create(
        [
            Unit(agency=agency, call_sign=f"B{i:04d}", device_id=f"bench-{i:04d}")
            for i in range(unit_count)
            if f"B{i:04d}" not in existing
        ]
    )
    Unit.objects.filter(agency=agency).update(
        last_location=None, last_heading=None, last_speed=None, last_seen=None, active=True
    )
    units = [
        UnitRef(u.pk, u.device_id, u.call_sign)
        for u in Unit.objects.filter(agency=agency, call_sign__startswith="B").order_by("call_sign")[:unit_count]
    ]
    sources = {}
    for kind in ("gtfs_rt", "osmand"):
        source, _ = FeedSource.objects.update_or_create(
            agency=agency,
            name=f"bench-{kind}",
            defaults={"kind": kind, "enabled": True, "auto_create_units": False, "params": {}},
        )
        FeedSource.objects.filter(pk=source.pk).update(accepted_count=0, rejected_count=0)
        sources[kind] = (source.pk, source.issue_token())
    return Bench(agency.pk, user, units, *sources["gtfs_rt"], *sources["osmand"])


def session_cookie(user: User) -> tuple[str, Any]:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}", store


@dataclass(frozen=True)
class FixSpec:
    unit: UnitRef
    ts_ms: int
    lon: float
    lat: float
    bearing: float
    speed: float  # metres per second


class Fleet:
    """Units driving random walks around the centre, with strictly increasing fix times per unit, so no
    fix of the run is a duplicate and every one is newer than the unit's last (it moves the unit)."""

    def __init__(self, units: Sequence[UnitRef], start_ms: int, seed: int = 7) -> None:
        self.units = list(units)
        self.rng = random.Random(seed)
        self.last_ms = [start_ms] * len(units)
        self.where = [
            (CENTER[0] + self.rng.uniform(-0.05, 0.05), CENTER[1] + self.rng.uniform(-0.03, 0.03)) for _ in units
        ]

    def fix(self, index: int, *, at_least_ms: int = 0, whole_seconds: bool = False) -> FixSpec:
        ts = max(self.last_ms[index] + 1, at_least_ms)
        if whole_seconds:  # GTFS-RT timestamps are POSIX seconds
            ts = -(-ts // 1000) * 1000
        self.last_ms[index] = ts
        lon, lat = self.where[index]
        lon, lat = lon + self.rng.uniform(-3e-4, 3e-4), lat + self.rng.uniform(-2e-4, 2e-4)
        self.where[index] = (lon, lat)
        return FixSpec(self.units[index], ts, lon, lat, self.rng.uniform(0, 359), self.rng.uniform(0, 20))


def gtfs_payload(fixes: Sequence[FixSpec]) -> bytes:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = int(time.time())
    for fix in fixes:
        entity = feed.entity.add()
        entity.id = f"{fix.unit.device}-{fix.ts_ms}"
        vehicle = entity.vehicle
        vehicle.vehicle.id = fix.unit.device
        vehicle.vehicle.label = fix.unit.call_sign
        vehicle.position.longitude = fix.lon
        vehicle.position.latitude = fix.lat
        vehicle.position.bearing = fix.bearing
        vehicle.position.speed = fix.speed
        vehicle.timestamp = fix.ts_ms // 1000
    return feed.SerializeToString()


def osmand_target(token: str, fix: FixSpec) -> str:
    query = {
        "id": fix.unit.device,
        "lat": f"{fix.lat:.6f}",
        "lon": f"{fix.lon:.6f}",
        "timestamp": str(fix.ts_ms),  # epoch milliseconds
        "speed": f"{fix.speed / (1852 / 3600):.2f}",  # knots, as Traccar defines the protocol
        "bearing": f"{fix.bearing:.0f}",
    }
    return f"/api/feeds/osmand/{token}/?{urlencode(query)}"
