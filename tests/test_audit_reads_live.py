"""Watching plate reads over the live socket is a look on record, declared on the live layer (`look`),
as the map's REST hit layer is: once per user per window, never once per event or per re-subscribe."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

import rtcc_gis.urls  # noqa: F401  (every view module imported: every audited read registered)
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.reads import READS
from apps.live.layers import HIT_WATCH, LAYERS

from .live_support import headers_for, live_test, subscribe


def _events() -> list[tuple[str, str, str, dict]]:
    return [
        (e.username, e.reason, e.object_type, e.detail)
        for e in AuditEvent.objects.filter(action=AuditAction.ALPR_READ_QUERY).order_by("id")
    ]


def test_every_socket_look_is_declared_on_a_live_layer():
    socket_reads = {name for name, read in READS.items() if read.via == "socket"}
    assert socket_reads == {layer.look.name for layer in LAYERS.values() if layer.look is not None}
    assert socket_reads == {"live.alpr_reads"} and LAYERS["alpr_reads"].look is HIT_WATCH


@pytest.fixture
def operator_headers(operator):
    return headers_for(operator)


@pytest.fixture
def planner_headers(planner):
    return headers_for(planner)


@live_test
async def test_subscribing_to_hits_is_one_event_per_user_per_window(ws, operator_headers, planner_headers):
    operator_ws = await ws(operator_headers)
    assert (await subscribe(operator_ws, layers=["alpr_reads", "units"]))["layers"] == ["alpr_reads", "units"]
    await subscribe(operator_ws, layers=["units", "alpr_reads"])  # the map re-subscribing: same window
    again = await ws(operator_headers)  # a reconnect: same window
    await subscribe(again, layers=["alpr_reads"])
    events = await database_sync_to_async(_events)()
    assert events == [
        (
            "operator",
            "hotlist hit monitoring",
            "alpr.alprread",
            {"via": "live", "layers": ["alpr_reads", "units"], "throttle_seconds": 600},
        )
    ]
    # A layer the role may not see is not granted, so nothing was looked at; nor is a plain layer a look.
    planner_ws = await ws(planner_headers)
    assert (await subscribe(planner_ws, layers=["alpr_reads", "units"]))["layers"] == ["units"]
    assert await database_sync_to_async(_events)() == events
