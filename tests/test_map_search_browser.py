"""The map's search box in headless Chromium: `/`, a CAD number and Enter open the incident's panel;
a call sign rings the unit where it is; a camera name opens its popup; a plate search asks for a reason first,
lists the reads and is audited. No console errors, nothing fetched from another host. A screenshot
is left in test-artifacts/map-search.png.
"""

from __future__ import annotations

import os
import re

import pytest

from apps.accounts.choices import Role
from apps.audit.models import AuditAction, AuditEvent

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]


SETTLE_MS = 15_000


@pytest.fixture(autouse=True)
def _no_live_socket(settings):
    """pytest-django's live_server speaks WSGI only; the map runs as it does without live updates."""
    settings.RTCC_LIVE_MAP_ENABLED = False


def _center(locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box, "not on screen"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


@pytest.fixture
def scene(db):
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="search-operator")
    lon, lat = f.LON, f.LAT
    incident = f.incident(
        agency=home,
        cad_number="SPD-26-004711",
        type_code="BURGLARY",
        address="1500 Pike Pl",
        status="dispatched",
        lon=lon + 0.004,
        lat=lat + 0.001,
    )
    f.incident(agency=home, cad_number="SPD-26-004799", lon=lon - 0.01, lat=lat - 0.004)
    unit = f.unit(agency=home, call_sign="2B11", lon=lon + 0.03, lat=lat - 0.02)
    camera = f.camera(agency=home, name="Western Ave & Virginia", lon=lon - 0.02, lat=lat + 0.01, heading=90)
    site = f.alpr_site(agency=home, name="Alaskan Way NB", lon=lon - 0.008, lat=lat - 0.002)
    entry = f.hotlist_entry(agency=home, plate="BXR4471", reason="Stolen vehicle")
    f.alpr_read(agency=home, plate="BXR4471", state="WA", site=site, hit=entry, lon=lon - 0.008, lat=lat - 0.002)
    return {"incident": incident, "unit": unit, "camera": camera}


def test_operator_finds_a_call_a_unit_a_camera_and_a_plate(browser, live_server, scene):
    context = browser.new_context(viewport={"width": 1366, "height": 768}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    expect = sync_api.expect
    # After a fly the layers reload for the new view while the search runs; a busy machine may
    # answer slowly. Playwright's default (5 s) is restored for the other tests.
    expect.set_options(timeout=SETTLE_MS)
    try:
        page.goto(f"{live_server.url}/")
        page.fill("#id_username", "search-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)

        box = page.locator("#search-input")
        dropdown = page.locator("#search-results")
        # `/` anywhere on the map focuses the box.
        page.locator("#map").click(position={"x": 640, "y": 300})
        page.keyboard.press("/")
        expect(box).to_be_focused()

        # 1. A CAD number's tail, Enter: the incident's panel opens and the map flies there.
        page.keyboard.type("4711")
        expect(dropdown.locator(".search-option.kind-incident")).to_have_count(1)
        expect(dropdown.locator(".search-option[aria-selected=true]")).to_contain_text("SPD-26-004711")
        page.keyboard.press("Enter")
        panel = page.locator("#side-panel")
        expect(panel.locator(".sp-cad")).to_have_text("SPD-26-004711")
        expect(panel).to_contain_text("1500 Pike Pl")
        expect(dropdown).to_be_hidden()
        marker = page.locator(f'.incident-marker[data-incident-id="{scene["incident"].pk}"]')
        expect(marker).to_have_class(re.compile(r"\bselected\b"))

        # 2. Arrow keys move through several matches; Escape closes the list, not the panel.
        page.keyboard.press("/")
        page.keyboard.type("SPD-26-0047")
        options = dropdown.locator(".search-option.kind-incident")
        expect(options).to_have_count(2)
        page.keyboard.press("ArrowDown")
        expect(options.nth(1)).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Escape")
        expect(dropdown).to_be_hidden()
        expect(panel).to_be_visible()

        # 3. A call sign: the map flies to the unit and rings it.
        box.fill("2b11")
        expect(dropdown.locator(".search-option.kind-unit")).to_contain_text("2B11")
        box.press("Enter")
        dot = page.locator(f'.unit-marker[data-unit-id="{scene["unit"].pk}"] .unit-dot')
        expect(dot).to_be_visible()
        expect(page.locator(".search-ring")).to_have_count(1)
        ring, unit = _center(page.locator(".search-ring-pulse")), _center(dot)
        assert abs(ring[0] - unit[0]) <= 3 and abs(ring[1] - unit[1]) <= 3, (ring, unit)

        # 4. A camera by name: its own popup opens where it stands.
        box.fill("western ave")
        expect(dropdown.locator(".search-option.kind-camera")).to_contain_text("Western Ave & Virginia")
        box.press("Enter")
        expect(page.locator(".leaflet-popup .camera-card")).to_contain_text("Western Ave & Virginia")

        # 5. A plate: offered as a plate search, which needs a reason before anything is sent.
        box.fill("bxr4471")
        offer = dropdown.locator(".search-option.kind-plate-offer")
        expect(offer).to_contain_text("Search plate “BXR4471”")
        box.press("Enter")
        reason = page.locator("#search-reason")
        expect(reason).to_be_focused()
        reason.press("Enter")
        expect(dropdown.locator(".search-reason-problem")).to_contain_text("needs a reason")
        assert not [call for call in watch.api_calls if call.startswith("/api/search/plates/")]
        reason.fill("case 26-0412")
        reason.press("Enter")
        reads = dropdown.locator(".search-option.kind-plate")
        expect(dropdown.locator(".group-plate .search-group-title")).to_have_text("Reads of BXR4471 (1)")
        expect(reads).to_have_count(1)
        expect(reads.first).to_contain_text("Alaskan Way NB")
        expect(reads.first).to_contain_text("HIT: Stolen vehicle")
        expect(dropdown).to_contain_text("case 26-0412")
        event = AuditEvent.objects.get(action=AuditAction.PLATE_SEARCH)
        assert event.username == "search-operator"
        assert event.reason == "case 26-0412"
        assert event.detail["count"] == 1

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map-search.png"))

        # Picking the read marks it on the map.
        box.press("Enter")
        # (The camera's popup fades out meanwhile: two popups for a moment.)
        read_popup = page.locator(".leaflet-popup", has_text="BXR4471 · WA")
        expect(read_popup).to_contain_text("Alaskan Way NB")
        expect(read_popup).to_contain_text("Stolen vehicle")
        expect(page.locator(".leaflet-popup")).to_have_count(1)
        watch.assert_clean()
    finally:
        expect.set_options(timeout=5_000)
        context.close()
