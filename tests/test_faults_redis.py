"""Redis down under a running Daphne: clear 503s and refusals, nothing orphaned, recovery on restart.

Each test really stops a private redis-server (cache, channel layer and Celery broker of the server
under test), checks what Daphne answers, starts Redis again and checks the same server recovers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.conf import settings as django_settings
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.feeds.models import FeedSource
from apps.hotspots.choices import RunStatus
from apps.hotspots.models import HotspotRun
from apps.incidents.models import Incident

from . import factories as f
from .fault_support import CSRF, ROOT, DaphneServer, PrivateRedis, session_headers
from .live_support import test_database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(django_db_setup, private_redis) -> Iterator[DaphneServer]:
    """Daphne on the test database and the private Redis (cache, channel layer, broker alike)."""
    daphne = DaphneServer(
        {
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": private_redis.url,
            "CELERY_BROKER_URL": private_redis.url,
            "CACHE_KEY_PREFIX": "rtcc-faults-test",
            "CHANNELS_PREFIX": "rtcc-faults-test",
            "RTCC_LIVE_KEY_PREFIX": "rtcc-faults-test:live",
        }
    ).start()
    yield daphne
    daphne.stop()


@pytest.fixture
def redis_down(private_redis) -> Iterator[PrivateRedis]:
    """Redis stopped for the test's `with` block; always started again."""
    yield private_redis
    if private_redis.proc is None:
        private_redis.start()


def _sign_in(server: DaphneServer, username: str, password: str):
    body = urlencode({"username": username, "password": password, "csrfmiddlewaretoken": CSRF}).encode()
    return server.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={CSRF}"},
    )


def _signed_in(headers) -> bool:
    cookies = headers.get_all("Set-Cookie") or []
    return any(c.startswith(f"{django_settings.SESSION_COOKIE_NAME}=") for c in cookies)


def test_sign_in_fails_closed_with_a_503_while_redis_is_down(server, redis_down, operator):
    """The failed-attempt counters live in Redis: without them sign-in must stop, not stop counting."""
    status, _, body = _sign_in(server, "operator", "not-the-password-at-all")  # the cache has connections
    assert status == 200, body[:3000]
    redis_down.stop()
    for password in (f.PASSWORD, "not-the-password-at-all"):
        status, headers, body = _sign_in(server, "operator", password)
        assert status == 503, body[:3000]
        assert headers["Retry-After"].isdigit()
        page = body.decode()
        assert "Sign-in is unavailable" in page and "Redis" in page
        assert "Traceback" not in page
        assert not _signed_in(headers)

    redis_down.start()
    status, headers, body = _sign_in(server, "operator", f.PASSWORD)
    assert status == 302, body[:3000]
    assert _signed_in(headers)
    assert server.alive


def test_what_needs_redis_answers_503_and_the_rest_keeps_working(server, redis_down, planner, home):
    f.incident(agency=home)
    feed = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    token = feed.issue_token()
    api = session_headers(planner, json_body=True)
    run_request = json.dumps({"kind": "kde", "params": {}}).encode()

    redis_down.stop()
    # A layer read needs only the database.
    status, _, body = server.request("GET", "/api/incidents/", headers=api)
    assert status == 200, body[:3000]
    assert len(json.loads(body)["features"]) == 1
    # A CAD push is stored; only its live update is lost (maps reload over REST on reconnect).
    push = [{"cad_number": "F-1", "type_code": "ROBB", "lon": f.LON, "lat": f.LAT, "received_at": "2024-05-01T21:14Z"}]
    status, _, body = server.request(
        "POST",
        "/api/feeds/push/",
        body=json.dumps(push).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert status == 200, body[:3000]
    assert Incident.objects.filter(cad_number="F-1").exists()
    # The health check names what is down.
    status, _, body = server.request("GET", "/api/health/", headers=api)
    assert status == 503 and json.loads(body)["redis"]["ok"] is False
    # A hotspot run needs the broker: 503 naming it, and the run is failed, not left pending.
    status, headers, body = server.request("POST", "/api/hotspots/runs/", body=run_request, headers=api)
    assert status == 503, body[:3000]
    answer = json.loads(body)
    assert answer["unavailable"] == "broker" and "broker" in answer["detail"]
    assert headers["Retry-After"].isdigit()
    orphan = HotspotRun.objects.get()
    assert orphan.status == RunStatus.FAILED
    assert "broker" in orphan.error

    redis_down.start()
    # The failed run is not served as the cached answer: a new one is queued.
    status, _, body = server.request("POST", "/api/hotspots/runs/", body=run_request, headers=api)
    assert status == 202, body[:3000]
    answer = json.loads(body)
    assert answer["id"] != orphan.pk and answer["reused"] is False and answer["status"] == RunStatus.PENDING
    assert server.alive


def _open(server: DaphneServer, headers: dict[str, str]):
    return connect(
        server.ws_url,
        origin="http://localhost",  # type: ignore[arg-type]
        additional_headers={"Cookie": headers["Cookie"]},
        open_timeout=10,
    )


def test_a_map_connecting_while_redis_is_down_is_refused_clearly(server, redis_down, operator):
    headers = session_headers(operator)
    # A map already following the feed is closed with the same code, not left hanging.
    with _open(server, headers) as ws:
        ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
        redis_down.stop()
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=15)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4503
    with _open(server, headers) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4503

    redis_down.start()
    # At the first attempt: connections Redis closed when it stopped are replaced, not failed on.
    with _open(server, headers) as ws:
        ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
    assert server.alive


def test_polls_the_broker_refused_go_back_in_line(redis_down, home):
    """A beat tick with the broker down: the source is not marked polled for a whole interval."""
    source = FeedSource.objects.create(
        agency=home, name="polled", kind="cad_json", mode="poll", url="http://x.test/", poll_interval=3600
    )
    redis_down.stop()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings",
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": redis_down.url,
        "CELERY_BROKER_URL": redis_down.url,
    }
    # The periodic task as a worker runs it, in its own process, against the stopped broker.
    code = "import django; django.setup(); from apps.feeds.tasks import feeds_poll_due; feeds_poll_due()"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "could not be queued" in done.stderr
    source.refresh_from_db()
    assert source.last_polled_at is None


def test_a_part_failing_inside_a_middleware_is_a_503_too(redis_down, settings):
    """Not only views: a middleware that needs Redis gets the same clear answer (the 500 Django
    makes of it is replaced on the way out)."""
    settings.CACHES = {"default": {**settings.CACHES["default"], "LOCATION": redis_down.url}}
    at = settings.MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware") + 1
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE[:at],
        "tests.fault_support.CacheReadingMiddleware",
        *settings.MIDDLEWARE[at:],
    ]
    client = Client(raise_request_exception=False)
    assert client.get("/accounts/login/").status_code == 200
    redis_down.stop()
    for path, kind in (("/accounts/login/", "text/html"), ("/api/incidents/", "application/json")):
        response = client.get(path)
        assert response.status_code == 503, response.content[:3000]
        assert response["Content-Type"].startswith(kind)
        assert response["Retry-After"].isdigit()
        assert b"cache (Redis) is down" in response.content
