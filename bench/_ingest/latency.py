"""Ingest-to-map latency (2): WebSocket maps subscribed to units, an open-loop driver, and the server
phases that run 1c and 2 against one Daphne each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import redis
import websockets
from django.conf import settings

from apps.live.streams import agency_feed, seq_of

from . import config
from .fleet import Bench, FixSpec, Fleet, gtfs_payload, osmand_target
from .measure import CpuMeter, Throughput, _round, percentile, spread
from .server import Http, Server, run_http_throughput, start_daphne, stop_daphne


class MapClient:
    """A map as the browser opens it: session cookie, Origin header, subscribed to the units layer."""

    def __init__(self, server: Server, cookie: str) -> None:
        self.server, self.cookie = server, cookie
        self.received: list[tuple[float, dict[str, Any]]] = []
        self.max_seq = 0
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        origin = cast(Any, f"http://127.0.0.1:{self.server.port}")
        self.ws = await websockets.connect(
            self.server.ws_url, origin=origin, additional_headers={"Cookie": self.cookie}, open_timeout=30
        )
        await self.ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
        if reply.get("type") != "subscribed" or reply.get("layers") != ["units"]:
            raise SystemExit(f"map could not subscribe: {reply}")
        self.max_seq = int(reply["seq"])
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                now = time.time()
                message = json.loads(raw)
                self.received.append((now, message))
                if isinstance(message.get("seq"), int):
                    self.max_seq = max(self.max_seq, message["seq"])

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            await self.task


@dataclass(frozen=True)
class Scenario:
    name: str
    transport: str  # "osmand" (one fix per GET) or "gtfs_rt" (POSTed batches)
    rate: float  # fixes per second
    units: int  # fixes go round robin over this many units
    batch: int = 1
    coalescing: bool = True
    max_seconds: float | None = None  # cap for rates this box cannot sustain (the backlog would only grow)
    in_quick: bool = True


SCENARIOS = (
    Scenario("OsmAnd 20/s over 100 units (each every 5 s)", "osmand", 20, 100),
    Scenario("OsmAnd 20/s over 2 units (each 10/s)", "osmand", 20, 2),
    Scenario("GTFS-RT 50/s: 5 POSTs of 10/s, 200 units", "gtfs_rt", 50, 200, batch=10, in_quick=False),
    Scenario("GTFS-RT 200/s: 2 POSTs of 100/s, 200 units", "gtfs_rt", 200, 200, batch=100, max_seconds=6),
    Scenario("OsmAnd 20/s over 100 units, coalescing off", "osmand", 20, 100, coalescing=False),
    Scenario(
        "GTFS-RT 200/s: 2 POSTs of 100/s, coalescing off",
        "gtfs_rt",
        200,
        200,
        batch=100,
        coalescing=False,
        max_seconds=6,
        in_quick=False,
    ),
)


def stream_head(agency_id: int) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        info = client.xinfo_stream(agency_feed(agency_id).stream_key)
    except redis.ResponseError:
        return 0
    finally:
        client.close()
    return seq_of(info["last-generated-id"])


async def run_latency(
    scenario: Scenario, server: Server, bench: Bench, fleet: Fleet, maps: list[MapClient], seconds: float
) -> dict[str, Any]:
    seconds = min(seconds, scenario.max_seconds or seconds)
    for m in maps:
        m.received.clear()
    meter = CpuMeter(server.process.pid)
    head_before = stream_head(bench.agency_id)
    sent_at: dict[tuple[str, int], float] = {}  # (call sign, fix time ms) -> when its request was written
    last_fix: dict[str, tuple[str, int]] = {}
    lags: list[float] = []
    request_ms: list[float] = []
    statuses: Counter[int] = Counter()
    accepted = 0
    pool: asyncio.Queue[Http] = asyncio.Queue()
    for _ in range(32):
        pool.put_nowait(Http("127.0.0.1", server.port))
    tasks: set[asyncio.Task[None]] = set()

    async def send(conn: Http, fixes: list[FixSpec]) -> None:
        nonlocal accepted
        try:
            if scenario.transport == "gtfs_rt":
                headers = {"Authorization": f"Bearer {bench.gtfs_token}", "Content-Type": "application/x-protobuf"}
                call = conn.request("POST", "/api/feeds/push/", headers=headers, body=gtfs_payload(fixes))
            else:
                call = conn.request("GET", osmand_target(bench.osmand_token, fixes[0]))
            now = time.time()  # the request is written before call's first suspension
            for fix in fixes:
                sent_at[(fix.unit.call_sign, fix.ts_ms)] = now
            t = time.perf_counter()
            status, body = await call
            request_ms.append((time.perf_counter() - t) * 1000)
            statuses[status] += 1
            if status == 200:
                accepted += json.loads(body)["accepted"]
        finally:
            pool.put_nowait(conn)

    sends = int(scenario.rate * seconds / scenario.batch)
    interval = scenario.batch / scenario.rate
    cursor = 0
    start = time.perf_counter() + 0.05
    first_send = last_send = start
    for i in range(sends):
        target = start + i * interval
        if (delay := target - time.perf_counter()) > 0:
            await asyncio.sleep(delay)
        conn = await pool.get()
        last_send = time.perf_counter()
        first_send = last_send if i == 0 else first_send
        lags.append((last_send - target) * 1000)
        now_ms = int(time.time() * 1000)
        fixes = [
            fleet.fix((cursor + k) % scenario.units, at_least_ms=now_ms, whole_seconds=scenario.transport == "gtfs_rt")
            for k in range(scenario.batch)
        ]
        cursor += scenario.batch
        for fix in fixes:
            last_fix[fix.unit.call_sign] = (fix.unit.call_sign, fix.ts_ms)
        task = asyncio.create_task(send(conn, fixes))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*list(tasks))
    config.ACCEPTED[scenario.transport] += accepted
    while not pool.empty():
        await pool.get_nowait().close()

    head_after = stream_head(bench.agency_id)
    drain_deadline = time.perf_counter() + 20
    while time.perf_counter() < drain_deadline and any(m.max_seq < head_after for m in maps):
        await asyncio.sleep(0.02)
    drained = all(m.max_seq >= head_after for m in maps)
    # How long after the last request was sent every map had everything: about one latency when the box
    # keeps up; seconds when a backlog built up during the run.
    caught_up_after = time.perf_counter() - last_send
    cpu = meter.stop()

    latencies: list[float] = []
    per_map: list[int] = []
    unmatched = other = final_ok = 0
    for m in maps:
        count = 0
        latest: dict[str, tuple[str, int]] = {}
        for received_at, message in m.received:
            if message.get("type") != "feature.upserted" or message.get("layer") != "units":
                other += 1
                continue
            props = message["feature"]["properties"]
            key = (props["call_sign"], round(datetime.fromisoformat(props["last_seen"]).timestamp() * 1000))
            if key not in sent_at:
                unmatched += 1
                continue
            latencies.append((received_at - sent_at[key]) * 1000)
            latest[key[0]] = key
            count += 1
        per_map.append(count)
        final_ok += latest == last_fix
    published = head_after - head_before
    fixes_sent = sends * scenario.batch
    achieved = (sends - 1) * scenario.batch / (last_send - first_send) if sends > 1 else None
    saturated = (achieved or 0) < 0.95 * scenario.rate or (percentile(lags, 99) or 0) > 250 or caught_up_after > 2
    return {
        "scenario": asdict(scenario),
        "maps": len(maps),
        "seconds": seconds,
        "fixes_sent": fixes_sent,
        "fixes_accepted": accepted,
        "achieved_rate": _round(achieved, 1),
        "published": published,
        "received_per_map": {"min": min(per_map), "max": max(per_map), "mean": round(sum(per_map) / len(per_map), 1)},
        "received_share": round(sum(per_map) / (published * len(maps)), 4) if published else None,
        "latency_ms": spread(latencies),
        "samples": len(latencies),
        "request_ms": spread(request_ms),
        "driver_lag_ms": spread(lags),
        "http_errors": sum(n for s, n in statuses.items() if s != 200),
        "maps_with_every_units_last_position": final_ok,
        "unmatched_messages": unmatched,
        "other_messages": other,
        "drained": drained,
        "caught_up_after_last_send_s": round(caught_up_after, 2),
        # Unit messages all maps received per second, first send to caught up: when saturated, what one
        # Daphne process can deliver on this box.
        "delivered_per_s": round(sum(per_map) / (last_send - first_send + caught_up_after), 1),
        # The box did not keep up (driver behind schedule, or a backlog the maps were still working off after
        # the last send): the latency figures then depend on how long the run was, not only on the rate.
        "saturated": saturated,
        "cpu_cores_used": cpu,
        "db_sessions_opened": meter.sessions_opened,
    }


async def open_maps(server: Server, cookie: str, count: int) -> list[MapClient]:
    maps = [MapClient(server, cookie) for _ in range(count)]
    for chunk in range(0, count, 10):  # a few at a time: 50 simultaneous handshakes only measure the accept queue
        await asyncio.gather(*(m.open() for m in maps[chunk : chunk + 10]))
    return maps


async def close_maps(maps: list[MapClient]) -> None:
    await asyncio.gather(*(m.close() for m in maps))


async def warm_up(server: Server, bench: Bench, fleet: Fleet) -> None:
    conn = Http("127.0.0.1", server.port)
    try:
        for i in range(20):
            status, body = await conn.request("GET", osmand_target(bench.osmand_token, fleet.fix(i)))
            if status != 200:
                raise SystemExit(f"OsmAnd endpoint answered {status}: {body[:300]!r}")
            config.ACCEPTED["osmand"] += json.loads(body)["accepted"]
    finally:
        await conn.close()


async def run_scenarios(
    server: Server, bench: Bench, fleet: Fleet, cookie: str, scenarios: list[Scenario]
) -> list[dict[str, Any]]:
    maps = await open_maps(server, cookie, config.ARGS.maps)
    await asyncio.sleep(1)  # let the consumers' first access reads and stream reads settle
    results = []
    try:
        for scenario in scenarios:
            results.append(await run_latency(scenario, server, bench, fleet, maps, config.PLAN.latency_seconds))
            lat = results[-1]["latency_ms"]
            print(f"  latency, {scenario.name}: p50 {lat['p50']} ms, p99 {lat['p99']} ms", flush=True)
    finally:
        await close_maps(maps)
    return results


async def run_server_phases(bench: Bench, fleet: Fleet, cookie: str, log: Path) -> tuple[list[Throughput], list[dict]]:
    """1c and 2 against our own Daphne; a second Daphne with coalescing off for the comparison runs."""
    http: list[Throughput] = []
    latency: list[dict[str, Any]] = []
    scenarios = [s for s in SCENARIOS if s.in_quick or config.PLAN.mode == "full"]
    server = start_daphne(config.ENV.server_env, log)
    try:
        await warm_up(server, bench, fleet)
        n = config.ARGS.http_clients
        for kind, clients in (("osmand", 1), ("osmand", n), ("gtfs_rt", 1), ("gtfs_rt", n)):
            result = await run_http_throughput(
                server, bench, fleet, kind=kind, clients=clients, seconds=config.PLAN.http_seconds
            )
            http.append(result)
            print(f"  {result.what}, {clients} client(s): {result.rate:,.0f} records/s", flush=True)
        latency += await run_scenarios(server, bench, fleet, cookie, [s for s in scenarios if s.coalescing])
    finally:
        stop_daphne(server)
    # The consumer reads RTCC_LIVE_COALESCE_MS per event, but from its process's settings: a second server.
    server = start_daphne({**config.ENV.server_env, "RTCC_LIVE_COALESCE_MS": "0"}, log)
    try:
        await warm_up(server, bench, fleet)
        latency += await run_scenarios(server, bench, fleet, cookie, [s for s in scenarios if not s.coalescing])
    finally:
        stop_daphne(server)
    return http, latency
