"""The live map end to end: headless Chromium on a real Daphne server, records pushed through the feed
endpoints, and the map changing in place without a reload, including across a dropped socket.

pytest-django's live_server is WSGI (no WebSockets), so this module starts Daphne itself on the test
database and on private Redis prefixes that this test process publishes under too. A screenshot is
left in test-artifacts/map-live.png.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
import redis
from django.conf import settings as django_settings
from django.db import connections
from django.test import Client
from django.utils import timezone

from apps.accounts.choices import Role
from apps.feeds.models import FeedSource
from apps.units.choices import UnitIdMode

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch
from .live_support import DaphneServer, collect_static, test_database_url

ROOT = Path(__file__).resolve().parent.parent
ZOOM = 12  # the map's default zoom (settings.LEAFLET_CONFIG); the test does not change it until the end

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # committed: the Daphne process reads the same database
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


# ---- the server -------------------------------------------------------------------------------------


@pytest.fixture
def daphne(live_prefix, transactional_db) -> Iterator[str]:
    """One server process serving the whole site (HTTP and /ws/live/); its URL. Always stopped."""
    collect_static()
    server = DaphneServer(
        {
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": django_settings.REDIS_URL,
            "CHANNELS_PREFIX": live_prefix,
            "RTCC_LIVE_KEY_PREFIX": f"{live_prefix}:live",
            "RTCC_LIVE_COALESCE_MS": "100",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "WARNING",
        }
    )
    with server:
        try:
            yield server.url
        finally:
            if "Traceback" in server.logs():
                print(server.logs())  # shown with a failure


# ---- the browser ------------------------------------------------------------------------------------


class SocketSwitch:
    """Sits between the page and the server's /ws/live/ (Playwright's WebSocket routing), so the test
    can drop the connection and refuse new ones for a while, as a network outage would."""

    def __init__(self, page):
        self.down = False
        self.current = None
        self.connections = 0
        self.refused = 0
        page.route_web_socket(re.compile(r"/ws/live/$"), self._route)

    def _route(self, ws):
        if self.down:
            self.refused += 1
            ws.close(code=1011, reason="test: network down")
            return
        server = ws.connect_to_server()
        self.current = (ws, server)
        self.connections += 1

    def cut(self):
        self.down = True
        if self.current:
            ws, server = self.current
            self.current = None
            server.close()
            ws.close(code=1011, reason="test: connection lost")

    def restore(self):
        self.down = False


# ---- helpers ----------------------------------------------------------------------------------------


def _world_px(lon: float, lat: float) -> tuple[float, float]:
    """Web Mercator pixel coordinates at ZOOM (what Leaflet draws)."""
    scale = 256 * 2**ZOOM
    x = (lon + 180) / 360 * scale
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * scale
    return x, y


def _center(locator) -> tuple[float, float] | None:
    box = locator.bounding_box()
    return (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2) if box else None


def _offset(page, unit_id: int, reference) -> tuple[float, float] | None:
    """Where the unit's dot is on screen, relative to a marker that does not move (None while the
    icon is being redrawn: a restyle replaces the dot element)."""
    unit = _center(page.locator(f'.unit-marker[data-unit-id="{unit_id}"] .unit-dot'))
    ref = _center(reference)
    return (unit[0] - ref[0], unit[1] - ref[1]) if unit and ref else None


def _settled_offset(page, unit_id: int, reference) -> tuple[float, float]:
    deadline = time.monotonic() + 5
    while (offset := _offset(page, unit_id, reference)) is None:
        assert time.monotonic() < deadline, f"unit {unit_id} is not on screen"
        time.sleep(0.05)
    return offset


def _expect_moved(page, unit_id, reference, before, start, end, timeout=8.0):
    """Wait until the unit's on-screen offset changed by exactly the pixels from `start` to `end`."""
    (x0, y0), (x1, y1) = _world_px(*start), _world_px(*end)
    want = (before[0] + x1 - x0, before[1] + y1 - y0)
    deadline = time.monotonic() + timeout
    while True:
        now = _offset(page, unit_id, reference)
        if now and abs(now[0] - want[0]) <= 1.5 and abs(now[1] - want[1]) <= 1.5:
            return now
        if time.monotonic() > deadline:
            raise AssertionError(f"unit {unit_id} is at offset {now}, expected {want}")
        time.sleep(0.05)


def _token(agency, kind: str) -> str:
    # The agency's own phones report by our call signs (a source's ids are otherwise its own: identity).
    source = FeedSource.objects.create(
        agency=agency, name=f"{kind} (map live test)", kind=kind, unit_ids=UnitIdMode.CALL_SIGN
    )
    return source.issue_token()


def _osmand_via_server(server: str, token: str, device: str, lon: float, lat: float, stamp: int) -> dict:
    """A phone's fix, sent to the Daphne server (it publishes from its own process)."""
    query = urlencode({"id": device, "lat": lat, "lon": lon, "timestamp": stamp})
    with urllib.request.urlopen(f"{server}/api/feeds/osmand/{token}/?{query}", timeout=5) as response:
        return json.loads(response.read())


def _push_via_server(server: str, token: str, records: list[dict]) -> dict:
    request = urllib.request.Request(
        f"{server}/api/feeds/push/",
        data=json.dumps(records).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def _push_here(path: str, token: str | None = None, records: list[dict] | None = None, params=None) -> dict:
    """A push handled by this test process (it publishes under the same Redis prefixes). It runs in a
    worker thread: publish() refuses a thread with a running event loop, and Playwright's sync API
    keeps one in this one."""

    def run() -> dict:
        try:
            client = Client()
            if records is None:
                response = client.get(path, params)
            else:
                response = client.post(
                    path,
                    data=json.dumps(records),
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {token}",
                )
            assert response.status_code == 200, response.content
            return response.json()
        finally:
            connections.close_all()  # this thread's connection, or the test database cannot be dropped

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=15)


# ---- the test ---------------------------------------------------------------------------------------


def _scene(home):
    """Around the map's default centre: beats for a basemap, a camera that never moves (the
    reference for measuring), an incident, a unit last heard from ten minutes ago, a hotlist."""
    lon, lat = CENTER
    f.zone(
        agency=home,
        kind="district",
        code="WEST",
        name="West Precinct",
        bbox=(lon - 0.08, lat - 0.045, lon + 0.08, lat + 0.045),
    )
    for i, (dx, dy) in enumerate([(-1, 0), (0, 0), (-1, -1), (0, -1)]):
        f.zone(
            agency=home,
            kind="beat",
            code=f"K{i + 1}",
            name=f"Beat K{i + 1}",
            bbox=(lon + dx * 0.08, lat + dy * 0.045, lon + (dx + 1) * 0.08, lat + (dy + 1) * 0.045),
        )
    camera = f.camera(agency=home, name="Pike St & 1st Ave", lon=lon - 0.02, lat=lat + 0.012)
    f.incident(
        agency=home,
        cad_number="SPD-24-000100",
        type_code="DISTURB",
        priority=3,
        status="dispatched",
        lon=lon + 0.03,
        lat=lat - 0.015,
    )
    unit = f.unit(
        agency=home, call_sign="2B11", lon=lon - 0.045, lat=lat + 0.02, last_seen=timezone.now() - timedelta(minutes=10)
    )
    f.hotlist_entry(agency=home, plate="HOT4471", reason="Stolen vehicle")
    return camera, unit


CENTER = (-122.3321, 47.6062)  # settings.LEAFLET_CONFIG["DEFAULT_CENTER"], as lon, lat


def _at(dlon: float, dlat: float) -> tuple[float, float]:
    return round(CENTER[0] + dlon, 6), round(CENTER[1] + dlat, 6)


def test_the_map_follows_live_feeds_and_catches_up_after_a_dropped_socket(browser, daphne):
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="live-operator")
    reference_camera, unit = _scene(home)
    avl = _token(home, "osmand")
    cad = _token(home, "cad_json")
    alpr = _token(home, "alpr_json")

    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, daphne)
    switch = SocketSwitch(page)
    expect = sync_api.expect
    try:
        page.goto(f"{daphne}/")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", "live-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{daphne}/")

        live_badge = page.locator("#live-state")
        expect(live_badge).to_have_attribute("data-state", "live")
        expect(live_badge).to_have_text("Live")
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        incidents = page.locator(".incident-marker")
        expect(incidents).to_have_count(1)
        chip = page.locator(f'.unit-marker[data-unit-id="{unit.pk}"] .unit-chip')
        expect(chip).to_have_class(re.compile(r"\bstale\b"))
        reference = page.locator(f'.camera-marker[data-camera-id="{reference_camera.pk}"] .camera-glyph')
        page_loads = page.evaluate("performance.getEntriesByType('navigation').length")
        page.evaluate("window.rtccSamePage = true")

        # 1. A phone's fix moves the unit's marker in place; it is no longer stale.
        start, first, second = _at(-0.045, 0.02), _at(0.015, 0.022), _at(0.05, -0.004)
        before = _settled_offset(page, unit.pk, reference)
        stamp = int(time.time()) - 30
        assert _osmand_via_server(daphne, avl, "2B11", *first, stamp)["accepted"] == 1
        moved = _expect_moved(page, unit.pk, reference, before, start, first)
        expect(chip).not_to_have_class(re.compile(r"\bstale\b"))
        expect(page.locator(f'.unit-marker[data-unit-id="{unit.pk}"]')).to_have_count(1)

        # 2. A CAD call pushed by the CAD interface appears as a new incident; its updates reach the
        #    marker and the open side panel; closed, it leaves the map (the layer shows open calls).
        now = timezone.now().isoformat()
        lon, lat = _at(0.008, 0.006)
        call = {
            "cad_number": "SPD-24-000200",
            "type_code": "SHOTS",
            "type_description": "Shots fired",
            "priority": 1,
            "lon": lon,
            "lat": lat,
            "received_at": now,
            "address": "1st Ave & Pike St",
        }
        assert _push_here("/api/feeds/push/", cad, [call])["accepted"] == 1
        expect(incidents).to_have_count(2)
        new_call = page.locator('.incident-marker[data-cad="SPD-24-000200"]')
        expect(new_call).to_have_class(re.compile(r"\bpriority-1\b.*\bstatus-pending\b"))
        expect(page.locator('.layer-row[data-layer="incidents"] .layer-count')).to_have_text("2")
        new_call.hover()
        expect(page.locator(".rtcc-tooltip")).to_contain_text("SPD-24-000200")
        new_call.click()
        panel = page.locator("#side-panel")
        expect(panel.locator(".sp-cad")).to_have_text("SPD-24-000200")
        expect(panel.locator(".sp-facts .status-chip")).to_have_text("Pending")
        expect(panel.locator(".sp-narrative .sp-loading")).to_have_count(0)
        assert _push_here("/api/feeds/push/", cad, [{**call, "status": "on_scene"}])["accepted"] == 1
        expect(new_call).to_have_class(re.compile(r"\bstatus-on_scene\b"))
        expect(new_call).to_have_class(re.compile(r"\bselected\b"))
        expect(panel.locator(".sp-facts .status-chip")).to_have_text("On scene")
        assert _push_here("/api/feeds/push/", cad, [{**call, "status": "closed"}])["accepted"] == 1
        expect(incidents).to_have_count(1)
        expect(panel.locator(".sp-banner")).to_have_text("Closed: no longer on the map.")
        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()

        # 3. A hotlist hit: the read appears, its alert is raised with a cue and a header counter.
        lon, lat = _at(-0.025, -0.012)
        read = {"plate": "HOT4471", "state": "WA", "read_at": now, "lon": lon, "lat": lat}
        assert _push_via_server(daphne, alpr, [read])["accepted"] == 1
        expect(page.locator(".alpr-hit-marker")).to_have_count(1)
        expect(page.locator(".alpr-hit-marker .alpr-hit-plate")).to_have_text("HOT4471")
        alert_marker = page.locator(".alert-marker")
        expect(alert_marker).to_have_count(1)
        expect(alert_marker).to_have_class(re.compile(r"\blive-raised\b"))
        counter = page.locator("#alert-counter")
        expect(counter).to_be_visible()
        expect(counter).to_contain_text("1")
        expect(page).to_have_title(re.compile(r"^\(1\) "))

        # 4. The socket drops; a fix arrives meanwhile; the reconnect replays it (no REST reload).
        switch.cut()
        expect(live_badge).to_have_attribute("data-state", re.compile(r"reconnecting|offline"))
        expect(live_badge).to_have_text(re.compile(r"Reconnecting…|Offline"))
        api_calls_before = len(watch.api_calls)
        fix = {"id": "2B11", "lon": second[0], "lat": second[1], "timestamp": stamp + 5}
        assert _push_here(f"/api/feeds/osmand/{avl}/", params=fix)["accepted"] == 1
        time.sleep(0.5)  # the fix is published and not delivered: the page still shows the old place
        still = _settled_offset(page, unit.pk, reference)
        assert abs(still[0] - moved[0]) <= 1 and abs(still[1] - moved[1]) <= 1
        switch.restore()
        expect(live_badge).to_have_attribute("data-state", "live", timeout=10_000)
        moved_again = _expect_moved(page, unit.pk, reference, moved, first, second)
        assert switch.connections >= 2  # (more if the server hiccuped meanwhile)
        assert not [path for path in watch.api_calls[api_calls_before:] if path.startswith("/api/units/")], (
            "the missed fix should come from the replay, not from reloading the layer"
        )

        # No page reload happened at any point.
        assert page.evaluate("window.rtccSamePage === true")
        assert page.evaluate("performance.getEntriesByType('navigation').length") == page_loads

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map-live.png"))

        # 5. Redis lost the feed while the socket was down (a restart): the server cannot replay and
        #    says resync; the map reloads over REST and follows the feed's new numbering.
        switch.cut()
        expect(live_badge).to_have_attribute("data-state", re.compile(r"reconnecting|offline"))
        third, fourth = _at(0.035, 0.03), _at(-0.01, 0.035)
        assert _osmand_via_server(daphne, avl, "2B11", *third, stamp + 10)["accepted"] == 1
        feed_key = f"{django_settings.RTCC_LIVE_KEY_PREFIX}:agency.{home.pk}"
        with redis.Redis.from_url(django_settings.REDIS_URL) as client:
            assert client.delete(feed_key) == 1
        api_calls_before = len(watch.api_calls)
        switch.restore()
        expect(live_badge).to_have_attribute("data-state", "live", timeout=10_000)
        at_third = _expect_moved(page, unit.pk, reference, moved_again, second, third)
        assert "/api/units/" in watch.api_calls[api_calls_before:], "a resync reloads the layers over REST"
        assert _osmand_via_server(daphne, avl, "2B11", *fourth, stamp + 15)["accepted"] == 1
        _expect_moved(page, unit.pk, reference, at_third, third, fourth)

        # 6. The counter opens the alert queue on the alert (and centres the map on it); acknowledging
        #    it from its map popup (the queue's form) takes it off "open alerts" and out of the queue.
        counter.click()
        alert_id = alert_marker.get_attribute("data-alert-id")
        queue_item = page.locator(f'#alert-queue .aq-item.selected[data-alert-id="{alert_id}"]')
        expect(queue_item).to_be_visible()
        alert_marker.locator(".alert-glyph").click()
        popup = page.locator(".leaflet-popup .alert-card")
        expect(popup).to_be_visible()
        popup.locator(".ack-outcome").select_option("confirmed")
        popup.get_by_role("button", name="Acknowledge").click()
        expect(alert_marker).to_have_count(0)
        expect(page.locator("#alert-queue .aq-item")).to_have_count(0)
        expect(counter).to_be_hidden()
        expect(page.locator('.layer-row[data-layer="alerts"] .layer-count')).to_have_text("0")
        expect(page).not_to_have_title(re.compile(r"^\("))
        expect(live_badge).to_have_attribute("data-state", "live")
        watch.assert_clean()
    finally:
        context.close()
