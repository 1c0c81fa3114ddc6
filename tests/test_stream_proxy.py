"""Every look at video is bound to an audit record: the stream proxy (apps/cameras/api/proxy.py).

A real local HLS origin (ffmpeg's output served by http.server in a thread) stands in for a camera's
server. An audited open hands out a proxy URL with a signed grant; the playlist comes back rewritten
so every segment is a signed part of the same grant; the camera's address never reaches the client;
expired, forged, tampered and other users' grants are refused, as are parts of another grant.
"""

from __future__ import annotations

import base64
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import AsyncClient, Client, override_settings

from apps.accounts.choices import Role
from apps.audit.models import AuditAction, AuditEvent
from apps.cameras import grants
from apps.cameras.models import CameraStreamSecret

from . import factories as f
from .db_roles import as_owner
from .live_support import live_test
from .test_map_live import daphne  # noqa: F401 - a fixture: the whole site under a real Daphne

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not shutil.which("ffmpeg"), reason="ffmpeg is not installed"),
]

CAM_USER, CAM_PASSWORD = "viewer", "s3cret:pa@ss"
BOUNDARY = "rtccframe"
JPEG = b"\xff\xd8\xff\xe0" + bytes(200) + b"\xff\xd9"
PART = re.compile(r"^/api/streams/[^/]+/part/[^/]+$")


class Origin(SimpleHTTPRequestHandler):
    """The camera's server: HLS files, a password-protected copy, an MJPEG stream, a snapshot, and the
    failures a proxy must not pass on as a 500."""

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _send(self, status: int, body: bytes = b"", content_type: str = "text/plain", **headers) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):  # for the health check; the snapshot allows only GET
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        if (path := urlsplit(self.path).path) == "/snap.jpg":
            return self._send(405, Allow="GET")
        if path == "/away.m3u8":
            return self._send(302, Location=f"http://localhost:{self.server.server_address[1]}/hls/index.m3u8")
        return super().do_HEAD()

    def do_GET(self):  # noqa: C901 - one branch per behaviour of the fake camera
        self.server.seen.append((self.path, self.headers.get("Authorization", "")))
        path = urlsplit(self.path).path
        if path.startswith("/private/"):
            expected = "Basic " + base64.b64encode(f"{CAM_USER}:{CAM_PASSWORD}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                return self._send(401, b"who are you", WWW_Authenticate='Basic realm="cam"')
            self.path = self.path.replace("/private/", "/hls/", 1)
            return super().do_GET()
        if path == "/moved.m3u8":
            return self._send(302, Location="/hls/index.m3u8")
        if path == "/away.m3u8":
            return self._send(302, Location=f"http://localhost:{self.server.server_address[1]}/hls/index.m3u8")
        if path == "/badlocation.m3u8":
            return self._send(302, Location="http://[::1/x")
        if path in ("/badv6.m3u8", "/control.m3u8"):  # a malformed IPv6 host; a control character
            uri = b"http://[::1/x.ts" if path == "/badv6.m3u8" else b"/hls/index\x7f0.ts"
            return self._send(200, b"#EXTM3U\n#EXTINF:1.0,\n" + uri + b"\n", "application/vnd.apple.mpegurl")
        if path == "/boom.m3u8":
            return self._send(500, b"internal error")
        if path == "/slow.m3u8":
            time.sleep(3)
            return self._send(200, b"#EXTM3U\n", "application/vnd.apple.mpegurl")
        if path == "/big.m3u8":
            return self._send(200, b"#EXTM3U\n" + b"#" * 300_000, "application/vnd.apple.mpegurl")
        if path == "/elsewhere.m3u8":
            body = f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\nhttp://127.0.0.2:{self.server.server_address[1]}/hls/index0.ts\n"
            return self._send(200, body.encode(), "application/vnd.apple.mpegurl")
        if path == "/snap.jpg":
            return self._send(200, JPEG, "image/jpeg")
        if path == "/page.html":
            return self._send(200, b"<html>not a picture</html>", "text/html")
        if path == "/mjpeg":
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.end_headers()
            try:
                while not self.server.stopping.is_set():
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(JPEG)}\r\n\r\n".encode()
                        + JPEG
                        + b"\r\n"
                    )
                    self.wfile.flush()
                    time.sleep(0.1)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return None
        return super().do_GET()

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> Iterator[tuple[str, ThreadingHTTPServer, Path]]:
    yield from serve_origin(tmp_path_factory.mktemp("camera-origin"))


def serve_origin(root: Path) -> Iterator[tuple[str, ThreadingHTTPServer, Path]]:
    """The camera origin serving `root` (ffmpeg's HLS written there first) until the generator is closed."""
    (root / "hls").mkdir()
    subprocess.run(
        [
            "ffmpeg",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x90:rate=10",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "10",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
            str(root / "hls" / "index.m3u8"),
        ],
        check=True,
        timeout=60,
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Origin(*a, directory=str(root)))
    server.daemon_threads = True
    server.stopping = threading.Event()
    server.seen = []
    base = f"http://127.0.0.1:{server.server_address[1]}"
    # A multivariant playlist naming its variant by absolute URL, and a key by URI attribute.
    (root / "master.m3u8").write_text(
        f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=160x90\n{base}/hls/index.m3u8\n"
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, server, root
    server.stopping.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def loopback_cameras(settings, monkeypatch):
    """127.0.0.1 allowed for cameras, here and (set before the Daphne fixture starts) in Daphne."""
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    monkeypatch.setenv("RTCC_STREAM_ALLOWED_NETWORKS", "127.0.0.0/8")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_stream(client: Client, camera, **body) -> dict:
    response = client.post(
        f"/api/cameras/{camera.pk}/stream/", {"reason": "case 26-0412", **body}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def uris(response) -> list[str]:
    """The URIs of a playlist answer (test client or httpx), resolved as a player resolves them."""
    if hasattr(response, "wsgi_request"):
        text, base = response.content.decode(), response.wsgi_request.path
    else:
        text, base = response.text, response.url.path
    found = [line for line in text.splitlines() if line and not line.startswith("#")]
    return [urljoin(base, uri) for uri in found + re.findall(r'URI="([^"]*)"', text)]


def decoded(uri: str) -> bytes:
    """Whatever a curious client can read out of a proxy URI by undoing base64 on each piece."""
    out = b""
    for piece in re.split(r"[/:.]", uri):
        try:
            out += base64.urlsafe_b64decode(piece + "=" * (-len(piece) % 4))
        except ValueError:
            pass
    return out


def test_hls_through_the_proxy_rewrites_every_uri_and_never_shows_the_origin(operator, home, origin):
    base, server, root = origin
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/master.m3u8")
    client = client_for(operator)
    opened = open_stream(client, camera)
    event = AuditEvent.objects.get(action=AuditAction.CAMERA_STREAM_OPEN)
    assert opened["url"].startswith("/api/streams/") and opened["url"].endswith("/index.m3u8")
    assert "127.0.0.1" not in str(opened) and opened["expires_at"]

    master = client.get(opened["url"])
    assert master.status_code == 200 and master["Content-Type"] == "application/vnd.apple.mpegurl"
    assert master["Cache-Control"] == "no-store"
    text = master.content.decode()
    assert "#EXT-X-STREAM-INF:BANDWIDTH=200000" in text and base not in text
    [variant_uri] = uris(master)
    assert PART.match(variant_uri)

    variant = client.get(variant_uri)  # the absolute variant URL, fetched through the proxy and rewritten
    assert variant.status_code == 200
    segment_uris = uris(variant)
    assert len(segment_uris) == 3 and all(PART.match(u) for u in segment_uris)
    assert base not in variant.content.decode() and "index0.ts" not in variant.content.decode()
    # Not even encoded: the part tokens are sealed, not merely signed.
    host = urlsplit(base).netloc.encode()
    assert all(host not in decoded(u) and b"index" not in decoded(u) for u in [variant_uri, *segment_uris])

    segment = client.get(segment_uris[0])
    assert segment.status_code == 200 and segment["Content-Type"] == "video/mp2t"
    assert segment.content == (root / "hls" / "index0.ts").read_bytes()
    # One look, one audit record: the parts are covered by the grant of that record.
    assert AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).get() == event


def test_refused_grants(operator, commander, planner, home, origin, settings):
    base, _server, _root = origin
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/hls/index.m3u8")
    other_camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/hls/index.m3u8")
    client = client_for(operator)
    url = open_stream(client, camera)["url"]
    token = url.split("/")[3]
    segment = uris(client.get(url))[0]

    def refused(who: Client, path: str, why: str, status: int = 403) -> None:
        response = who.get(path)
        assert response.status_code == status, (path, response.content)
        assert why in response.json()["detail"]
        assert base not in response.content.decode()

    # Another user (who may watch this camera themselves) cannot use the operator's grant or parts.
    refused(client_for(commander), url, "another user")
    refused(client_for(commander), segment, "another user")
    refused(Client(), url, "Authentication credentials", status=401)
    # Forged or tampered: a changed byte, a grant signed with another key, a part made up by hand.
    refused(client, url.replace(token, token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]), "forged")
    with override_settings(SECRET_KEY="another-key-" * 5):
        forged = grants.grant_mint(user_id=operator.pk, camera_id=camera.pk, event_id=1).token
    refused(client, url.replace(token, forged), "forged")
    grant = grants.grant_read(token, user_id=operator.pk)
    theirs = grants.part_seal(
        grants.StreamGrant(commander.pk, camera.pk, grant.event_id, grant.expires, ""), f"{base}/hls/index0.ts"
    )
    refused(client, f"/api/streams/{token}/part/{theirs}", "another grant")  # sealed for another user
    refused(client, f"/api/streams/{token}/part/{token}", "forged")  # a grant is not a part
    part = segment.rsplit("/", 1)[1]
    refused(client, segment.replace(part, part[:-3] + ("A" if part[-3] != "A" else "B") + part[-2:]), "forged")
    # A part of one grant under another grant of the same user, for another camera.
    other_url = open_stream(client, other_camera)["url"]
    refused(client, other_url.replace("index.m3u8", "part/" + segment.rsplit("/", 1)[1]), "another grant")
    # Expired.
    expired = grants.grant_mint(user_id=operator.pk, camera_id=camera.pk, event_id=grant.event_id, ttl=-1)
    refused(client, url.replace(token, expired.token), "expired")
    refused(client, segment.replace(token, expired.token), "expired")
    # The user's right is checked on every request: a camera no longer shared live ends the grant.
    camera.active = False
    camera.save()
    refused(client, url, "no longer watch")
    refused(client, segment, "no longer watch")
    # A role that may not watch streams cannot open one, so has no grant to use.
    assert (
        client_for(planner)
        .post(f"/api/cameras/{other_camera.pk}/stream/", {"reason": "x"}, content_type="application/json")
        .status_code
        == 403
    )


def test_grant_answers_only_its_own_kind_and_method(operator, home, origin):
    base, _server, _root = origin
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/hls/index.m3u8")
    client = client_for(operator)
    url = open_stream(client, camera)["url"]
    assert client.get(url.replace("index.m3u8", "snapshot")).status_code == 404
    assert client.post(url).status_code == 405


def test_grant_expires_after_the_configured_time(operator, home, origin, settings):
    base, _server, _root = origin
    settings.RTCC_STREAM_GRANT_SECONDS = 1
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/hls/index.m3u8")
    client = client_for(operator)
    opened = open_stream(client, camera)
    url = opened["url"]
    playlist = client.get(url)
    assert playlist.status_code == 200
    segment = uris(playlist)[0]
    lifetime = datetime.fromisoformat(opened["expires_at"]).timestamp() - time.time()
    assert 0.5 < lifetime <= 2.0
    time.sleep(lifetime + 0.1)
    for stale in (url, segment):
        expired = client.get(stale)
        assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    # Renewal is another audited open, marked as such; the parts a player already holds go on under
    # the new grant (a live playlist is refreshed at the same part URL), never under the expired one.
    renewed = open_stream(client, camera, renewal=True)
    assert client.get(renewed["url"]).status_code == 200
    new_prefix = renewed["url"].rsplit("/", 1)[0]
    assert client.get(new_prefix + "/part/" + segment.rsplit("/", 1)[1]).status_code == 200
    events = AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).order_by("pk")
    assert [e.detail.get("renewal", False) for e in events] == [False, True]


@pytest.mark.parametrize(
    ("path", "status", "why"),
    [
        ("/boom.m3u8", 502, "answered 500"),
        ("/away.m3u8", 502, "redirected to another host"),
        ("/slow.m3u8", 504, "did not answer in time"),
        ("/big.m3u8", 502, "more than"),
        ("/page.html", 502, "not answer with an HLS playlist"),
        ("/missing.m3u8", 502, "answered 404"),
    ],
)
def test_upstream_failures_are_clear_502_or_504(operator, home, origin, settings, path, status, why):
    base, _server, _root = origin
    settings.RTCC_STREAM_UPSTREAM_TIMEOUT = 1
    settings.RTCC_STREAM_MAX_BYTES = 100_000
    camera = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}{path}")
    client = client_for(operator)
    response = client.get(open_stream(client, camera)["url"])
    assert response.status_code == status and why in response.json()["detail"]
    assert base not in response.content.decode() and "127.0.0.1" not in response.content.decode()


def test_same_origin_redirect_is_followed_and_other_hosts_in_a_playlist_are_not_fetched(operator, home, origin):
    base, server, _root = origin
    client = client_for(operator)
    moved = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/moved.m3u8")
    playlist = client.get(open_stream(client, moved)["url"])
    assert playlist.status_code == 200 and len(uris(playlist)) == 3

    elsewhere = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/elsewhere.m3u8")
    playlist = client.get(open_stream(client, elsewhere)["url"])
    [segment] = uris(playlist)
    server.seen.clear()
    response = client.get(segment)
    assert response.status_code == 502 and "another host" in response.json()["detail"]
    assert server.seen == []  # not even tried: the proxy relays only the camera's own origin


def test_snapshot_and_mjpeg(operator, home, origin):
    base, _server, _root = origin
    client = client_for(operator)
    snap = f.camera(agency=home, stream_kind="snapshot", stream_url=f"{base}/snap.jpg")
    url = open_stream(client, snap)["url"]
    assert url.endswith("/snapshot")
    image = client.get(url)
    assert image.status_code == 200 and image["Content-Type"] == "image/jpeg" and image.content == JPEG
    assert "sandbox" in image["Content-Security-Policy"]

    not_image = f.camera(agency=home, stream_kind="snapshot", stream_url=f"{base}/page.html")
    refused = client.get(open_stream(client, not_image)["url"])
    assert refused.status_code == 502 and "not answer with an image" in refused.json()["detail"]

    mjpeg = f.camera(agency=home, stream_kind="mjpeg", stream_url=f"{base}/mjpeg")
    url = open_stream(client, mjpeg)["url"]
    assert url.endswith("/mjpeg")
    response = client.get(url)
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
    received = b""
    for chunk in response.streaming_content:
        received += chunk
        if received.count(b"\xff\xd9") >= 2:
            break
    response.close()
    assert received.startswith(f"--{BOUNDARY}".encode()) and JPEG in received


@live_test
async def test_mjpeg_under_asgi_relays_without_holding_a_thread(origin):
    """Under Daphne the relay is an async iterator (it would otherwise be read to the end first)."""
    from channels.db import database_sync_to_async

    base, _server, _root = origin

    def setup():
        home = f.agency("SPD")
        user = f.user(agency=home, role=Role.OPERATOR, username="asgi-operator")
        return user, f.camera(agency=home, stream_kind="mjpeg", stream_url=f"{base}/mjpeg")

    operator, camera = await database_sync_to_async(setup)()
    client = AsyncClient()
    await client.aforce_login(operator)
    opened = await client.post(
        f"/api/cameras/{camera.pk}/stream/", {"reason": "case 1"}, content_type="application/json"
    )
    response = await client.get(opened.json()["url"])
    assert response.status_code == 200 and response.is_async
    received = b""
    async for chunk in response.streaming_content:
        received += chunk
        if received.count(b"\xff\xd9") >= 2:
            break
    assert JPEG in received


def test_credentials_in_a_stream_url_are_kept_apart_and_sent_upstream(operator, home, origin, admin_client):
    from apps.cameras.services import camera_upsert

    base, server, _root = origin
    host = urlsplit(base).netloc
    camera, _ = camera_upsert(
        agency_id=home.pk,
        name="Gate cam",
        location=f.make_point(f.LON, f.LAT),
        stream_kind="hls",
        stream_url=f"http://{CAM_USER}:s3cret%3Apa%40ss@{host}/private/index.m3u8",
    )
    camera.refresh_from_db()
    assert camera.stream_url == f"{base}/private/index.m3u8"
    secret = CameraStreamSecret.objects.get(camera=camera)
    assert (secret.username, secret.password) == (CAM_USER, CAM_PASSWORD)

    client = client_for(operator)
    opened = open_stream(client, camera)
    playlist = client.get(opened["url"])
    assert playlist.status_code == 200
    segment = client.get(uris(playlist)[0])
    assert segment.status_code == 200 and segment.content[:1] == b"G"
    assert any(path.startswith("/private/") and auth.startswith("Basic ") for path, auth in server.seen)
    for response in (playlist, segment):
        assert CAM_PASSWORD.encode() not in response.content

    # The admin says credentials are stored, never shows them, and can replace or clear them.
    page = admin_client.get(f"/admin/cameras/camera/{camera.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Credentials stored" in html and "s3cret" not in html and CAM_USER not in html


def test_on_request_camera_cannot_hold_a_stream_url(home):
    from django.core.exceptions import ValidationError
    from django.db import IntegrityError, transaction

    from apps.cameras.services import camera_upsert

    camera = f.camera(agency=home, sharing="on_request")
    camera.stream_url = "https://video.example.test/cam.m3u8"
    with pytest.raises(ValidationError) as err:
        camera.full_clean()
    assert "stream_url" in err.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        camera.save()
    with pytest.raises(ValueError, match="stream_url"):
        camera_upsert(
            agency_id=home.pk,
            name="Deli",
            location=f.make_point(f.LON, f.LAT),
            sharing="on_request",
            stream_url="https://video.example.test/cam.m3u8",
        )
    live = f.camera(agency=home)
    live.stream_url = "rtsp://admin:admin@10.0.0.9/stream1"
    with pytest.raises(ValidationError) as err:
        live.full_clean()
    assert "stream_url" in err.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():
        live.save()


def test_admin_form_names_the_field_and_splits_pasted_credentials(home, admin_client):
    camera = f.camera(agency=home, sharing="live", name="Admin cam")
    url = f"/admin/cameras/camera/{camera.pk}/change/"
    form = {
        "name": "Admin cam",
        "external_id": "",
        "owner_kind": "agency",
        "owner_name": "",
        "owner_contact": "",
        "location": '{"type": "Point", "coordinates": [-122.34, 47.61]}',
        "heading": "90",
        "fov_angle": "90",
        "fov_range": "60",
        "status": "online",
        "stream_kind": "rtsp",
        "agency": str(home.pk),
        "active": "on",
        "sharing": "on_request",
        "stream_url": "rtsp://cam.example.test/stream1",
    }
    refused = admin_client.post(url, form)
    assert refused.status_code == 200
    errors = refused.context["adminform"].form.errors
    assert "stream_url" in errors and "on request" in str(errors["stream_url"])

    saved = admin_client.post(url, {**form, "sharing": "live", "stream_url": "rtsp://ops:hunter22@cam.example.test/s1"})
    assert saved.status_code == 302
    camera.refresh_from_db()
    assert camera.stream_url == "rtsp://cam.example.test/s1"
    assert (camera.stream_secret.username, camera.stream_secret.password) == ("ops", "hunter22")
    cleared = admin_client.post(url, {**form, "sharing": "live", "stream_credentials_clear": "on"})
    assert cleared.status_code == 302 and not CameraStreamSecret.objects.filter(camera=camera).exists()


def test_split_stream_credentials():
    from apps.cameras.models import split_stream_credentials

    assert split_stream_credentials("rtsp://u:p%40x@10.1.2.3:554/s?x=1") == ("rtsp://10.1.2.3:554/s?x=1", "u", "p@x")
    plain = "https://cams.example.test/a@b.m3u8"
    assert split_stream_credentials(plain) == (plain, "", "")
    assert split_stream_credentials("/demo/cameras/CAM-1/snapshot.svg")[1:] == ("", "")


@pytest.fixture
def admin_client(home):
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="cam-admin", is_staff=True, is_superuser=True)
    return client_for(admin)


@pytest.mark.django_db(transaction=True)
def test_migration_splits_stored_credentials_and_clears_on_request_urls(home):
    """Rows from before the split come out of migration 0003's data step clean. As `manage.py migrate` does, the
    step runs as the owner role; the constraints are dropped inside a transaction that is rolled back at the end."""
    import importlib

    from django.apps import apps
    from django.db import connection, transaction

    from apps.cameras.models import Camera

    with as_owner(), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE cameras_camera DROP CONSTRAINT camera_stream_url_has_no_credentials")
            cursor.execute("ALTER TABLE cameras_camera DROP CONSTRAINT camera_on_request_has_no_stream_url")
        atak = f.camera(agency=home, stream_kind="rtsp", stream_url="rtsp://ops:p%40ss@10.0.0.7:554/live")
        deli = f.camera(
            agency=home, sharing="on_request", stream_kind="hls", stream_url="https://deli.example.test/c.m3u8"
        )
        plain = f.camera(agency=home, stream_url="https://video.example.test/a@b.m3u8")
        migration = importlib.import_module("apps.cameras.migrations.0003_stream_secret")
        migration.split_credentials(apps, None)
        atak.refresh_from_db()
        assert atak.stream_url == "rtsp://10.0.0.7:554/live"
        assert (atak.stream_secret.username, atak.stream_secret.password) == ("ops", "p@ss")
        assert Camera.objects.values_list("stream_url", "stream_kind").get(pk=deli.pk) == ("", "")
        assert Camera.objects.get(pk=plain.pk).stream_url == "https://video.example.test/a@b.m3u8"
        assert CameraStreamSecret.objects.count() == 1
        transaction.set_rollback(True)  # the constraints come back


# ---- under the real ASGI server -----------------------------------------------------------------------------


def test_through_daphne_hls_and_mjpeg_relay(daphne, origin):  # noqa: F811 - daphne is a fixture
    """The deployment path: Daphne runs the sync proxy view in a thread, and the MJPEG relay as an
    async iterator on its event loop; several streams at once, closed by the client, and the server
    still answers."""
    import httpx

    base, _server, root = origin
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="daphne-operator")
    hls = f.camera(agency=home, stream_kind="hls", stream_url=f"{base}/hls/index.m3u8")
    mjpeg = f.camera(agency=home, stream_kind="mjpeg", stream_url=f"{base}/mjpeg")
    with httpx.Client(base_url=daphne, timeout=10, trust_env=False) as client:
        client.get("/accounts/login/")
        signed_in = client.post(
            "/accounts/login/",
            data={
                "username": "daphne-operator",
                "password": f.PASSWORD,
                "csrfmiddlewaretoken": client.cookies["csrftoken"],
            },
        )
        assert signed_in.status_code == 302, signed_in.text[:500]
        headers = {"X-CSRFToken": client.cookies["csrftoken"]}

        def open_(camera) -> str:
            opened = client.post(f"/api/cameras/{camera.pk}/stream/", json={"reason": "daphne"}, headers=headers)
            assert opened.status_code == 200, opened.text
            return opened.json()["url"]

        playlist = client.get(open_(hls))
        assert playlist.status_code == 200 and base not in playlist.text
        segment = client.get(uris(playlist)[1])
        assert segment.status_code == 200 and segment.content == (root / "hls" / "index1.ts").read_bytes()

        streams = []
        for _ in range(4):
            response = client.send(client.build_request("GET", open_(mjpeg)), stream=True)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("multipart/x-mixed-replace")
            streams.append(response)
        for response in streams:
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if received.count(b"\xff\xd9") >= 2:
                    break
            assert JPEG in received
        # With four relays still open the server answers other requests at once.
        started = time.monotonic()
        assert client.get(open_(hls)).status_code == 200
        assert time.monotonic() - started < 5
        for response in streams:
            response.close()
        assert client.get(uris(playlist)[0]).status_code == 200


def test_same_origin_rules():
    from apps.cameras.upstream import same_origin

    cam = "https://cams.example.test/live/index.m3u8"
    assert same_origin("https://cams.example.test:443/live/seg1.ts", cam)
    assert not same_origin("http://cams.example.test/live/seg1.ts", cam)  # another scheme is another origin
    assert not same_origin("https://cams.example.test.evil.test/seg1.ts", cam)
    assert not same_origin("file:///etc/passwd", cam)
    assert not same_origin("/demo/cameras/X/hls/index1.ts", cam)
    local = "/demo/cameras/X/hls/index.m3u8"
    assert same_origin("/demo/cameras/X/hls/index1.ts", local)
    assert not same_origin("//169.254.169.254/latest/meta-data", local)
    assert not same_origin("http://127.0.0.1/x", local)
