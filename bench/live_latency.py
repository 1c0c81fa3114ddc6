"""Live-update latency: publish() in this process -> the JSON message on N WebSocket maps.

    .venv/bin/python bench/live_latency.py                       # starts its own Daphne on a free port
    .venv/bin/python bench/live_latency.py --url ws://127.0.0.1:8000/ws/live/ --clients 50 --rate 200

It uses the database and Redis of the environment (DATABASE_URL, REDIS_URL, CHANNELS_PREFIX), signs
in as --username through a fresh session (deleted at the end), and moves that agency's units *in
memory only*: nothing is written to the database except the session. Each update stamps the unit's
`last_seen` with the publish time; a map's latency is its receipt time minus that stamp. Units are
coalesced per unit by the consumer, so at more than ~5 updates per second per unit the maps get
fewer messages than were published (by design; see apps/live/consumer.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from importlib import import_module
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcc_gis.settings")
import bench._support  # noqa: E402,F401  (local keys, hosts and plain-HTTP defaults: scripts/local_env.sh)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", help="ws://host:port/ws/live/ of a running server (default: start one)")
    parser.add_argument("--username", default="operator")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--updates", type=int, default=500)
    parser.add_argument("--rate", type=float, default=100.0, help="updates per second")
    parser.add_argument("--units", type=int, default=20, help="how many units to move (round robin)")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.url is None:
    # Our own server: private channel and stream prefixes, so maps open on a running demo never
    # see the bench's updates. Set before Django reads its settings; the server inherits them.
    os.environ["CHANNELS_PREFIX"] = f"rtcc-bench-{os.getpid()}"
    os.environ["RTCC_LIVE_KEY_PREFIX"] = f"rtcc-bench-{os.getpid()}:live"

import django  # noqa: E402

django.setup()

import redis  # noqa: E402
import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.core.geo import make_point  # noqa: E402
from apps.live.publish import publish  # noqa: E402
from apps.units.models import Unit  # noqa: E402


def session_cookie(user: User) -> tuple[str, object]:
    store = import_module(settings.SESSION_ENGINE).SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"{settings.SESSION_COOKIE_NAME}={store.session_key}", store


def start_daphne() -> tuple[str, subprocess.Popen]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    daphne = str(Path(sys.executable).with_name("daphne"))
    proc = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "rtcc_gis.asgi:application"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return f"ws://127.0.0.1:{port}/ws/live/", proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("daphne did not start")


def publisher(units: list[Unit], updates: int, rate: float, done: threading.Event) -> None:
    """Moves units in memory and publishes them (autocommit: each goes out at once)."""
    interval = 1.0 / rate
    start = time.monotonic()
    for i in range(updates):
        unit = units[i % len(units)]
        point = unit.last_location
        unit.last_location = make_point(point.x + 0.00001, point.y)
        unit.last_seen = timezone.now()
        publish(layer="units", instance=unit)
        time.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
    done.set()


async def map_client(
    url: str, cookie: str, latencies: list[float], counts: list[int], ready: asyncio.Event, done: threading.Event
) -> None:
    origin = f"http://{urlparse(url).netloc}"
    async with websockets.connect(url, origin=origin, additional_headers={"Cookie": cookie}) as ws:
        await ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        ready.set()
        received = 0
        while True:
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
            except TimeoutError:
                if done.is_set():
                    break
                continue
            now = datetime.now().astimezone()
            message = json.loads(raw)
            if message.get("type") == "feature.upserted":
                stamp = datetime.fromisoformat(message["feature"]["properties"]["last_seen"])
                latencies.append((now - stamp) / timedelta(milliseconds=1))
                received += 1
        counts.append(received)


async def measure(url: str, cookie: str, units: list[Unit], args: argparse.Namespace) -> tuple[list[float], list[int]]:
    latencies: list[float] = []
    counts: list[int] = []
    done = threading.Event()
    readies = [asyncio.Event() for _ in range(args.clients)]
    tasks = [asyncio.create_task(map_client(url, cookie, latencies, counts, ready, done)) for ready in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), timeout=30)
    # publish() is synchronous (ORM, async_to_sync): it runs in its own thread, as in a web worker.
    thread = threading.Thread(target=publisher, args=(units, args.updates, args.rate, done))
    thread.start()
    await asyncio.gather(*tasks)
    thread.join()
    return latencies, counts


def main(args: argparse.Namespace) -> None:
    user = User.objects.get(username=args.username)
    units = list(
        Unit.objects.filter(agency_id=user.agency_id, last_location__isnull=False)
        # Only what the map's feature shows: the bench must not depend on unrelated columns.
        .only(
            "id", "agency_id", "call_sign", "kind", "status", "last_location", "last_heading", "last_speed", "last_seen"
        )[: args.units]
    )
    if not units:
        raise SystemExit(f"{args.username}'s agency has no located units (load the demo city first)")
    cookie, session = session_cookie(user)
    server = None
    url = args.url
    try:
        if url is None:
            url, server = start_daphne()
        latencies, counts = asyncio.run(measure(url, cookie, units, args))
    finally:
        session.delete()
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
            client = redis.Redis.from_url(settings.REDIS_URL)
            keys = list(client.scan_iter(match=f"{os.environ['CHANNELS_PREFIX']}*", count=1000))
            if keys:
                client.delete(*keys)
    if not latencies:
        raise SystemExit("no message arrived")
    latencies.sort()
    pct = statistics.quantiles(latencies, n=100) if len(latencies) >= 2 else latencies * 99
    print(f"server {url}; {args.clients} maps; {args.updates} updates over {len(units)} units at {args.rate}/s")
    print(f"received per map: min {min(counts)}, max {max(counts)} (coalescing keeps the latest per unit)")
    print(f"latency ms: p50 {pct[49]:.1f}  p95 {pct[94]:.1f}  p99 {pct[98]:.1f}  max {latencies[-1]:.1f}")


if __name__ == "__main__":
    main(ARGS)
