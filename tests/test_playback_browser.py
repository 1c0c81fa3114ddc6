"""The playback slider in headless Chromium: open it, give a reason, load the hour, scrub, exit."""

from __future__ import annotations

import os
from datetime import UTC, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.audit.models import AuditAction, AuditEvent
from apps.core.geo import make_point
from apps.units.models import UnitPosition

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]


@pytest.fixture(autouse=True)
def _no_live_socket(settings):
    settings.RTCC_LIVE_MAP_ENABLED = False  # pytest-django's live_server speaks WSGI only


def _set_slider(page, value: int) -> str:
    page.eval_on_selector(
        ".pb-slider", "(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input')); }", value
    )
    return page.get_attribute(".playback-panel", "data-visible")


def test_scrubbing_the_hour_shows_the_right_picture(browser, live_server, db):
    home = f.agency("SPD")
    f.user(agency=home, role=Role.OPERATOR, username="pb-operator")
    t0 = timezone.now().astimezone(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    unit = f.unit(agency=home, call_sign="2B11")
    for minutes, dlon in ((-10, 0.0), (10, 0.004), (20, 0.006)):
        UnitPosition.objects.create(
            unit=unit, location=make_point(f.LON + dlon, f.LAT), recorded_at=t0 + timedelta(minutes=minutes)
        )
    f.incident(
        agency=home,
        cad_number="SPD-1",
        received_at=t0 - timedelta(minutes=5),
        closed_at=t0 + timedelta(minutes=15),
        status="closed",
    )

    open_call = f.incident(agency=home, cad_number="SPD-2", lon=f.LON + 0.001, received_at=t0 + timedelta(minutes=45))

    context = browser.new_context(viewport={"width": 1400, "height": 850}, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    try:
        page.goto(f"{live_server.url}/")
        page.fill("#id_username", "pb-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.wait_for_selector("html[data-rtcc-state=ready]")
        for _ in range(3):  # close enough to tell the unit from the call
            page.click(".leaflet-control-zoom-in")
        page.click("#playback-button")
        page.wait_for_selector(".map.playback-active")
        # The picker speaks the agency's time zone, whatever the browser's (UTC here) is.
        agency_time = t0.astimezone(ZoneInfo(home.time_zone))
        page.fill(".playback-panel input[type=datetime-local]", agency_time.strftime("%Y-%m-%dT%H:%M"))
        page.fill(".pb-reason", "case 26-0500")
        page.click(".pb-form button[type=submit]")
        page.wait_for_selector("html[data-playback=ready]")
        # units, incidents, alerts, gunshots visible: at the start (t0 - 30 min) nothing yet.
        assert page.get_attribute(".playback-panel", "data-visible") == "0,0,0,0"
        assert _set_slider(page, 500) == "1,1,0,0"  # t0: the unit between two fixes, the call open
        assert _set_slider(page, 1000) == "1,0,0,0"  # t0 + 30 min: the call closed at t0 + 15
        assert _set_slider(page, 500) == "1,1,0,0"
        # Drawn again after it was hidden, the call still shows its status at that time.
        assert page.locator(".leaflet-playback-pane path.pb-incident.status-pending").count() == 1
        assert page.locator(".leaflet-tooltip-pane .pb-unit-label").inner_text() == "2B11"
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "playback.png"))
        page.click(".pb-exit")
        assert page.get_attribute("#map", "class").count("playback-active") == 0
        # From the incident panel: "the hour around this" opens the slider at the call's time.
        page.locator(f'.incident-marker[data-incident-id="{open_call.pk}"]').click()
        page.click("#side-panel .sp-replay")
        page.wait_for_selector(".map.playback-active")
        around = (t0 + timedelta(minutes=45)).astimezone(ZoneInfo(home.time_zone)).strftime("%Y-%m-%dT%H:%M")
        assert page.input_value(".playback-panel input[type=datetime-local]") == around
        page.click(".pb-exit")
        watch.assert_clean()
    finally:
        context.close()
    [event] = AuditEvent.objects.filter(action=AuditAction.PLAYBACK)
    assert event.reason == "case 26-0500" and event.detail["units"] == [unit.pk]
