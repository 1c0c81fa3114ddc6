"""The running system: the processes `make demo` starts, for about a minute, against the test database.

scripts/demo.sh runs the ASGI server (`python -m rtcc_gis.serve`), a Celery worker on the celery, feeds and
analytics queues, Celery beat with the project's schedule, and the CoT listener. Each of them passing its own
unit tests did not make the system work: beat once refused `feeds-poll-due` (soft time limit above the hard
one) and no polled feed ever ran, while every test passed. Here the same processes run together, on the
pytest-django test database and a private Redis (its own broker, cache and channel layer: the real queue names
without reaching a demo's worker), and the test checks what an operator relies on:

- a polled GTFS-Realtime source, served by a local HTTP server, is polled on its interval by beat and the
  worker, and its records land each time; one whose upstream is down is retried, then left until its next poll;
- every entry of settings.CELERY_BEAT_SCHEDULE is sent by beat and succeeds on the worker (beat runs the real
  entries with shorter intervals: tests/system_beat_settings.py);
- the CoT listener takes an ATAK event sent over TCP;
- the ASGI server serves the map page and a signed-in API call, and sees what the others wrote;
- no process logs an ERROR or a traceback, start to stop.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.conf import settings
from google.transit import gtfs_realtime_pb2

from apps.feeds.choices import FeedMode
from apps.feeds.models import FeedSource
from apps.feeds.tasks import feed_poll

from . import factories as f
from .fault_support import PrivateRedis, session_headers
from .live_support import DaphneServer, SystemProcess, collect_static, test_database_url
from .real_samples import FORMATS_DIR
from .system_beat_settings import CELERY_BEAT_SCHEDULE as TEST_BEAT_SCHEDULE
from .system_beat_settings import EVERY as BEAT_EVERY

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).with_name("celery"))
# As scripts/demo.sh starts them (test_the_processes_are_the_demos checks that it still does).
WORKER_ARGS = ["-A", "rtcc_gis", "worker", "-Q", "celery,feeds,analytics", "--loglevel", "INFO", "--concurrency", "2"]
BEAT_ARGS = ["-A", "rtcc_gis", "beat", "--loglevel", "INFO"]

POLL_INTERVAL = 10  # the polled source's seconds between polls
POLLS = 3  # at least this many polls, each at least POLL_INTERVAL after the one before
DEADLINE = 150  # seconds for everything to happen: generous, for a busy 2-core box; met in ~50 s on a quiet one

GTFS_SAMPLE = "caltrain_ct-vehicle-positions.pb"  # 14 vehicles (formats/README.md)
COT_SAMPLE = "fts_capture_a-f-G-U-C-1581185446278.xml"  # an ATAK-CIV 3.12 position report


# ---- what the sources send ----------------------------------------------------------------------------


def _gtfs_template() -> gtfs_realtime_pb2.FeedMessage:
    """The real Caltrain feed when the corpus is there; otherwise one built here in the same shape."""
    feed = gtfs_realtime_pb2.FeedMessage()
    path = FORMATS_DIR / "gtfs_rt" / GTFS_SAMPLE
    if path.is_file():
        feed.ParseFromString(path.read_bytes())
        return feed
    feed.header.gtfs_realtime_version = "2.0"
    for n in range(14):
        entity = feed.entity.add()
        entity.id = entity.vehicle.vehicle.id = f"built-{n}"
        entity.vehicle.position.longitude = -122.4 + 0.02 * n
        entity.vehicle.position.latitude = 37.7 - 0.03 * n
    return feed


class PolledFeed:
    """The upstream of the polled source: each GET answers the vehicle positions, timestamped now (so each
    poll brings new fixes) and moved, keeping their layout, into the agency's zone (the real vehicles are in
    California). `served` holds the monotonic time of each answer (the worker's fetch: claim times, which
    the schedule sets, are the source's last_polled_at)."""

    def __init__(self, *, status: int = 200) -> None:
        self.status = status  # anything but 200: the upstream is down and answers that
        self.template = _gtfs_template()
        self.vehicles = sum(1 for e in self.template.entity if e.HasField("vehicle"))
        self.served: list[float] = []
        lons = [e.vehicle.position.longitude for e in self.template.entity]
        lats = [e.vehicle.position.latitude for e in self.template.entity]
        self._centre = ((min(lons) + max(lons)) / 2, (min(lats) + max(lats)) / 2)
        self._scale = 0.008 / max(max(lons) - min(lons), max(lats) - min(lats), 1e-9)
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                if outer.status != 200:
                    outer.served.append(time.monotonic())
                    self.send_error(outer.status)
                    return
                body = outer.payload()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                outer.served.append(time.monotonic())

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def payload(self) -> bytes:
        feed = gtfs_realtime_pb2.FeedMessage()
        feed.CopyFrom(self.template)
        now = int(time.time())
        feed.header.timestamp = now
        for entity in feed.entity:
            position = entity.vehicle.position
            position.longitude = f.LON + (position.longitude - self._centre[0]) * self._scale
            position.latitude = f.LAT + (position.latitude - self._centre[1]) * self._scale
            entity.vehicle.timestamp = now
        return feed.SerializeToString()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/vehicle-positions.pb"

    def __enter__(self) -> PolledFeed:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def cot_event() -> bytes:
    """The real ATAK position report, its times made current and its point (the capture had no GPS fix, ~0,0)
    moved into the agency's zone; a plain event of the same kind when the corpus is absent."""
    path = FORMATS_DIR / "cot" / COT_SAMPLE
    if path.is_file():
        event = ElementTree.fromstring(path.read_bytes())
    else:
        event = ElementTree.fromstring(
            "<event version='2.0' uid='SYSTEM-TEST-1' type='a-f-G-U-C' how='h-e'><point hae='0' ce='10' le='10'/>"
            "<detail><contact callsign='system-test'/></detail></event>"
        )
    now = datetime.now(UTC)
    stamp = "%Y-%m-%dT%H:%M:%S.000Z"
    event.set("time", now.strftime(stamp))
    event.set("start", now.strftime(stamp))
    event.set("stale", (now + timedelta(minutes=5)).strftime(stamp))
    point = event.find("point")
    point.set("lat", str(f.LAT + 0.002))
    point.set("lon", str(f.LON - 0.002))
    return ElementTree.tostring(event)


# ---- the processes --------------------------------------------------------------------------------------


@dataclass
class System:
    daphne: DaphneServer
    worker: SystemProcess
    beat: SystemProcess
    listener: SystemProcess
    cot_port: int

    @property
    def processes(self) -> list[tuple[str, DaphneServer | SystemProcess]]:
        return [("asgi", self.daphne), *((p.name, p) for p in (self.worker, self.beat, self.listener))]


@contextlib.contextmanager
def running_system(tmp_path: Path, cot_source: FeedSource) -> Iterator[System]:
    """The demo's processes on the test database and a private Redis; every one stopped at the end, whatever
    happened (their logs stay in tmp_path)."""
    redis_server = PrivateRedis()
    env = {
        "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings_test",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": redis_server.url,
        "CELERY_BROKER_URL": redis_server.url,
        # The audit checkpoint task signs into this test's file, never the checkout's var/audit/.
        "RTCC_AUDIT_CHECKPOINT_PATH": str(tmp_path / "audit-checkpoints.log"),
        "PYTHONUNBUFFERED": "1",
    }
    worker = SystemProcess("celery worker", [CELERY, *WORKER_ARGS], env, tmp_path / "celery-worker.log")
    beat = SystemProcess(
        "celery beat",
        [CELERY, *BEAT_ARGS, "--schedule", str(tmp_path / "celerybeat-schedule")],
        {**env, "DJANGO_SETTINGS_MODULE": "tests.system_beat_settings"},
        tmp_path / "celery-beat.log",
    )
    listener = SystemProcess(
        "cot listener",
        [
            sys.executable,
            "manage.py",
            "cot_listen",
            "--source",
            str(cot_source.pk),
            "--host",
            "127.0.0.1",
            "--tcp",
            "0",
            "--udp",
            "0",
        ],
        env,
        tmp_path / "cot-listen.log",
    )
    daphne = DaphneServer(env, log=tmp_path / "asgi.log")
    with contextlib.ExitStack() as stops:  # every stop runs, even when one before it fails; last in, first out
        stops.callback(redis_server.stop)
        stops.callback(daphne.stop, keep_log=True)
        stops.callback(worker.stop, timeout=60)
        stops.callback(listener.stop)
        # Beat stops first, so nothing new is queued while the worker finishes what it holds (warm shutdown).
        stops.callback(beat.stop)
        redis_server.start()
        # All four boot at once (Django's start-up is most of the wait); Daphne's start() waits for its port.
        for process in (worker, beat, listener):
            process.start()
        daphne.start(timeout=DEADLINE)
        worker.wait_for_log(r" ready\.", DEADLINE)
        beat.wait_for_log(r"beat: Starting", DEADLINE)
        cot_port = int(listener.wait_for_log(r"on tcp://127\.0\.0\.1:(\d+)", DEADLINE).group(1))
        yield System(daphne, worker, beat, listener, cot_port)


# ---- what the test checks -------------------------------------------------------------------------------


def ran(system: System, name: str, entry: dict) -> bool:
    """Beat sent this entry, and the worker ran its task to success."""
    sent = f"Sending due task {name} ({entry['task']})" in system.beat.logs()
    succeeded = re.search(rf"Task {re.escape(entry['task'])}\[[0-9a-f-]+\] succeeded", system.worker.logs())
    return sent and bool(succeeded)


def trouble(log: str) -> list[str]:
    """The lines (and the traceback after each) at ERROR or CRITICAL, and any traceback."""
    lines = log.splitlines()
    found: list[str] = []
    shown_up_to = 0
    for n, line in enumerate(lines):
        if n >= shown_up_to and re.search(r"\b(ERROR|CRITICAL)\b|Traceback \(most recent", line):
            found.append("\n".join(lines[n : n + 15]))
            shown_up_to = n + 15
    return found


def assert_no_trouble(system: System) -> None:
    problems = {name: trouble(process.logs()) for name, process in system.processes}
    problems = {name: lines for name, lines in problems.items() if lines}
    assert not problems, "\n\n".join(f"--- {name}:\n" + "\n".join(lines) for name, lines in problems.items())


def test_the_processes_are_the_demos():
    """The arguments this test starts its processes with are the ones scripts/demo.sh uses."""
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    assert 'celery" ' + " ".join(WORKER_ARGS) in demo
    assert 'celery" ' + " ".join(BEAT_ARGS) + " --schedule" in demo
    assert "-m rtcc_gis.serve" in demo and "manage.py cot_listen --source" in demo


def test_the_beat_entries_run_here_are_the_projects():
    """tests/system_beat_settings.py changes how often an entry runs, nothing else: every entry, task and
    option of settings.CELERY_BEAT_SCHEDULE, and no other."""
    assert TEST_BEAT_SCHEDULE.keys() == settings.CELERY_BEAT_SCHEDULE.keys()
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ours = TEST_BEAT_SCHEDULE[name]
        assert {k: v for k, v in ours.items() if k != "schedule"} == {k: v for k, v in entry.items() if k != "schedule"}
        assert isinstance(ours["schedule"], float) and ours["schedule"] <= BEAT_EVERY
    assert (
        TEST_BEAT_SCHEDULE["feeds-poll-due"]["schedule"] == settings.CELERY_BEAT_SCHEDULE["feeds-poll-due"]["schedule"]
    )


@pytest.mark.django_db(transaction=True)
def test_the_demo_processes_run_together_for_a_minute(tmp_path, home, operator):
    f.zone(agency=home)  # the agency's area: where the moved vehicle positions and the CoT point lie
    # Something for the periodic tasks to work on: incidents for the hotspot runs, a camera whose stream
    # does not answer for the health check.
    for n in range(5):
        f.incident(agency=home, lon=f.LON + 0.001 * n, lat=f.LAT - 0.001 * n)
    f.camera(agency=home)
    cot_source = FeedSource.objects.create(
        agency=home, name="system-cot", kind="cot", mode=FeedMode.LISTEN, auto_create_units=True
    )
    collect_static()  # as scripts/setup.sh does before the demo: the server (DEBUG off) serves STATIC_ROOT
    with PolledFeed() as upstream, PolledFeed(status=503) as down, running_system(tmp_path, cot_source) as system:
        # A source whose upstream is down all along: recorded on the source, retried, given up until its next
        # poll; an upstream's outage is not an error of ours in the worker's log.
        outage = FeedSource.objects.create(
            agency=home,
            name="system-down",
            kind="gtfs_rt",
            mode=FeedMode.POLL,
            url=down.url,
            poll_interval=3600,
        )
        polled = FeedSource.objects.create(
            agency=home,
            name="system-gtfs",
            kind="gtfs_rt",
            mode=FeedMode.POLL,
            url=upstream.url,
            poll_interval=POLL_INTERVAL,
            auto_create_units=True,
        )

        with socket.create_connection(("127.0.0.1", system.cot_port), timeout=10) as conn:
            conn.sendall(cot_event())

        claims: list[datetime] = []  # the source's last_polled_at, each value it took

        def polled_enough() -> bool:
            at = FeedSource.objects.get(pk=polled.pk).last_polled_at
            if at is not None and (not claims or at != claims[-1]):
                claims.append(at)
            return len(upstream.served) >= POLLS and len(claims) >= POLLS

        def cot_accepted() -> bool:
            return FeedSource.objects.get(pk=cot_source.pk).accepted_count >= 1

        def outage_given_up() -> bool:
            return f"feed {outage.pk} poll gave up" in system.worker.logs()

        def everything_ran() -> bool:
            # polled_enough() first: it samples last_polled_at on every pass, so no value is missed.
            beat_ok = all(ran(system, n, e) for n, e in settings.CELERY_BEAT_SCHEDULE.items())
            return polled_enough() and cot_accepted() and beat_ok and outage_given_up()

        deadline = time.monotonic() + DEADLINE
        while not everything_ran() and time.monotonic() < deadline:
            for name, process in system.processes:
                assert process.proc.poll() is None, f"{name} exited:\n{process.logs()[-5000:]}"
            assert_no_trouble(system)  # as soon as one appears, rather than at the deadline
            time.sleep(0.5)
        assert outage_given_up(), f"the poll of a source that is down never ended:\n{system.worker.logs()[-6000:]}"
        assert cot_accepted(), f"the CoT listener did not accept the event:\n{system.listener.logs()[-3000:]}"
        missing = [n for n, e in settings.CELERY_BEAT_SCHEDULE.items() if not ran(system, n, e)]
        assert not missing, (
            f"beat entries not sent and run to success: {missing}\n--- beat:\n{system.beat.logs()[-4000:]}"
            f"\n--- worker:\n{system.worker.logs()[-6000:]}"
        )
        assert len(upstream.served) >= POLLS and len(claims) >= POLLS, (
            f"{len(upstream.served)} polls served, last_polled_at took {claims}\n{system.worker.logs()[-6000:]}"
        )

        # On schedule: a poll is claimed only once its interval has passed (not at every 5 s beat tick), and
        # the next follows without stalling (one beat tick, plus slack for a busy box).
        gaps = [(b - a).total_seconds() for a, b in zip(claims, claims[1:], strict=False)]
        assert all(POLL_INTERVAL <= gap <= 2 * POLL_INTERVAL + 15 for gap in gaps), gaps

        # The ASGI server: the map page, and a signed-in API call that sees what the worker and listener wrote.
        status, _, _ = system.daphne.request("GET", "/")
        assert status == 302, "the map asks an anonymous visitor to sign in"
        status, headers, body = system.daphne.request("GET", "/", headers=session_headers(operator))
        assert status == 200 and headers.get_content_type() == "text/html", (status, body[:500])
        assert b'id="map"' in body
        # ... with what it loads: every script and stylesheet it names (WhiteNoise, from STATIC_ROOT).
        assets = set(re.findall(r'(?:src|href)="(/static/[^"]+\.(?:js|css))"', body.decode()))
        assert assets, body[:2000]
        for asset in sorted(assets):
            status, _, _ = system.daphne.request("GET", asset)
            assert status == 200, f"{asset}: {status}"
        status, _, body = system.daphne.request("GET", "/api/health/", headers=session_headers(operator))
        assert status == 200 and b'"ok":true' in body.replace(b" ", b""), body[:500]
        status, _, body = system.daphne.request("GET", "/api/units/", headers=session_headers(operator))
        assert status == 200, body[:500]
        units = len(json.loads(body)["features"])
        assert units == upstream.vehicles + 1, f"one unit per vehicle and one for the CoT device, got {units}"

    # Stopped: the worker finished every poll it had taken (warm shutdown). Each poll's fixes landed.
    polled.refresh_from_db()
    assert polled.accepted_count == upstream.vehicles * len(upstream.served), (
        polled.accepted_count,
        upstream.vehicles,
        len(upstream.served),
    )
    assert polled.rejected_count == 0 and not polled.last_error
    outage.refresh_from_db()
    assert "upstream answered 503" in outage.last_error and outage.accepted_count == 0
    assert len(down.served) == 1 + feed_poll.max_retries  # one poll, its retries, and no more within the hour
    # The audit checkpoint entry signed the chain's head into the file it was given (not the checkout's var/).
    assert (tmp_path / "audit-checkpoints.log").read_text().strip()

    assert_no_trouble(system)  # start to stop, shutdown included


@pytest.mark.django_db
def test_a_poll_out_of_retries_gives_up_without_a_traceback(home, caplog):
    """The last retry of a poll whose upstream is still down ends the task (a warning, the source's last_error),
    rather than raising into the worker's log as an ERROR with a traceback."""
    with PolledFeed(status=503) as down:
        source = FeedSource.objects.create(agency=home, name="down", kind="gtfs_rt", mode=FeedMode.POLL, url=down.url)
        result = feed_poll.apply(args=[source.pk], retries=feed_poll.max_retries)
    assert result.successful() and result.get() is None
    source.refresh_from_db()
    assert "upstream answered 503" in source.last_error
    assert f"feed {source.pk} poll gave up after {feed_poll.max_retries} retries" in caplog.text
