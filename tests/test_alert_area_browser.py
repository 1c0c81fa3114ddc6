"""Alert areas and unplaced alerts in headless Chromium on a real Daphne server: an alert with an area
(a CAP polygon or circle) is drawn as that area beside its marker; an alert with no location is listed
in the queue with a "no location — area: <areaDesc>" line; an alert its source closes (a CAP Cancel,
an ATAK emergency cancel, an expiry) leaves the queue and the map live, saying why."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.db import connections
from django.utils import timezone

from apps.accounts.choices import Role
from apps.core.geo import make_point
from apps.sensors.services import alert_close, alert_raise

from . import factories as f
from .browser_support import CHROMIUM, PageWatch
from .test_map_live import _at, daphne  # noqa: F401 - daphne is a fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # committed: the Daphne process reads the same database
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

SPOT = _at(0.0, 0.0)


def _in_thread(fn, **kw):
    """Services in a worker thread: publish() refuses a thread with a running event loop (Playwright's)."""

    def run():
        try:
            return fn(**kw)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=15)


def test_alert_area_is_drawn_and_unplaced_alerts_are_listed(browser, daphne):  # noqa: F811 - the fixture
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="area-operator")
    lon, lat = SPOT
    square = Polygon.from_bbox((lon - 0.004, lat - 0.003, lon + 0.004, lat + 0.003))
    square.srid = 4326

    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, daphne)
    expect = sync_api.expect
    try:
        page.goto(f"{daphne}/")
        page.fill("#id_username", "area-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{daphne}/")
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)

        flood, _ = _in_thread(
            alert_raise,
            agency_id=home.pk,
            kind="sensor",
            title="Flood Warning",
            raised_at=timezone.now(),
            location=make_point(lon, lat),
            area=MultiPolygon(square, srid=4326),
            area_desc="Duwamish <b>basin</b>",
            source="CAP",
            source_id="nws,FLOOD-1",
        )
        unplaced, _ = _in_thread(
            alert_raise,
            agency_id=home.pk,
            kind="sensor",
            title="Blizzard Warning",
            raised_at=timezone.now(),
            area_desc="Southern Cook, North Shore",
            source="CAP",
            source_id="nws,BLIZ-1",
        )
        area = page.locator(f'path.alert-area[data-alert-area-id="{flood.pk}"]')
        expect(area).to_have_count(1)
        expect(page.locator(f'.alert-marker[data-alert-id="{flood.pk}"]')).to_have_count(1)

        page.locator("#alert-counter").click()
        queue = page.locator("#alert-queue")
        expect(queue).to_be_visible()
        row = queue.locator(f'.aq-item[data-alert-id="{unplaced.pk}"]')
        expect(row.locator(".aq-no-location")).to_have_text("no location — area: Southern Cook, North Shore")
        placed = queue.locator(f'.aq-item[data-alert-id="{flood.pk}"]')
        expect(placed.locator(".aq-no-location")).to_have_count(0)
        placed.locator(".aq-select").click()
        # Data is text, never markup: the source's angle brackets are shown as written.
        expect(queue.locator(".aq-detail")).to_contain_text("Duwamish <b>basin</b>")

        # The source cancels it: off the queue and the map, with the reason where it was shown.
        _in_thread(alert_close, agency_id=home.pk, source="CAP", source_id="nws,FLOOD-1", reason="cancelled by nws")
        expect(placed).to_have_count(0)
        expect(area).to_have_count(0)
        expect(queue.locator(".aq-gone")).to_have_text(re.compile(r"^Closed \(cancelled by nws\)"))
        watch.assert_clean()
    finally:
        context.close()
