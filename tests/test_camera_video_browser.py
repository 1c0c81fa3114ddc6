"""Live camera video in headless Chromium: an HLS stream and an MJPEG stream made by ffmpeg and served
by this test from another origin (as a camera gateway would be), opened from the incident panel into
the camera dock, and the same cameras on the video wall. The browser never talks to that origin nor
learns its address: it plays through our stream proxy, on the grant the audited open handed out.
Screenshots: test-artifacts/camera-dock.png and test-artifacts/video-wall.png.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from apps.accounts.choices import Role
from apps.audit.models import AuditEvent

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch

FFMPEG = shutil.which("ffmpeg") or "/usr/bin/ffmpeg"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
    pytest.mark.skipif(not os.path.exists(FFMPEG), reason="ffmpeg is not installed"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

# The first load of every layer, on a machine busy with other test processes.
LOAD_TIMEOUT_MS = 20000
MJPEG_BOUNDARY = "rtccframe"
MJPEG_FPS = 5
LIVE_SECONDS = 20
LIVE_WINDOW = 3


def _ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=60)


def _make_media(root: Path) -> None:
    """Six seconds of test pattern as HLS (H.264, one-second segments), and ten JPEG frames."""
    hls = root / "hls"
    hls.mkdir()
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x180:rate=15",
        "-t",
        "6",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "15",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        str(hls / "index.m3u8"),
    )
    # Twenty seconds more, served as a live playlist (a window sliding one segment a second, /live.m3u8).
    live = root / "live"
    live.mkdir()
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=320x180:rate=15",
        "-t",
        str(LIVE_SECONDS),
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "15",
        "-f",
        "hls",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        str(live / "index.m3u8"),
    )
    frames = root / "frames"
    frames.mkdir()
    _ffmpeg(
        "-f",
        "lavfi",
        "-i",
        f"testsrc=size=320x180:rate={MJPEG_FPS}",
        "-frames:v",
        "10",
        "-q:v",
        "5",
        str(frames / "frame%02d.jpg"),
    )


class StreamHandler(SimpleHTTPRequestHandler):
    """Files under the media root (HLS; no CORS header: only our proxy fetches them), and /mjpeg: a
    multipart/x-mixed-replace stream of the JPEG frames, looping until the client leaves."""

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def _live_playlist(self) -> None:
        started = self.server.__dict__.setdefault("live_started", time.monotonic())
        first = min(int(time.monotonic() - started), LIVE_SECONDS - LIVE_WINDOW)
        lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", f"#EXT-X-MEDIA-SEQUENCE:{first}"]
        for n in range(first, first + LIVE_WINDOW):
            lines += ["#EXTINF:1.000000,", f"live/index{n}.ts"]
        body = ("\n".join(lines) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.apple.mpegurl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urlsplit(self.path).path == "/live.m3u8":
            return self._live_playlist()
        if urlsplit(self.path).path != "/mjpeg":
            return super().do_GET()
        frames = [p.read_bytes() for p in sorted(Path(self.directory, "frames").glob("*.jpg"))]
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={MJPEG_BOUNDARY}")
        self.end_headers()
        try:
            i = 0
            while not self.server.stopping.is_set():
                frame = frames[i % len(frames)]
                self.wfile.write(
                    f"--{MJPEG_BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(frame)}\r\n\r\n".encode()
                    + frame
                    + b"\r\n"
                )
                self.wfile.flush()
                i += 1
                time.sleep(1 / MJPEG_FPS)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the page closed the tile

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def stream_media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("camera-media")
    _make_media(root)
    return root


@pytest.fixture(scope="module")
def stream_server(stream_media) -> Iterator[str]:
    root = stream_media
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: StreamHandler(*a, directory=str(root)))
    server.daemon_threads = True
    server.stopping = threading.Event()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.stopping.set()
    server.shutdown()
    server.server_close()


@pytest.fixture
def scene(db, settings, stream_server):
    settings.RTCC_LIVE_MAP_ENABLED = False  # live_server is WSGI; test_map_live.py covers the socket
    # No camera host in the page's policy: the video is same-origin now (the stream proxy).
    settings.RTCC_CSP_TILE_SOURCES = []
    settings.RTCC_STREAM_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # the local stream server stands in for a VMS network
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="video-operator")
    lon, lat = f.LON, f.LAT
    incident = f.incident(
        agency=home,
        lon=lon,
        lat=lat,
        cad_number="SPD-26-004242",
        type_code="ROBBERY",
        status="pending",
        address="1500 Pike Pl",
    )
    hls = f.camera(
        agency=home,
        name="Pike St HLS",
        lon=lon - 0.0004,
        lat=lat,
        heading=90,
        fov_range=120,
        stream_kind="hls",
        stream_url=f"{stream_server}/hls/index.m3u8",
    )
    mjpeg = f.camera(
        agency=home,
        name="1st Ave MJPEG",
        lon=lon + 0.0004,
        lat=lat,
        heading=270,
        fov_range=120,
        stream_kind="mjpeg",
        stream_url=f"{stream_server}/mjpeg",
    )
    return {
        "incident": incident,
        "hls": hls,
        "mjpeg": mjpeg,
        "stream_host": urlsplit(stream_server).netloc,
        "stream_server": stream_server,
    }


def _sign_in(page, server: str) -> None:
    page.goto(f"{server}/")
    page.fill("#id_username", "video-operator")
    page.fill("#id_password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")


def _wait_playing(page, video_selector: str) -> None:
    """The <video> has decoded frames and its clock moves."""
    page.wait_for_function(
        """(sel) => { const v = document.querySelector(sel); return v && v.readyState >= 2 && v.currentTime > 0.5; }""",
        arg=video_selector,
        timeout=15000,
    )


def _wait_frames(page, img_selector: str) -> None:
    page.wait_for_function(
        """(sel) => { const i = document.querySelector(sel); return i && i.complete && i.naturalWidth === 320; }""",
        arg=img_selector,
        timeout=10000,
    )


def _assert_clean(watch: PageWatch, page, scene) -> None:
    assert scene["stream_host"] not in watch.hosts  # the video came through our proxy, not the camera
    assert any(path.startswith("/api/streams/") for path in watch.api_calls)
    assert scene["stream_host"] not in page.content()  # nor is the camera's address anywhere in the page
    watch.assert_clean()


def test_operator_opens_hls_and_mjpeg_cameras_in_the_dock_and_on_the_wall(browser, live_server, scene):
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    expect = sync_api.expect
    hls, mjpeg, incident = scene["hls"], scene["mjpeg"], scene["incident"]
    try:
        _sign_in(page, live_server.url)
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
        page.locator(f'.incident-marker[data-incident-id="{incident.pk}"]').click()
        panel = page.locator("#side-panel")
        ranked = panel.locator(".camera-rank-item")
        expect(ranked).to_have_count(2)

        # HLS: hls.js (Media Source Extensions) plays the ffmpeg stream from the camera origin.
        panel.locator(f'.camera-rank-item[data-camera-id="{hls.pk}"]').get_by_role("button", name="Open").click()
        dock = page.locator("#camera-dock")
        expect(dock).to_be_visible()
        hls_tile = dock.locator(f'.camera-tile[data-camera-id="{hls.pk}"]')
        expect(hls_tile.locator(".stream-viewer")).to_have_attribute("data-player", "hls.js")
        _wait_playing(page, f'.camera-tile[data-camera-id="{hls.pk}"] video')
        expect(hls_tile).to_have_attribute("data-state", "playing")

        # MJPEG beside it: a second tile; both are audited against the incident.
        panel.locator(f'.camera-rank-item[data-camera-id="{mjpeg.pk}"]').get_by_role("button", name="Open").click()
        expect(dock.locator(".camera-tile")).to_have_count(2)
        _wait_frames(page, f'.camera-tile[data-camera-id="{mjpeg.pk}"] img')
        expect(dock.locator(".cd-count")).to_have_text("2/6")
        events = list(AuditEvent.objects.filter(action="camera.stream_open").order_by("pk"))
        assert [e.object_id for e in events] == [str(hls.pk), str(mjpeg.pk)]
        for event in events:
            assert event.username == "video-operator"
            assert event.reason == "Incident SPD-26-004242 (ROBBERY)"
            assert event.detail["incident"] == incident.pk
            assert event.detail["display"] == "dock"

        # Opening an open camera again brings its tile forward, without a second audit record.
        panel.locator(f'.camera-rank-item[data-camera-id="{hls.pk}"]').get_by_role("button", name="Open").click()
        expect(dock.locator(".camera-tile")).to_have_count(2)
        assert AuditEvent.objects.filter(action="camera.stream_open").count() == 2

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "camera-dock.png"))

        # Tiles stay when the incident panel closes; maximise, Escape, minimise (stops), restore, close.
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        hls_tile.get_by_role("button", name="Maximise").click()
        expect(hls_tile).to_have_class(re.compile(r"\bmaximised\b"))
        page.keyboard.press("Escape")
        expect(hls_tile).not_to_have_class(re.compile(r"\bmaximised\b"))
        hls_tile.get_by_role("button", name="Minimise").click()
        expect(hls_tile.locator("video")).to_have_count(0)
        hls_tile.get_by_role("button", name="Restore").click()
        _wait_playing(page, f'.camera-tile[data-camera-id="{hls.pk}"] video')
        dock.locator(f'.camera-tile[data-camera-id="{mjpeg.pk}"]').get_by_role("button", name="Close").click()
        expect(dock.locator(".camera-tile")).to_have_count(1)
        dock.get_by_role("button", name="Dock right").click()
        expect(dock).to_have_attribute("data-side", "right")
        _assert_clean(watch, page, scene)
    finally:
        context.close()

    # The video wall at wall-screen size: it asks why, then opens both streams, audited as "wall".
    context = browser.new_context(viewport={"width": 1920, "height": 1080}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    try:
        _sign_in(page, live_server.url)
        page.goto(f"{live_server.url}/wall/?cameras={hls.pk},{mjpeg.pk}&layout=2x2")
        grid = page.locator("#wall-grid")
        expect(grid).to_have_attribute("data-state", "asking")
        assert AuditEvent.objects.filter(detail__display="wall").count() == 0
        grid.locator("input[name=reason]").fill("Market patrol detail 26-0412")
        grid.get_by_role("button", name="Start the wall").click()
        expect(grid.locator(".wall-tile[data-camera-id]")).to_have_count(2)
        expect(grid.locator(".wall-empty")).to_have_count(2)
        _wait_playing(page, f'.wall-tile[data-camera-id="{hls.pk}"] video')
        _wait_frames(page, f'.wall-tile[data-camera-id="{mjpeg.pk}"] img')
        expect(grid.locator(f'.wall-tile[data-camera-id="{mjpeg.pk}"]')).to_have_attribute("data-state", "playing")
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
        expect(page.locator(".incident-marker")).to_have_count(1)  # the map beside the grid
        assert "reason=Market+patrol+detail+26-0412" in page.url  # the hourly reload does not ask again
        wall_events = AuditEvent.objects.filter(action="camera.stream_open", detail__display="wall")
        assert sorted(int(e.object_id) for e in wall_events) == sorted([hls.pk, mjpeg.pk])
        assert {e.reason for e in wall_events} == {"Video wall: Market patrol detail 26-0412"}
        page.screenshot(path=str(ARTIFACTS / "video-wall.png"))
        _assert_clean(watch, page, scene)
    finally:
        context.close()


def test_player_renews_its_grant_before_it_expires(browser, live_server, scene, settings):
    """A short grant: the dock's player re-opens the camera (audited as a renewal) and switches to the
    new proxy URL, so the picture goes on; the old URL is refused once expired."""
    settings.RTCC_STREAM_GRANT_SECONDS = 4
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    mjpeg, incident = scene["mjpeg"], scene["incident"]
    try:
        _sign_in(page, live_server.url)
        expect = sync_api.expect
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
        page.locator(f'.incident-marker[data-incident-id="{incident.pk}"]').click()
        page.locator(f'.camera-rank-item[data-camera-id="{mjpeg.pk}"]').get_by_role("button", name="Open").click()
        selector = f'.camera-tile[data-camera-id="{mjpeg.pk}"] img'
        _wait_frames(page, selector)
        first = page.locator(selector).get_attribute("src")
        page.wait_for_function(
            """([sel, first]) => { const i = document.querySelector(sel);
                                   return i && i.src.split('?')[0] !== first.split('?')[0]; }""",
            arg=[selector, first],
            timeout=15000,
        )
        _wait_frames(page, selector)
        tile = page.locator(f'.camera-tile[data-camera-id="{mjpeg.pk}"]')
        expect(tile).to_have_attribute("data-state", "playing")
        events = list(AuditEvent.objects.filter(action="camera.stream_open").order_by("pk"))
        assert len(events) >= 2 and not events[0].detail.get("renewal")
        assert all(e.detail.get("renewal") is True for e in events[1:])
        assert {e.reason for e in events} == {"Incident SPD-26-004242 (ROBBERY)"}
        time.sleep(4.5)
        stale = page.request.get(f"{live_server.url}{urlsplit(first).path}")
        assert stale.status == 403 and "expired" in stale.json()["detail"]
        watch.bad_status = [s for s in watch.bad_status if "/api/streams/" not in s]  # the stale probe above
        _assert_clean(watch, page, scene)
    finally:
        context.close()


def test_live_hls_carries_on_across_grant_renewals(browser, live_server, scene, settings):
    """A live playlist refreshed every second, under 4-second grants: hls.js asks under each new grant
    as it comes, so the same <video> plays on past the first grant's expiry, without reconnecting."""
    settings.RTCC_STREAM_GRANT_SECONDS = 4
    live = f.camera(
        agency=scene["incident"].agency,
        name="Pine St live",
        lon=f.LON,
        lat=f.LAT + 0.0004,
        heading=180,
        fov_range=120,
        stream_kind="hls",
        stream_url=f"{scene['stream_server']}/live.m3u8",
    )
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    states: list[str] = []
    try:
        _sign_in(page, live_server.url)
        expect = sync_api.expect
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
        page.locator(f'.incident-marker[data-incident-id="{scene["incident"].pk}"]').click()
        page.locator(f'.camera-rank-item[data-camera-id="{live.pk}"]').get_by_role("button", name="Open").click()
        video = f'.camera-tile[data-camera-id="{live.pk}"] video'
        _wait_playing(page, video)
        page.eval_on_selector(video, "(v) => { v.dataset.first = '1'; }")
        tile = page.locator(f'.camera-tile[data-camera-id="{live.pk}"]')
        deadline = time.monotonic() + 9  # two grants' lives and more
        while time.monotonic() < deadline:
            state = tile.get_attribute("data-state") or ""
            states.append(f"{state} {tile.locator('.ct-state').get_attribute('title') or ''}".strip())
            page.wait_for_timeout(250)
        assert set(states) == {"playing"}, states
        assert page.eval_on_selector(video, "(v) => [v.dataset.first, v.currentTime]")[0] == "1"  # same element
        assert page.eval_on_selector(video, "(v) => v.currentTime") > 7
        events = list(AuditEvent.objects.filter(action="camera.stream_open", object_id=str(live.pk)).order_by("pk"))
        assert len(events) >= 3 and all(e.detail.get("renewal") for e in events[1:])
        _assert_clean(watch, page, scene)
    finally:
        context.close()


def test_demo_hls_plays_through_the_proxy(browser, live_server, scene, stream_media, monkeypatch):
    """The demo city's video cameras (make demo): their stream is a path on this server, which
    answers only inside the proxy; Chromium plays it from the grant's URL."""
    from apps.demo import views as demo_views

    monkeypatch.setattr(demo_views, "HLS_DIR", stream_media / "hls")  # what scripts/demo.sh has ffmpeg write
    demo = f.camera(
        agency=scene["incident"].agency,
        name="Demo HLS",
        external_id="DEMO-CAM-0001",
        lon=f.LON,
        lat=f.LAT - 0.0004,
        heading=0,
        fov_range=120,
        stream_kind="hls",
        stream_url="/demo/cameras/DEMO-CAM-0001/hls/index.m3u8",
    )
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    paths: list[str] = []
    page.on("request", lambda request: paths.append(urlsplit(request.url).path))
    try:
        _sign_in(page, live_server.url)
        expect = sync_api.expect
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=LOAD_TIMEOUT_MS)
        direct = page.request.get(f"{live_server.url}/demo/cameras/DEMO-CAM-0001/hls/index.m3u8")
        assert direct.status == 403  # the session alone shows nothing
        page.locator(f'.incident-marker[data-incident-id="{scene["incident"].pk}"]').click()
        page.locator(f'.camera-rank-item[data-camera-id="{demo.pk}"]').get_by_role("button", name="Open").click()
        _wait_playing(page, f'.camera-tile[data-camera-id="{demo.pk}"] video')
        assert any(path.startswith("/api/streams/") and "/part/" in path for path in paths)  # segments
        assert not any(path.startswith("/demo/") for path in paths)
        assert "/demo/cameras/" not in page.content()
        watch.bad_status = [s for s in watch.bad_status if "/demo/cameras/" not in s]  # the direct probe
        _assert_clean(watch, page, scene)
    finally:
        context.close()
