"""The map page in headless Chromium against a live server: sign in, see the layers, open an incident.

Nothing may be fetched from another host, and the page must finish without console errors or
failed requests. A screenshot is left in test-artifacts/map.png for people to look at.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.audit.models import AuditEvent

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]


@pytest.fixture(autouse=True)
def _no_live_socket(settings):
    """pytest-django's live_server speaks WSGI only (no WebSockets): these tests run the map as a
    deployment without live updates would. tests/test_map_live.py runs it on Daphne."""
    settings.RTCC_LIVE_MAP_ENABLED = False


@pytest.fixture
def city(db):
    """One agency around Pike Place: open and closed incidents, cameras, units, sensors, zones."""
    home = f.agency("SPD", name="Seattle Police Department")
    operator = f.user(agency=home, role=Role.OPERATOR, username="wall-operator")
    lon, lat = f.LON, f.LAT
    beat = f.zone(agency=home, kind="beat", code="M2", name="Beat M2")
    f.zone(
        agency=home,
        kind="district",
        code="WEST",
        name="West Precinct",
        bbox=(lon - 0.03, lat - 0.02, lon + 0.03, lat + 0.02),
    )
    now = timezone.now()
    robbery = f.incident(
        agency=home,
        lon=lon + 0.004,
        lat=lat + 0.001,
        cad_number="SPD-24-001234",
        type_code="ROBBERY",
        type_description="Robbery in progress",
        priority=1,
        status="pending",
        address="1500 Pike Pl",
        beat=beat,
    )
    incidents = [
        robbery,
        f.incident(
            agency=home,
            lon=lon - 0.012,
            lat=lat + 0.006,
            cad_number="SPD-24-001240",
            type_code="DISTURB",
            type_description="Disturbance",
            priority=3,
            status="dispatched",
            received_at=now - timedelta(minutes=22),
        ),
        f.incident(
            agency=home,
            lon=lon + 0.015,
            lat=lat - 0.009,
            cad_number="SPD-24-001251",
            type_code="TRAFFIC",
            type_description="Traffic hazard",
            priority=4,
            status="on_scene",
            received_at=now - timedelta(minutes=48),
        ),
        f.incident(
            agency=home,
            lon=lon - 0.02,
            lat=lat - 0.012,
            cad_number="SPD-24-001262",
            type_code="ALARM",
            type_description="Commercial alarm",
            priority=2,
            status="pending",
            received_at=now - timedelta(minutes=3),
        ),
    ]
    # Not on the map: closed, and one far outside the viewport (Spokane).
    f.incident(agency=home, cad_number="SPD-24-000999", status="closed", lon=lon + 0.002, lat=lat)
    f.incident(agency=home, cad_number="SPD-24-000001", lon=-117.4260, lat=47.6588)

    # A demo snapshot "stream" served by this server (through the stream proxy), so opening it never
    # leaves the live server.
    f.camera(
        agency=home,
        name="Pike St & 1st Ave",
        lon=lon + 0.0038,
        lat=lat + 0.0006,
        heading=45,
        fov_angle=90,
        fov_range=120,
        stream_kind="snapshot",
        external_id="CAM-PIKE",
        stream_url="/demo/cameras/CAM-PIKE/snapshot.svg",
    )
    f.camera(
        agency=home,
        name="Market Garage L2",
        owner_kind="partner",
        owner_name="Market Garage",
        lon=lon + 0.006,
        lat=lat + 0.002,
        heading=270,
        fov_range=80,
    )
    f.camera(
        agency=home,
        name="Post Alley (community)",
        owner_kind="community",
        sharing="on_request",
        lon=lon + 0.002,
        lat=lat + 0.0025,
    )
    f.camera(agency=home, name="Western Ave", status="offline", lon=lon - 0.004, lat=lat - 0.003)

    f.unit(agency=home, call_sign="2B11", lon=lon + 0.009, lat=lat + 0.004)
    f.unit(agency=home, call_sign="2B14", status="dispatched", lon=lon - 0.01, lat=lat + 0.005)
    f.unit(agency=home, call_sign="2K9", kind="k9", lon=lon - 0.006, lat=lat - 0.007)
    f.unit(agency=home, call_sign="2B20", status="on_scene", lon=lon + 0.0152, lat=lat - 0.0085)

    site = f.alpr_site(agency=home, name="Alaskan Way NB", lon=lon - 0.008, lat=lat - 0.002)
    entry = f.hotlist_entry(agency=home, plate="BXR4471", reason="Stolen vehicle")
    f.alpr_read(agency=home, plate="BXR4471", state="WA", site=site, hit=entry, lon=lon - 0.008, lat=lat - 0.002)
    f.gunshot(agency=home, lon=lon + 0.012, lat=lat + 0.008, rounds=4, confidence=0.92)
    f.alert(agency=home, title="Panic button: Pike Place Market", lon=lon + 0.0015, lat=lat - 0.004)
    return {"operator": operator, "incidents": incidents, "robbery": robbery}


def test_operator_signs_in_and_works_an_incident(browser, live_server, city):
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    expect = sync_api.expect
    try:
        page.goto(f"{live_server.url}/")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", "wall-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        markers = page.locator(".incident-marker")
        expect(markers).to_have_count(len(city["incidents"]))
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        # The four cameras stand metres apart: at the city zoom they are one cluster.
        expect(page.locator(".camera-cluster .rtcc-cluster-count")).to_have_text("4")
        expect(page.locator('.layer-row[data-layer="cameras"] .layer-count')).to_have_text("4")
        expect(page.locator(".unit-marker")).to_have_count(4)
        expect(page.locator(".alpr-hit-marker")).to_have_count(1)
        expect(page.locator(".gunshot-marker")).to_have_count(1)
        expect(page.locator(".alert-marker")).to_have_count(1)
        expect(page.locator('.layer-row[data-layer="incidents"] .layer-count')).to_have_text("4")
        expect(page.locator(".topbar")).to_contain_text("wall-operator")

        robbery = city["robbery"]
        page.locator(f'.incident-marker[data-incident-id="{robbery.pk}"]').click()
        panel = page.locator("#side-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".sp-cad")).to_have_text("SPD-24-001234")
        expect(panel).to_contain_text("1500 Pike Pl")
        ranked = panel.locator(".camera-rank-item")
        expect(ranked.first).to_be_visible()
        assert ranked.count() >= 2
        expect(ranked.first).to_have_class("camera-rank-item can-see")
        expect(ranked.first).to_contain_text("Pike St & 1st Ave")
        expect(panel.locator(".unit-rank-item").first).to_contain_text("2B11")
        expect(panel.locator(".sp-narrative .sp-loading")).to_have_count(0)

        # Opening a live camera POSTs with the CSRF header and is audited against the incident.
        ranked.first.get_by_role("button", name="Open").click()
        snapshot = page.locator("#camera-dock .camera-tile .stream-viewer img")  # the camera dock
        expect(snapshot).to_be_visible()
        first_src = snapshot.get_attribute("src")
        expect(snapshot).not_to_have_attribute("src", first_src, timeout=5000)
        event = AuditEvent.objects.get(action="camera.stream_open")
        assert event.username == "wall-operator"
        assert "SPD-24-001234" in event.reason
        assert event.detail["incident"] == robbery.pk

        # Zooming in reloads the layers for the new viewport; the picture is taken there.
        for _ in range(3):
            page.locator(".leaflet-control-zoom-in").click()
            expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        expect(markers).to_have_count(len(city["incidents"]))
        expect(page.locator(".zone-label.beat")).to_have_text("M2")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map.png"))

        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        watch.assert_clean()
    finally:
        context.close()


def _sign_in(page, server_url: str, username: str):
    page.goto(f"{server_url}/")
    page.fill("#id_username", username)
    page.fill("#id_password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server_url}/")


def test_planner_sees_layers_but_no_plate_reads_or_streams(browser, live_server, city):
    f.user(agency=city["operator"].agency, role=Role.PLANNER, username="wall-planner")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    requested: list[str] = []
    page.on("request", lambda req: requested.append(req.url))
    expect = sync_api.expect
    try:
        _sign_in(page, live_server.url, "wall-planner")
        expect(page.locator(".incident-marker")).to_have_count(len(city["incidents"]))
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        hits = page.locator('.layer-row[data-layer="alpr-hits"]')
        expect(hits).to_have_class(re.compile(r"\bdenied\b"))
        expect(hits.locator(".layer-note")).to_contain_text("not available to your role")
        assert not [url for url in requested if "/api/alpr/reads/" in url]

        robbery_id = city["robbery"].pk
        page.locator(f'.incident-marker[data-incident-id="{robbery_id}"]').click()
        expect(page.locator("#side-panel .camera-rank-item").first).to_be_visible()
        expect(page.locator("#side-panel .camera-rank-item button")).to_have_count(0)
        watch.assert_clean()
    finally:
        context.close()


def test_expired_session_goes_back_to_login(browser, live_server, city):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    expect = sync_api.expect
    try:
        _sign_in(page, live_server.url, "wall-operator")
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        context.clear_cookies()
        page.locator(".leaflet-control-zoom-in").click()
        page.wait_for_url(re.compile(r"/accounts/login/\?next=%2F$"))
        expect(page.locator("#id_username")).to_be_visible()
    finally:
        context.close()


def test_without_a_live_server_the_map_says_so_and_still_loads(browser, live_server, city, settings):
    """Live updates configured but unreachable (this WSGI server has no WebSockets): the header says
    the map is not live, the layers load over REST anyway, and the page keeps polling."""
    settings.RTCC_LIVE_MAP_ENABLED = True
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    expect = sync_api.expect
    try:
        _sign_in(page, live_server.url, "wall-operator")
        badge = page.locator("#live-state")
        expect(badge).to_have_attribute("data-state", re.compile(r"reconnecting|offline"))
        expect(badge).to_have_text(re.compile(r"Reconnecting…|Offline"))
        expect(page.locator(".incident-marker")).to_have_count(len(city["incidents"]))
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        expect(page.locator("#status-line")).to_contain_text("Updated")
        # Chromium reports each refused handshake on the console; nothing else may be there.
        watch.console_errors = [e for e in watch.console_errors if "/ws/live/" not in e]
        watch.assert_clean()
    finally:
        context.close()
