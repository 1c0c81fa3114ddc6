"""Scale-out: two ASGI servers and two Celery workers on one Redis and one PostGIS.

Feed polls go to a private queue consumed by two real `celery -A rtcc_gis worker -c 1` processes; each
poll fetches a GTFS-RT payload from a local HTTP server and moves its own five units. Maps on both
Daphne servers (tests/test_live_multiprocess.py starts them) must receive every unit update, whichever
worker ingested it, and both workers must have done some of the work (each worker's log names the
tasks it ran).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from queue import Empty, SimpleQueue

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from google.transit import gtfs_realtime_pb2

from apps.feeds.choices import FeedMode
from apps.feeds.models import FeedSource
from apps.feeds.tasks import feed_poll
from apps.units.models import Unit

from . import factories as f
from .live_support import test_database_url
from .test_live_multiprocess import _open, _recv, servers  # noqa: F401  (servers: the two-Daphne fixture)

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)

POLLS = 12
UNITS_PER_POLL = 5


class Payloads:
    """A local upstream: each GET answers the next prepared GTFS-RT payload (one per poll)."""

    def __init__(self, payloads: list[bytes]) -> None:
        self.queue: SimpleQueue[bytes] = SimpleQueue()
        for payload in payloads:
            self.queue.put(payload)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                try:
                    body = outer.queue.get_nowait()
                except Empty:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/vehicle-positions.pb"

    def __enter__(self) -> Payloads:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def gtfs_payload(units: list[Unit], at: int) -> bytes:
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    feed.header.timestamp = at
    for n, unit in enumerate(units):
        entity = feed.entity.add()
        entity.id = unit.device_id
        entity.vehicle.vehicle.id = unit.device_id
        entity.vehicle.position.longitude = f.LON + 0.001 * n
        entity.vehicle.position.latitude = f.LAT + 0.001 * (unit.pk % 7)
        entity.vehicle.timestamp = at
    return feed.SerializeToString()


@pytest.fixture
def workers(servers, live_prefix) -> Iterator[tuple[str, list[Path], list[subprocess.Popen]]]:  # noqa: F811
    """Two Celery worker processes (-c 1) on a private queue, the test database and the test's Redis
    prefixes, started once the servers listen (both booting at once is slow on a small box). Yields
    the queue name, the workers' log files and processes (booting: see `wait_ready`); always stopped."""
    queue = f"{live_prefix}-feeds"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings",
        "DATABASE_URL": test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": django_settings.REDIS_URL,
        "CELERY_BROKER_URL": django_settings.CELERY_BROKER_URL,
        "CHANNELS_PREFIX": live_prefix,
        "RTCC_LIVE_KEY_PREFIX": f"{live_prefix}:live",
        "DJANGO_DEBUG": "1",
    }
    celery = str(Path(sys.executable).with_name("celery"))
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as logs:
        paths = [Path(logs) / f"worker-{n}.log" for n in (1, 2)]
        try:
            for n, log in enumerate(paths, start=1):
                with log.open("wb") as out:
                    procs.append(
                        subprocess.Popen(
                            [
                                celery,
                                "-A",
                                "rtcc_gis",
                                "worker",
                                "-c",
                                "1",
                                "-Q",
                                queue,
                                "-n",
                                f"scale{n}-{uuid.uuid4().hex[:6]}@%h",
                                "--loglevel",
                                "INFO",
                                "--without-gossip",
                                "--without-mingle",
                                "--without-heartbeat",
                            ],
                            cwd=ROOT,
                            env=env,
                            stdout=out,
                            stderr=subprocess.STDOUT,
                        )
                    )
            yield queue, paths, procs
        finally:
            for proc in procs:
                proc.send_signal(signal.SIGQUIT)  # cold shutdown: the work is done, no need to drain
            for proc in procs:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            client = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
            client.delete(queue, f"_kombu.binding.{queue}")
            client.close()


def wait_ready(procs: list[subprocess.Popen], logs: list[Path], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    for proc, log in zip(procs, logs, strict=True):
        while " ready." not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"celery worker did not start:\n{log.read_text()}")
            time.sleep(0.1)


def test_two_servers_and_two_workers_deliver_every_update_and_share_the_work(servers, workers, home, operator):  # noqa: F811
    queue, logs, procs = workers
    units = [f.unit(agency=home, lon=None, device_id=f"scale-{n}") for n in range(POLLS * UNITS_PER_POLL)]
    at = int(time.time())
    payloads = [gtfs_payload(units[i : i + UNITS_PER_POLL], at) for i in range(0, len(units), UNITS_PER_POLL)]
    client = Client()
    client.force_login(operator)
    name = django_settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"

    with Payloads(payloads) as upstream, contextlib.ExitStack() as stack:
        source = FeedSource.objects.create(
            agency=home, name="scale-out", kind="gtfs_rt", mode=FeedMode.POLL, url=upstream.url, poll_interval=3600
        )
        maps = [stack.enter_context(_open(port, cookie)) for port in servers]
        for ws in maps:
            ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
            assert _recv(ws)["type"] == "subscribed"

        wait_ready(procs, logs)  # both consume before any task is queued: one must not take them all
        tasks = [feed_poll.apply_async(args=[source.pk], queue=queue) for _ in range(POLLS)]

        expected = {u.pk for u in units}
        for ws in maps:
            seen: dict[int, int] = {}
            deadline = time.monotonic() + 20
            while set(seen) != expected and time.monotonic() < deadline:
                message = _recv(ws)
                if message["type"] == "feature.upserted" and message["layer"] == "units":
                    seen[message["feature"]["id"]] = message["seq"]
            assert set(seen) == expected, f"missing {len(expected - set(seen))} unit updates on one server"
            # One upsert per unit, each its own seq in the agency's feed.
            assert sorted(seen.values()) == list(range(1, len(expected) + 1))

    assert Unit.objects.filter(pk__in=expected, last_location__isnull=False).count() == len(expected)
    source.refresh_from_db()
    assert source.accepted_count == len(expected)
    ran = []
    for log in logs:
        text = log.read_text()
        ran.append({t.id for t in tasks if re.search(rf"feed_poll\[{t.id}\] succeeded", text)})
    assert set().union(*ran) == {t.id for t in tasks}, "every poll ran once"
    assert not ran[0] & ran[1]
    assert all(ran), f"one worker did all the work: {[len(r) for r in ran]}"
