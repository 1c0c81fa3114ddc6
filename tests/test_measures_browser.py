"""The measures dashboard and the "Mark RTCC-assisted" form in headless Chromium against a live server.

The page must draw its charts from /api/measures/ without console errors, failed requests or
requests to other hosts (CSP: our own scripts only). Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.measures.models import IncidentAssist
from apps.measures.services import incident_assist_create

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]


@pytest.fixture(autouse=True)
def _no_live_socket(settings):
    settings.RTCC_LIVE_MAP_ENABLED = False  # pytest-django's live_server speaks WSGI only


@pytest.fixture
def center(db):
    home = f.agency("SPD", name="Seattle Police Department", time_zone="America/Los_Angeles")
    commander = f.user(agency=home, role=Role.WATCH_COMMANDER, username="watch-cmd")
    now = timezone.now()
    incidents = [
        f.incident(
            agency=home,
            cad_number=f"SPD-26-{k:04d}",
            status="closed",
            received_at=now - timedelta(days=k % 9, hours=k % 5),
        )
        for k in range(12)
    ]
    for incident, kind in zip(
        incidents[:5],
        ["camera_suspect", "units_redirected", "detective_lead", "camera_vehicle", "no_assist"],
        strict=True,
    ):
        incident_assist_create(incident=incident, user=commander, kind=kind, note="")
    for k, outcome in enumerate(["confirmed", "confirmed", "false_positive", "unknown", ""]):
        raised = now - timedelta(days=k, minutes=30)
        f.alert(
            agency=home,
            kind="hotlist_hit",
            raised_at=raised,
            status="acknowledged" if outcome else "open",
            acknowledged_by=commander if outcome else None,
            acknowledged_at=raised + timedelta(minutes=k + 1) if outcome else None,
            ack_outcome=outcome,
        )
    open_call = f.incident(
        agency=home,
        cad_number="SPD-26-9999",
        status="pending",
        type_code="ROBBERY",
        lon=f.LON + 0.004,
        lat=f.LAT + 0.001,
        received_at=now - timedelta(minutes=4),
    )
    return {"commander": commander, "open_call": open_call}


def _sign_in(page, base: str, next_path: str) -> None:
    page.goto(f"{base}{next_path}")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "watch-cmd")
    page.fill("#id_password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


def test_dashboard_draws_its_charts(browser, live_server, center):
    context = browser.new_context(viewport={"width": 1500, "height": 1300}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    expect = sync_api.expect
    try:
        _sign_in(page, live_server.url, "/measures/")
        expect(page.locator("html[data-measures-state=ready]")).to_have_count(1)
        expect(page.locator("canvas")).to_have_count(5)
        assert page.evaluate("Object.keys(window.Chart.instances).length") == 5
        for canvas in page.locator("canvas").all():
            box = canvas.bounding_box()
            assert box and box["width"] > 100 and box["height"] > 100
        expect(page.locator('.ms-tile[data-measure="assisted"] .ms-tile-value')).to_have_text("4")
        expect(page.locator('.ms-tile[data-measure="hotlist_hits"] .ms-tile-value')).to_have_text("2 / 1")
        expect(page.locator("#ms-workload")).to_contain_text("watch-cmd")
        # The assisted chart's data is what the API said: 4 assisted in the series.
        assisted = page.evaluate(
            "window.Chart.getChart('chart-assisted').data.datasets[1].data.reduce((a, b) => a + b, 0)"
        )
        assert assisted == 4
        page.screenshot(path=str(ARTIFACTS / "measures.png"), full_page=True)

        page.select_option("#ms-bucket", "week")
        page.click("#ms-range button[type=submit]")
        expect(page.locator("#ms-note")).to_contain_text("by week")
        assert "bucket=week" in page.url
        assert "bucket=week" in page.locator("#ms-csv").get_attribute("href")
        watch.assert_clean()
    finally:
        context.close()


def test_commander_marks_an_incident_from_the_panel(browser, live_server, center):
    context = browser.new_context(viewport={"width": 1500, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    expect = sync_api.expect
    call = center["open_call"]
    try:
        _sign_in(page, live_server.url, "/")
        expect(page.locator("#measures-link")).to_be_visible()
        page.locator(f'.incident-marker[data-incident-id="{call.pk}"]').click()
        box = page.locator("#side-panel .sp-assist")
        expect(box).to_contain_text("Not marked as RTCC-assisted.")
        box.locator("select[name=kind]").select_option("units_redirected")
        box.locator("input[name=note]").fill("Sent 2B11 to the alley")
        box.locator("button[type=submit]").click()
        expect(box.locator(".assist-mark")).to_have_count(1)
        expect(box.locator(".assist-mark")).to_contain_text("Units redirected")
        assert IncidentAssist.objects.filter(incident=call, kind="units_redirected").count() == 1
        page.screenshot(path=str(ARTIFACTS / "measures-assist.png"))
        watch.assert_clean()
    finally:
        context.close()
