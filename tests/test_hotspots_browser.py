"""The planner's hotspot panel in headless Chromium: ask for Gi* hexagons, see the planted hot cell drawn."""

from __future__ import annotations

import os
from datetime import timedelta

import h3
import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.hotspots.models import HotspotRun
from apps.incidents.models import Incident

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


@pytest.fixture
def eager_celery():
    """The run's task runs when the request commits, in the server thread, as a worker would run it."""
    from rtcc_gis.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


def test_planner_runs_gi_star_and_sees_the_hot_cell(browser, live_server, db, eager_celery):
    home = f.agency("SPD")
    f.user(agency=home, role=Role.PLANNER, username="hs-planner")
    hot = h3.latlng_to_cell(f.LAT, f.LON, 8)
    rows = [(f.LON + dx * 0.004, f.LAT + dy * 0.003) for dx in range(-10, 11) for dy in range(-10, 11)]
    lat, lon = h3.cell_to_latlng(hot)
    rows += [(lon + (i % 5 - 2) * 0.0004, lat + (i // 5 - 2) * 0.0003) for i in range(25)] * 3
    when = timezone.now() - timedelta(days=2)
    Incident.objects.bulk_create(
        [
            Incident(
                agency=home,
                cad_number=f"B{i}",
                type_code="ROBBERY",
                location=f"SRID=4326;POINT({x} {y})",
                received_at=when,
            )
            for i, (x, y) in enumerate(rows)
        ]
    )

    context = browser.new_context(viewport={"width": 1400, "height": 850}, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    watch = PageWatch(page, live_server.url)
    try:
        page.goto(f"{live_server.url}/")
        page.fill("#id_username", "hs-planner")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")
        page.wait_for_selector("html[data-rtcc-state=ready]")
        page.click(".hotspots-panel .panel-collapse")
        page.select_option(".hs-form select[name=kind]", "gistar")
        page.fill(".hs-form input[name=types]", "robbery")
        page.click(".hs-form button[type=submit]")
        page.wait_for_selector(".hotspots-panel[data-run-status=done]", timeout=60_000)
        assert page.locator("path.hotspot-cell.class-hot99, path.hotspot-cell.class-hot95").count() >= 1
        assert page.locator(".hs-legend .hs-legend-item").count() == 6
        assert "incidents" in page.inner_text(".hs-status")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "hotspots.png"))
        watch.assert_clean()
    finally:
        context.close()
    [run] = HotspotRun.objects.all()
    assert run.params["types"] == ["ROBBERY"] and run.status == "done"
    classes = {feat["id"]: feat["properties"]["class"] for feat in run.result["features"]}
    assert classes[hot] in ("hot95", "hot99")
