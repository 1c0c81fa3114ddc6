"""The operator's map in headless Chromium on a real Daphne server: dense layers cluster (an urgent
call's cluster says so), a unit's trail grows with a live fix, the unit list filters by status and
follows a unit as it moves, and the keyboard steps to the next incident. A screenshot is left in
test-artifacts/map-units.png.

Daphne is started by tests/test_map_live.py's `daphne` fixture (pytest-django's live_server has no
WebSockets); this process publishes live updates under the same private Redis prefixes.
"""

from __future__ import annotations

import os
import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.core.geo import make_point
from apps.units.models import UnitPosition

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch
from .test_map_live import _at, _push_here, _token, daphne  # noqa: F401 - daphne is a fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # committed: the Daphne process reads the same database
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


def _scene(home):
    """Around the map's default centre (zoom 12): cameras, calls and ALPR readers packed tight
    enough to cluster, and two units, one with fixes over the last minutes."""
    for i in range(5):
        f.camera(agency=home, name=f"Cluster cam {i}", lon=_at(0.06 + i * 0.0004, 0.03)[0], lat=_at(0, 0.03)[1])
    for i in range(4):
        f.alpr_site(agency=home, name=f"Reader {i}", lon=_at(-0.03 + i * 0.0004, 0)[0], lat=_at(0, -0.05)[1])
    now = timezone.now()
    calls = [
        ("SPD-24-000301", 3, "dispatched", 30),
        ("SPD-24-000302", 1, "pending", 5),
        ("SPD-24-000303", 2, "dispatched", 10),
    ]
    for i, (cad, priority, status, minutes) in enumerate(calls):
        lon, lat = _at(0.1 + i * 0.0005, -0.03)
        f.incident(
            agency=home,
            cad_number=cad,
            priority=priority,
            status=status,
            lon=lon,
            lat=lat,
            received_at=now - timedelta(minutes=minutes),
        )
    seen = now - timedelta(minutes=2)
    walker = f.unit(agency=home, call_sign="2B11", lon=_at(0.02, 0.01)[0], lat=_at(0.02, 0.01)[1], last_seen=seen)
    for minutes, (dlon, dlat) in ((6, (0.0, 0.0)), (4, (0.01, 0.005)), (2, (0.02, 0.01))):
        lon, lat = _at(dlon, dlat)
        UnitPosition.objects.create(
            unit=walker, location=make_point(lon, lat), recorded_at=now - timedelta(minutes=minutes)
        )
    other = f.unit(agency=home, call_sign="3C22", status="dispatched", lon=_at(-0.02, 0.03)[0], lat=_at(-0.02, 0.03)[1])
    return walker, other


def _center(locator) -> tuple[float, float] | None:
    box = locator.bounding_box()
    return (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2) if box else None


def _wait_until(check, what: str, timeout: float = 8.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_clusters_trails_unit_list_follow_and_keyboard(browser, daphne):  # noqa: F811 - the fixture
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="units-operator")
    walker, other = _scene(home)
    avl = _token(home, "osmand")

    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, daphne)
    expect = sync_api.expect
    try:
        page.goto(f"{daphne}/")
        page.fill("#id_username", "units-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{daphne}/")
        # (The first load gets longer than the default 5 s: a busy test machine compiles the page slowly.)
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)

        # 1. At the city zoom the dense layers cluster; the calls' cluster shows its urgent call.
        expect(page.locator(".camera-cluster")).to_have_count(1)
        expect(page.locator(".camera-cluster .rtcc-cluster-count")).to_have_text("5")
        expect(page.locator(".camera-marker")).to_have_count(0)
        expect(page.locator(".alpr-cluster .rtcc-cluster-count")).to_have_text("4")
        calls = page.locator(".incident-cluster")
        expect(calls).to_have_count(1)
        expect(calls).to_have_class(re.compile(r"\bpriority-1\b.*\bhas-pending\b"))
        expect(calls.locator(".rtcc-cluster-count")).to_have_text("3")
        expect(calls.locator(".rtcc-cluster-note")).to_have_text("1 pending")

        # 2. The trail is seeded with the last minutes, and a live fix extends it.
        trail = page.locator(f'path[data-unit-trail="{walker.pk}"]')
        expect(trail).to_have_attribute("data-points", "3")
        dot = page.locator(f'.unit-marker[data-unit-id="{walker.pk}"] .unit-dot')
        before = _center(dot)
        lon, lat = _at(0.03, 0.015)
        fix = {"id": "2B11", "lat": lat, "lon": lon, "timestamp": int(time.time()) - 30}
        assert _push_here(f"/api/feeds/osmand/{avl}/", params=fix)["accepted"] == 1
        expect(trail).to_have_attribute("data-points", "4")
        assert _center(dot)[0] > before[0] + 20  # moved east, in place

        # 3. The unit list: filter by status, then follow 2B11.
        page.locator(".unit-list .ul-toggle").click()
        rows = page.locator(".unit-list .ul-row")
        expect(rows).to_have_count(2)
        page.select_option(".unit-list .ul-filter", "dispatched")
        expect(rows).to_have_count(1)
        expect(rows.locator(".ul-sign")).to_have_text("3C22")
        page.select_option(".unit-list .ul-filter", "available")
        expect(rows).to_have_count(1)
        expect(rows.locator(".ul-age")).to_have_text(re.compile(r"ago$"))
        rows.locator(".ul-unit").click()
        follow_bar = page.locator(".follow-bar")
        expect(follow_bar).to_be_visible()
        expect(follow_bar.locator(".follow-name")).to_have_text("2B11")
        map_center = _center(page.locator("#map"))

        def centred():
            at = _center(dot)
            return at and abs(at[0] - map_center[0]) <= 3 and abs(at[1] - map_center[1]) <= 3

        _wait_until(centred, "the followed unit is not centred")
        other_dot = page.locator(f'.unit-marker[data-unit-id="{other.pk}"] .unit-dot')
        other_before = _center(other_dot)
        lon, lat = _at(0.045, 0.02)
        fix = {"id": "2B11", "lat": lat, "lon": lon, "timestamp": int(time.time()) - 20}
        assert _push_here(f"/api/feeds/osmand/{avl}/", params=fix)["accepted"] == 1
        # The map moved with the unit: it stays centred while the unit that stood still slides west.
        _wait_until(
            lambda: (c := _center(other_dot)) and c[0] < other_before[0] - 20 and centred(),
            "the map did not follow the unit",
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "map-units.png"))
        follow_bar.locator(".follow-stop").click()
        expect(follow_bar).to_be_hidden()

        # 4. Keyboard: "?" shows the help, Escape closes it; "j" opens the most urgent pending call,
        #    bringing it out of its cluster; Escape closes the panel.
        page.locator("#map").click(position={"x": 800, "y": 700})  # focus on the page, not a field
        page.keyboard.press("?")
        expect(page.locator(".kbd-help")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator(".kbd-help")).to_be_hidden()
        page.keyboard.press("j")
        panel = page.locator("#side-panel")
        expect(panel.locator(".sp-cad")).to_have_text("SPD-24-000302")
        expect(page.locator('.incident-marker[data-cad="SPD-24-000302"]')).to_have_class(re.compile(r"\bselected\b"))
        page.keyboard.press("j")
        expect(panel.locator(".sp-cad")).to_have_text("SPD-24-000303")  # then P2 before P3
        page.keyboard.press("k")
        expect(panel.locator(".sp-cad")).to_have_text("SPD-24-000302")

        page.keyboard.press("Escape")
        expect(panel).to_be_hidden()
        watch.assert_clean()
    finally:
        context.close()
