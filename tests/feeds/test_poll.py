"""Polled sources and camera health, against a real local HTTP server (no internet)."""

import json
import threading
from datetime import UTC, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from celery.exceptions import Retry
from django.test import TestCase
from django.utils import timezone

from apps.cameras.tasks import cameras_check_health
from apps.feeds.models import FeedSource
from apps.feeds.tasks import feed_poll, feeds_poll_due
from apps.incidents.models import Incident

from .. import factories as f


class Upstream:
    """A tiny HTTP server whose answers the test sets per path."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes, str]] = {}
        self.seen_auth: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body=True):
                upstream.seen_auth.append(self.headers.get("Authorization", ""))
                code, payload, ctype = upstream.routes.get(self.path, (404, b"not found", "text/plain"))
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if body:
                    self.wfile.write(payload)

            def do_GET(self):
                self._answer()

            def do_HEAD(self):
                self._answer(body=False)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def upstream():
    server = Upstream()
    yield server
    server.close()


def incidents_json(now):
    stamp = now.astimezone(UTC).isoformat()
    return json.dumps(
        [{"cad_number": "P1", "type_code": "BURG", "lon": f.LON, "lat": f.LAT, "received_at": stamp}]
    ).encode()


def test_poll_ingests_with_credentials_from_the_environment(home, upstream, monkeypatch):
    monkeypatch.setenv("CAD_POLL_TOKEN", "s3cret")
    upstream.routes["/cad"] = (200, incidents_json(timezone.now()), "application/json")
    source = FeedSource.objects.create(
        agency=home,
        name="CAD poll",
        kind="cad_json",
        mode="poll",
        url=upstream.base + "/cad",
        credentials_ref="CAD_POLL_TOKEN",
    )
    report = feed_poll.apply(args=[source.pk]).get()
    assert report["accepted"] == 1
    assert Incident.objects.get().cad_number == "P1"
    assert upstream.seen_auth[-1] == "Bearer s3cret"


def test_poll_retries_transient_and_records_permanent_errors(home, upstream):
    source = FeedSource.objects.create(
        agency=home, name="flaky", kind="cad_json", mode="poll", url=upstream.base + "/flaky"
    )
    upstream.routes["/flaky"] = (503, b"busy", "text/plain")
    with pytest.raises(Retry):
        feed_poll.apply(args=[source.pk], throw=True).get()
    source.refresh_from_db()
    assert "503" in source.last_error
    upstream.routes["/flaky"] = (200, b"<html>not json</html>", "text/html")
    assert feed_poll.apply(args=[source.pk]).get() is None
    source.refresh_from_db()
    assert source.rejected_count == 1 and source.dead_letters.count() == 1


def test_poll_due_queues_each_source_once_per_interval(home, monkeypatch):
    queued = []
    monkeypatch.setattr(feed_poll, "delay", lambda pk: queued.append(pk))
    due = FeedSource.objects.create(agency=home, name="due", kind="cad_json", mode="poll", url="http://x.test/")
    FeedSource.objects.create(agency=home, name="pushed", kind="cad_json", mode="push")
    FeedSource.objects.create(
        agency=home, name="off", kind="cad_json", mode="poll", url="http://x.test/", enabled=False
    )
    recent = FeedSource.objects.create(
        agency=home, name="recent", kind="cad_json", mode="poll", url="http://x.test/", poll_interval=60
    )
    FeedSource.objects.filter(pk=recent.pk).update(last_polled_at=timezone.now() - timedelta(seconds=10))
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert feeds_poll_due() == 1
    assert queued == [due.pk]
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert feeds_poll_due() == 0  # its interval has not passed yet


def test_camera_health_check(home, upstream, settings):
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the local upstream stands in for a VMS network
    upstream.routes["/ok.jpg"] = (200, b"\xff\xd8jpeg", "image/jpeg")
    alive = f.camera(agency=home, status="unknown", stream_url=upstream.base + "/ok.jpg", stream_kind="snapshot")
    dead = f.camera(agency=home, status="online", stream_url=upstream.base + "/gone.jpg", stream_kind="snapshot")
    rtsp = f.camera(agency=home, status="online", stream_url="rtsp://10.0.0.9/stream", stream_kind="rtsp")
    assert cameras_check_health() == {"online": 1, "offline": 1, "deferred": 0}
    for cam in (alive, dead, rtsp):
        cam.refresh_from_db()
    assert (alive.status, dead.status, rtsp.status) == ("online", "offline", "online")
    assert alive.last_seen is not None and alive.last_checked_at is not None


def test_camera_health_check_stops_at_its_budget_and_the_next_run_goes_on(home, upstream, settings):
    # A run past its budget starts no more probes (so runs every 120 s never pile up on the workers);
    # the cameras it left are the longest unchecked, so the next run takes them first.
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    upstream.routes["/ok.jpg"] = (200, b"\xff\xd8jpeg", "image/jpeg")
    cams = [
        f.camera(agency=home, status="unknown", stream_url=upstream.base + "/ok.jpg", stream_kind="snapshot")
        for _ in range(3)
    ]
    assert cameras_check_health(budget_seconds=0) == {"online": 1, "offline": 0, "deferred": 2}
    checked = {c.pk for c in cams if (c.refresh_from_db() or c.last_checked_at)}
    assert len(checked) == 1
    assert cameras_check_health(budget_seconds=0) == {"online": 1, "offline": 0, "deferred": 2}
    second = {c.pk for c in cams if (c.refresh_from_db() or c.last_checked_at)}
    assert len(second) == 2 and checked < second  # not the same camera again
    assert cameras_check_health() == {"online": 3, "offline": 0, "deferred": 0}


def test_camera_health_check_sends_the_stored_stream_credentials(home, upstream, settings):
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    from apps.cameras.services import camera_stream_secret_set

    upstream.routes["/gate.jpg"] = (200, b"\xff\xd8jpeg", "image/jpeg")
    gate = f.camera(agency=home, status="unknown", stream_url=upstream.base + "/gate.jpg", stream_kind="snapshot")
    camera_stream_secret_set(camera=gate, username="viewer", password="s3cret")
    assert cameras_check_health() == {"online": 1, "offline": 0, "deferred": 0}
    assert upstream.seen_auth and set(upstream.seen_auth) == {"Basic dmlld2VyOnMzY3JldA=="}
