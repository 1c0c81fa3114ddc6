"""Hardening in the browser: the map page and the admin's map widget run under their policies without a
single CSP violation, in headless Chromium (the `browser` fixture: tests/browser_support.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings as django_settings

from apps.accounts.choices import Role

from . import factories as f
from .hardening_support import directives, logged_in

# Every refusal is both an event in the page and a console line; both are collected.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
});
"""


class CspWatch:
    """CSP refusals a page reported, as events and as console lines."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        return [*self.page.evaluate("window.__cspViolations || []"), *self.console]


def _sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/")
    page.fill("#id_username", username)
    page.fill("#id_password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")


@pytest.mark.browser
def test_map_page_runs_under_its_policy_without_a_violation(browser, live_server, settings):
    """Sign in, load every layer, open an incident and a camera, zoom, with the live socket on: the CSP
    header is served and the browser refuses nothing."""
    from playwright.sync_api import expect

    settings.RTCC_LIVE_MAP_ENABLED = True  # the socket fails here (WSGI server) but must not be refused by CSP
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="csp-operator")
    lon, lat = f.LON, f.LAT
    f.zone(agency=home, kind="beat", code="M2", name="Beat M2")
    incident = f.incident(agency=home, lon=lon + 0.004, lat=lat + 0.001, cad_number="SPD-1", status="pending")
    f.incident(agency=home, lon=lon - 0.01, lat=lat, cad_number="SPD-2", status="dispatched")
    f.camera(
        agency=home,
        name="Pike St",
        lon=lon + 0.0038,
        lat=lat + 0.0006,
        heading=45,
        fov_angle=90,
        fov_range=120,
        sharing="live",
        stream_kind="snapshot",
        external_id="CAM-PIKE",
        stream_url="/demo/cameras/CAM-PIKE/snapshot.svg",
    )
    f.unit(agency=home, call_sign="2B11", lon=lon + 0.009, lat=lat + 0.004)
    site = f.alpr_site(agency=home, lon=lon - 0.008, lat=lat - 0.002)
    entry = f.hotlist_entry(agency=home, plate="BXR4471", reason="Stolen vehicle")
    f.alpr_read(agency=home, plate="BXR4471", state="WA", site=site, hit=entry, lon=lon - 0.008, lat=lat - 0.002)
    f.gunshot(agency=home, lon=lon + 0.012, lat=lat + 0.008)
    f.alert(agency=home, title="Panic button", lon=lon + 0.0015, lat=lat - 0.004)

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watch = CspWatch(page)
    try:
        _sign_in(page, live_server.url, "csp-operator")
        response = page.goto(f"{live_server.url}/")
        policy = directives(response.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"]
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        expect(page.locator(".incident-marker")).to_have_count(2)
        page.locator(f'.incident-marker[data-incident-id="{incident.pk}"]').click()
        ranked = page.locator("#side-panel .camera-rank-item")
        expect(ranked.first).to_be_visible()
        ranked.first.get_by_role("button", name="Open").click()
        expect(page.locator("#camera-dock .camera-tile .stream-viewer img")).to_be_visible()
        for _ in range(3):
            page.locator(".leaflet-control-zoom-in").click()
            expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        page.wait_for_timeout(500)  # let late events (the socket's retry, a popup) land
        assert watch.violations() == []
    finally:
        context.close()


@pytest.mark.browser
def test_admin_map_widget_runs_under_the_admin_policy(browser, live_server):
    """The admin's Leaflet widgets run by nonce: the map draws and the browser refuses nothing."""
    from playwright.sync_api import expect

    home = f.agency("SPD", name="Seattle Police Department")
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="csp-admin", is_staff=True, is_superuser=True)
    zone = f.zone(agency=home, code="M2")
    # Signed in the way the session middleware would have it; how staff sign in is not what is tested here.
    session = logged_in(admin).cookies[django_settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    watch = CspWatch(page)
    try:
        page.goto(f"{live_server.url}/admin/zones/zone/{zone.pk}/change/")
        expect(page.locator(".leaflet-container")).to_have_count(1)
        expect(page.locator(".leaflet-interactive").first).to_be_visible()
        page.wait_for_timeout(300)
        assert watch.violations() == []
    finally:
        context.close()
