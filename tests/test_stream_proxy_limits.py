"""The stream proxy's limits (apps/cameras/upstream.py): which addresses a camera may have, malformed
addresses from a camera's server, an MJPEG relay that outlives its viewer's right, the health check
on the same fetch path, and the settings that bound all of it.

The local camera origin of tests/test_stream_proxy.py serves the hostile answers.
"""

from __future__ import annotations

import time

import httpx
import pytest

from apps.accounts.choices import Role
from apps.cameras import upstream
from apps.cameras.models import Camera
from apps.cameras.services import camera_stream_secret_set
from apps.cameras.tasks import cameras_check_health

from . import factories as f
from .hardening_support import PRODUCTION, run_django
from .live_support import live_test
from .test_stream_proxy import client_for, open_stream, pytestmark, serve_origin, uris  # noqa: F401 - pytestmark


@pytest.fixture(scope="module")
def origin(tmp_path_factory):
    yield from serve_origin(tmp_path_factory.mktemp("camera-origin"))


@pytest.fixture(autouse=True)
def loopback_cameras(settings):
    """The local origin is on 127.0.0.1, which a camera may use only when the agency allows it."""
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]


# ---- malformed addresses are a 502, never a 500 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "why"),
    [
        # Location: http://[::1/x: httpx refuses it before urljoin would (RemoteProtocolError)
        ("/badlocation.m3u8", "could not reach"),
        ("/badv6.m3u8", "malformed address"),  # a playlist line: urljoin raises ValueError
    ],
)
def test_malformed_upstream_addresses_are_a_502(operator, home, origin, path, why):
    base, _server, _root = origin
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}{path}")
    client = client_for(operator)
    response = client.get(open_stream(client, camera)["url"])
    assert response.status_code == 502 and why in response.json()["detail"]


def test_a_control_character_in_a_playlist_uri_is_a_502(operator, home, origin):
    """httpx refuses the URL with InvalidURL, which is no httpx.HTTPError."""
    base, _server, _root = origin
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/control.m3u8")
    client = client_for(operator)
    playlist = client.get(open_stream(client, camera)["url"])
    assert playlist.status_code == 200
    [segment] = uris(playlist)
    response = client.get(segment)
    assert response.status_code == 502 and "could not reach" in response.json()["detail"]


# ---- SSRF: loopback, link-local, private only when allow-listed ------------------------------------------------


@pytest.mark.parametrize(
    "stream_url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/live.m3u8",
        "http://[::1]/live.m3u8",
        "http://[::ffff:127.0.0.1]/live.m3u8",
        "http://0.0.0.0/live.m3u8",
    ],
)
def test_non_public_camera_addresses_are_refused_unless_allowed(operator, home, settings, stream_url):
    settings.RTCC_STREAM_ALLOWED_NETWORKS = []
    camera = f.camera(agency=home, stream_kind="hls", stream_url=stream_url)
    client = client_for(operator)
    response = client.get(open_stream(client, camera)["url"])
    assert response.status_code == 502
    assert "RTCC_STREAM_ALLOWED_NETWORKS does not allow" in response.json()["detail"]


def test_loopback_origin_needs_the_allow_list_and_a_name_is_checked_by_its_address(operator, home, origin, settings):
    base, server, _root = origin
    port = base.rsplit(":", 1)[1]
    client = client_for(operator)
    by_address = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/hls/index.m3u8")
    by_name = f.camera(agency=home, stream_kind="hls", stream_url=f"http://localhost:{port}/hls/index.m3u8")
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    server.seen.clear()
    for camera in (by_address, by_name):
        response = client.get(open_stream(client, camera)["url"])
        assert response.status_code == 502, response.content
        assert "RTCC_STREAM_ALLOWED_NETWORKS" in response.json()["detail"]
    assert server.seen == []  # refused before connecting
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
    assert client.get(open_stream(client, by_address)["url"]).status_code == 200
    assert client.get(open_stream(client, by_name)["url"]).status_code == 200


def test_the_request_goes_to_the_checked_address_with_the_cameras_host_and_tls_name():
    request = upstream._pinned(httpx.Client(), "GET", "https://cams.example.test:8443/a.m3u8?x=1", "203.0.113.7", 5)
    assert str(request.url) == "https://203.0.113.7:8443/a.m3u8?x=1"
    assert request.headers["Host"] == "cams.example.test:8443"
    assert request.extensions["sni_hostname"] == "cams.example.test"
    v6 = upstream._pinned(httpx.Client(), "HEAD", "http://cams.example.test/a", "2001:db8::7", None)
    assert str(v6.url) == "http://[2001:db8::7]/a" and v6.headers["Host"] == "cams.example.test"


# ---- an MJPEG relay ends when its viewer may no longer watch --------------------------------------------------


@pytest.mark.parametrize("revoke", ["camera-off", "inactive", "role", "sign-out"])
def test_mjpeg_relay_ends_within_the_recheck_interval_after_the_right_goes(operator, home, origin, settings, revoke):
    base, _server, _root = origin
    settings.RTCC_STREAM_RECHECK_SECONDS = 1
    camera = f.camera(agency=home, stream_kind="mjpeg", stream_url=f"{base}/mjpeg")
    client = client_for(operator)
    response = client.get(open_stream(client, camera)["url"])
    assert response.status_code == 200 and response.streaming
    chunks = iter(response.streaming_content)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:  # past one re-check: still allowed, still relayed
        assert next(chunks)
    if revoke == "camera-off":
        Camera.objects.filter(pk=camera.pk).update(active=False)
    elif revoke == "inactive":
        type(operator).objects.filter(pk=operator.pk).update(is_active=False)
    elif revoke == "role":
        type(operator).objects.filter(pk=operator.pk).update(role=Role.PLANNER)
    else:
        client.logout()
    revoked = time.monotonic()
    for _chunk in chunks:
        assert time.monotonic() - revoked < 5, "the relay outlived the revoked right"
    assert time.monotonic() - revoked < 3
    response.close()


@live_test
async def test_mjpeg_relay_under_asgi_ends_after_the_right_goes(origin, settings):
    """Under Daphne the relay is an async iterator: its re-check runs in a worker thread."""
    from channels.db import database_sync_to_async
    from django.test import AsyncClient

    base, _server, _root = origin
    settings.RTCC_STREAM_RECHECK_SECONDS = 1

    def setup():
        home = f.agency("SPD")
        user = f.user(agency=home, role=Role.OPERATOR, username="asgi-revoked")
        return user, f.camera(agency=home, stream_kind="mjpeg", stream_url=f"{base}/mjpeg")

    operator, camera = await database_sync_to_async(setup)()
    client = AsyncClient()
    await client.aforce_login(operator)
    opened = await client.post(
        f"/api/cameras/{camera.pk}/stream/", {"reason": "case 2"}, content_type="application/json"
    )
    response = await client.get(opened.json()["url"])
    assert response.status_code == 200 and response.is_async
    chunks = aiter(response.streaming_content)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        assert await anext(chunks)
    await database_sync_to_async(Camera.objects.filter(pk=camera.pk).update)(active=False)
    revoked = time.monotonic()
    async for _chunk in chunks:
        assert time.monotonic() - revoked < 5, "the relay outlived the revoked right"
    assert time.monotonic() - revoked < 3


# ---- the health check probes through the proxy's fetch path ---------------------------------------------------


def test_health_check_keeps_credentials_on_the_cameras_origin(home, origin):
    base, server, _root = origin
    away = f.camera(agency=home, status="online", stream_url=f"{base}/away.m3u8", stream_kind="hls")
    camera_stream_secret_set(camera=away, username="viewer", password="s3cret")
    server.seen.clear()
    assert cameras_check_health() == {"online": 0, "offline": 1, "deferred": 0}
    # The redirect to another host (localhost) was not followed: the credentials went nowhere else.
    assert [path for path, _auth in server.seen] == ["/away.m3u8"]


def test_health_check_does_not_honour_proxy_variables_or_probe_forbidden_addresses(home, origin, settings, monkeypatch):
    base, server, _root = origin
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # would refuse the connection if used
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    alive = f.camera(agency=home, status="unknown", stream_url=f"{base}/hls/index.m3u8", stream_kind="hls")
    assert cameras_check_health() == {"online": 1, "offline": 0, "deferred": 0}
    settings.RTCC_STREAM_ALLOWED_NETWORKS = []
    server.seen.clear()
    Camera.objects.filter(pk=alive.pk).update(last_checked_at=None)
    assert cameras_check_health() == {"online": 0, "offline": 1, "deferred": 0}
    assert server.seen == []


def test_probe_falls_back_to_get_when_head_is_refused(origin):
    base, server, _root = origin
    server.seen.clear()
    assert upstream.probe(f"{base}/snap.jpg", None, 2)
    assert [path for path, _auth in server.seen] == ["/snap.jpg", "/snap.jpg"]  # HEAD (405), then GET
    assert not upstream.probe(f"{base}/missing.jpg", None, 2)


# ---- settings that bound the proxy fail loudly at start-up ------------------------------------------------------


@pytest.mark.parametrize(
    "env, complaint",
    [
        ({"RTCC_STREAM_UPSTREAM_TIMEOUT": "0"}, "RTCC_STREAM_UPSTREAM_TIMEOUT"),
        ({"RTCC_STREAM_MAX_BYTES": "-1"}, "RTCC_STREAM_MAX_BYTES"),
        ({"RTCC_STREAM_GRANT_SECONDS": "86400"}, "RTCC_STREAM_GRANT_SECONDS"),
        ({"RTCC_STREAM_RECHECK_SECONDS": "0"}, "RTCC_STREAM_RECHECK_SECONDS"),
        ({"RTCC_STREAM_ALLOWED_NETWORKS": "10.0.0.0/8,cams.example.org"}, "RTCC_STREAM_ALLOWED_NETWORKS"),
        ({"RTCC_STREAM_ALLOWED_NETWORKS": "10.0.0.1/8"}, "RTCC_STREAM_ALLOWED_NETWORKS"),
    ],
)
def test_stream_settings_fail_loudly(env, complaint):
    run = run_django("import django; django.setup()", **{**PRODUCTION, **env})
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr and complaint in run.stderr, run.stderr
