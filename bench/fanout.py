"""Ingest-to-screen latency: a fix accepted by feed_ingest -> the message on N WebSocket maps.

    .venv/bin/python bench/fanout.py            # N = 1, 50, 200 maps at 200 and 1,000 fixes/s (about 4 minutes)
    .venv/bin/python bench/fanout.py --quick    # N = 1, 50 at 200 fixes/s

A driver process (what a Celery worker is) calls feed_ingest() with GTFS-RT payloads every 100 ms (20 or
100 fixes each, round robin over 200 bench units), open loop: a slow call does not slow the schedule. The
clock starts when feed_ingest() is called for the payload holding the fix (the record reaches the ingest)
and stops when a map, in this process, has read the message off its socket. N maps (session cookie,
Origin header, as the browser) subscribe to the "units" layer on our own Daphne server(s).

Three server set-ups, each in the same run:
  coalesced      one Daphne, RTCC_LIVE_COALESCE_MS=200 (the default): a map gets unit upserts at most once
                 per 200 ms window, only each unit's latest; intermediate positions may be skipped
  per update     one Daphne, RTCC_LIVE_COALESCE_MS=0: one WebSocket message per update (the naive way)
  2 x coalesced  two Daphne processes behind the channel layer, the maps split between them (only for the
                 largest N)

Per row: fixes/s the driver achieved, latency p50/p95/p99 over every (map, message) pair, messages per
map against unit events published, and messages/s delivered to all maps together (first send until
every map had the last event). SATURATED: the driver fell behind, or the maps were still catching up more
than 2 s after the last send: the figures then grow with the length of the run, and "delivered/s" is what
the set-up delivers on this box. Driver, maps, Daphne, PostgreSQL and Redis share this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from datetime import datetime
from importlib import import_module
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._support import RESULTS, fmt, isolate, machine, spread, table, write_result  # noqa: E402

parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
parser.add_argument("--quick", action="store_true")
parser.add_argument("--seconds", type=float, default=None, help="driving time per scenario")
parser.add_argument("--maps", type=int, nargs="+", help="numbers of maps (default 1 50 200; quick 1 50)")
parser.add_argument("--rates", type=int, nargs="+", help="fixes per second (default 200 1000; quick 200)")
parser.add_argument("--database", default="rtcc_bench_perf")
parser.add_argument("--driver", help=argparse.SUPPRESS)  # "<rate>:<seconds>:<base s>:<start at>:<out file>"
ARGS = parser.parse_args()
if ARGS.driver:
    os.environ["DJANGO_SETTINGS_MODULE"] = "rtcc_gis.settings"  # the parent's isolated environment is inherited
    ENV = None
else:
    ENV = isolate(ARGS.database, "fanout")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

UNITS = 200
TICK = 0.1  # seconds between payloads
SECONDS = ARGS.seconds or (3.0 if ARGS.quick else 5.0)
MAPS = tuple(ARGS.maps or ((1, 50) if ARGS.quick else (1, 50, 200)))
RATES = tuple(ARGS.rates or ((200,) if ARGS.quick else (200, 1000)))


# --- driver process ---------------------------------------------------------------------------------


def driver(spec: str) -> None:
    from apps.feeds.models import FeedSource
    from apps.feeds.services import feed_ingest
    from apps.units.models import Unit
    from bench._support import UnitRef, Walk

    rate, seconds, base_s, start_at, out = spec.split(":", 4)
    source = FeedSource.objects.get(name="bench-gtfs_rt", agency__code="BENCH")
    units = [
        UnitRef(u.pk, u.device_id, u.call_sign)
        for u in Unit.objects.filter(agency_id=source.agency_id, call_sign__startswith="B").order_by("call_sign")
    ][:UNITS]
    walk = Walk(units, int(base_s))
    per_tick = round(float(rate) * TICK)
    ticks = int(float(seconds) / TICK)
    # Prebuilt, with the (call sign, fix second) of every fix: building is not timed.
    payloads = []
    for k in range(ticks):
        before = list(walk.last_s)
        payload = walk.payload(per_tick, first=k * per_tick)
        keys = [(units[i].call_sign, walk.last_s[i]) for i in range(len(units)) if walk.last_s[i] != before[i]]
        payloads.append((payload, keys))
    sent: list[tuple[float, list]] = []
    lags = []
    start = float(start_at)
    for k, (payload, keys) in enumerate(payloads):
        target = start + k * TICK
        if (delay := target - time.time()) > 0:
            time.sleep(delay)
        now = time.time()
        lags.append(now - target)
        feed_ingest(source_id=source.pk, payload=payload)
        sent.append((now, keys))
    Path(out).write_text(json.dumps({"sent": sent, "lags": lags, "ended": time.time()}))


# --- maps (this process) ------------------------------------------------------------------------------


def session_cookie(user_id: int) -> tuple[str, Any]:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from apps.accounts.models import User

    user = User.objects.get(pk=user_id)
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}", store


class MapClient:
    def __init__(self, port: int, cookie: str) -> None:
        self.port, self.cookie = port, cookie
        self.received: list[tuple[float, str, int]] = []  # (when, call sign, fix second)
        self.max_seq = 0
        self.dropped = False  # the server closed the socket during the run
        self.closing = False
        self.ws: Any = None
        self.task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        import websockets

        for attempt in range(5):  # a busy box can miss a handshake; the map's JS reconnects too
            try:
                await self._connect()
                return
            except (websockets.InvalidMessage, TimeoutError, OSError):
                if attempt == 4:
                    raise
                await asyncio.sleep(1)

    async def _connect(self) -> None:
        import websockets

        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{self.port}/ws/live/",
            origin=f"http://127.0.0.1:{self.port}",  # type: ignore[arg-type]
            additional_headers={"Cookie": self.cookie},
            open_timeout=30,
            max_queue=None,
        )
        await self.ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
        reply = json.loads(await asyncio.wait_for(self.ws.recv(), timeout=30))
        if reply.get("type") != "subscribed":
            raise SystemExit(f"map could not subscribe: {reply}")
        self.max_seq = int(reply["seq"])
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        import websockets

        try:
            async for raw in self.ws:
                now = time.time()
                message = json.loads(raw)
                if message.get("type") == "feature.upserted":
                    props = message["feature"]["properties"]
                    seen = round(datetime.fromisoformat(props["last_seen"]).timestamp())
                    self.received.append((now, props["call_sign"], seen))
                if isinstance(message.get("seq"), int):
                    self.max_seq = max(self.max_seq, message["seq"])
        except websockets.ConnectionClosed:
            pass
        self.dropped = not self.closing

    async def close(self) -> None:
        self.closing = True
        if self.ws is not None:
            await self.ws.close()
        if self.task is not None:
            await self.task


def stream_head(agency_id: int) -> int:
    import redis

    from apps.live.streams import agency_feed, seq_of

    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        return seq_of(client.xinfo_stream(agency_feed(agency_id).stream_key)["last-generated-id"])
    except redis.ResponseError:
        return 0
    finally:
        client.close()


async def scenario(
    setup: str, ports: list[int], cookie: str, agency_id: int, maps_n: int, rate: int, base_s: int
) -> dict[str, Any]:
    candidates = [MapClient(ports[i % len(ports)], cookie) for i in range(maps_n)]
    opened = []
    for i in range(0, maps_n, 5):  # a few at a time: simultaneous handshakes only measure the accept queue
        opened += await asyncio.gather(*(m.open() for m in candidates[i : i + 5]), return_exceptions=True)
    maps = [m for m, error in zip(candidates, opened, strict=True) if error is None]
    if not maps:
        raise SystemExit(f"no map could connect: {opened[0]!r}")
    await asyncio.sleep(0.5)
    head_before = stream_head(agency_id)
    out = RESULTS / f"fanout-driver-{os.getpid()}.json"
    start_at = time.time() + 4  # the driver's start-up and payload building
    assert ENV is not None
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--driver", f"{rate}:{SECONDS}:{base_s}:{start_at}:{out}", env=ENV.env
    )
    await proc.wait()
    if proc.returncode:
        raise SystemExit("the driver failed")
    driven = json.loads(out.read_text())
    out.unlink()
    head_after = stream_head(agency_id)
    deadline = time.time() + 20
    while time.time() < deadline and any(m.max_seq < head_after and not m.dropped for m in maps):
        await asyncio.sleep(0.02)
    drained = all(m.max_seq >= head_after for m in maps)
    caught_up = time.time() - driven["ended"]
    dropped = sum(m.dropped for m in maps)
    await asyncio.gather(*(m.close() for m in maps))

    sent_at = {(cs, ts): t for t, keys in driven["sent"] for cs, ts in keys}
    latencies = [(when - sent_at[(cs, ts)]) * 1000 for m in maps for when, cs, ts in m.received if (cs, ts) in sent_at]
    delivered = sum(len(m.received) for m in maps)
    connected = len(maps)  # per-map figures are over the maps that connected
    first = driven["sent"][0][0]
    fixes = sum(len(keys) for _, keys in driven["sent"])
    achieved = fixes / (driven["sent"][-1][0] - first + 0.1)
    lag_p99 = sorted(driven["lags"])[int(0.99 * (len(driven["lags"]) - 1))]
    published = head_after - head_before
    behind = caught_up > 2 or lag_p99 > 0.25 or achieved < 0.9 * rate
    saturated = behind or not drained or dropped > 0 or connected < maps_n
    return {
        "setup": setup,
        "daphne_processes": len(ports),
        "maps": maps_n,
        "maps_connected": connected,
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "published": published,
        "per_map": round(delivered / connected, 1),
        "share": round(delivered / (published * connected), 3) if published else None,
        "latency_ms": spread(latencies),
        "delivered_per_s": round(delivered / (driven["ended"] - first + caught_up), 1),
        "caught_up_after_s": round(caught_up, 2),
        "driver_lag_p99_ms": round(lag_p99 * 1000, 1),
        "drained": drained,
        "maps_dropped_by_server": dropped,
        "saturated": saturated,
    }


async def run_setups(fleet, cookie: str) -> list[dict[str, Any]]:
    from bench._support import start_daphne, stop

    log = RESULTS / "fanout-daphne.log"
    log.write_text("")
    assert ENV is not None
    setups = [
        ("coalesced", 1, "200", [(n, r) for r in RATES for n in MAPS]),
        ("per update", 1, "0", [(n, r) for r in RATES for n in MAPS]),
        ("2 x coalesced", 2, "200", [(MAPS[-1], r) for r in RATES]),
    ]
    rows = []
    base_s = int(time.time()) - 86_400
    for name, servers, coalesce_ms, cases in setups:
        procs = [start_daphne({**ENV.env, "RTCC_LIVE_COALESCE_MS": coalesce_ms}, log) for _ in range(servers)]
        try:
            for maps_n, rate in cases:
                base_s += 3600  # each scenario's fixes are newer than the last one's: every fix moves its unit
                row = await scenario(name, [p for _, p in procs], cookie, fleet.agency_id, maps_n, rate, base_s)
                rows.append(row)
                lat = row["latency_ms"]
                print(
                    f"  {name:<14} {maps_n:>3} maps {rate:>5}/s: p50 {lat['p50']} p99 {lat['p99']} ms, "
                    f"{row['delivered_per_s']:,.0f} msg/s delivered" + ("  SATURATED" if row["saturated"] else ""),
                    flush=True,
                )
        finally:
            for proc, _ in procs:
                stop(proc)
    return rows


def main() -> None:
    from bench._support import drop_redis_keys, fleet_setup

    assert ENV is not None
    started = time.perf_counter()
    info = machine()
    fleet = fleet_setup(UNITS)
    cookie, session = session_cookie(fleet.user_id)
    try:
        rows = asyncio.run(run_setups(fleet, cookie))
    finally:
        session.delete()
        drop_redis_keys(settings.REDIS_URL, ENV.prefix)
    ratios = {}
    for maps_n in MAPS:
        for rate in RATES:
            co = next(r for r in rows if r["setup"] == "coalesced" and r["maps"] == maps_n and r["rate"] == rate)
            naive = next(r for r in rows if r["setup"] == "per update" and r["maps"] == maps_n and r["rate"] == rate)
            if co["latency_ms"]["p50"] and naive["latency_ms"]["p50"]:
                ratios[f"{maps_n} maps at {rate}/s: per-update p50 / coalesced p50"] = round(
                    naive["latency_ms"]["p50"] / co["latency_ms"]["p50"], 2
                )
            if co["per_map"]:
                ratios[f"{maps_n} maps at {rate}/s: messages per map, per-update / coalesced"] = round(
                    naive["per_map"] / co["per_map"], 2
                )
    result = {
        "benchmark": "fanout",
        "mode": "quick" if ARGS.quick else "full",
        "about": __doc__,
        "machine": info,
        "units": UNITS,
        "seconds_per_scenario": SECONDS,
        "rows": rows,
        "ratios": ratios,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    out = write_result("fanout", result)
    print()
    print(f"2. Ingest-to-screen latency (ms), {UNITS} units, {SECONDS:g} s per scenario")
    print(
        table(
            [
                "setup",
                "maps",
                "connected",
                "rate",
                "achieved",
                "p50",
                "p95",
                "p99",
                "published",
                "per map",
                "delivered/s",
                "",
            ],
            [
                [
                    r["setup"],
                    r["maps"],
                    r["maps_connected"],
                    r["rate"],
                    fmt(r["achieved_rate"], 0),
                    fmt(r["latency_ms"]["p50"], 0),
                    fmt(r["latency_ms"]["p95"], 0),
                    fmt(r["latency_ms"]["p99"], 0),
                    f"{r['published']:,}",
                    fmt(r["per_map"], 0),
                    fmt(r["delivered_per_s"], 0),
                    (
                        f"SATURATED (caught up {r['caught_up_after_s']} s after the last send"
                        + (
                            f"; {r['maps_dropped_by_server']} maps dropped by the server"
                            if r["maps_dropped_by_server"]
                            else ""
                        )
                        + ")"
                    )
                    if r["saturated"]
                    else "",
                ]
                for r in rows
            ],
        )
    )
    for name, value in ratios.items():
        print(f"   {name}: {value}x")
    print(
        f"   {info['cores']} cores; load average {info['load_average_at_start']} at start, "
        f"{result['load_average_at_end']} at end (other work on the machine lowers every figure)"
    )
    print(f"\nwritten: {out}  (total {result['total_seconds']} s)")


if __name__ == "__main__":
    if ARGS.driver:
        driver(ARGS.driver)
    else:
        main()
