"""The alert queue in headless Chromium on a real Daphne server: an alert raised through the real
service arrives live at the top of the queue; clicking it centres the map and lists the cameras and
units near it; opening a camera is audited with the alert as the reason; acknowledging with a note
is audited with the note, and the alert leaves the queue. A screenshot is left in
test-artifacts/alert-queue.png.

Daphne is started by tests/test_map_live.py's `daphne` fixture (pytest-django's live_server has no
WebSockets); this process publishes live updates under the same private Redis prefixes.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.accounts.choices import Role
from apps.audit.models import AuditAction, AuditEvent
from apps.core.geo import destination, make_point
from apps.sensors.models import Alert
from apps.sensors.services import alert_raise

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch
from .test_map_live import _at, daphne  # noqa: F401 - daphne is a fixture

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # committed: the Daphne process reads the same database
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

SPOT = _at(0.02, -0.01)


def _raise_here(**kw) -> Alert:
    """alert_raise in a worker thread: publish() refuses a thread with a running event loop, and
    Playwright's sync API keeps one in this one."""

    def run() -> Alert:
        try:
            return alert_raise(**kw)[0]
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result(timeout=15)


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


def test_alert_queue_centres_lists_opens_and_acknowledges(browser, daphne):  # noqa: F811 - the fixture
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="queue-operator")
    lon, lat = destination(*SPOT, 270, 40)
    # A demo snapshot "stream" served by Daphne (through the stream proxy), so opening it never leaves the server.
    f.camera(
        agency=home,
        name="1st Ave & Pine",
        lon=lon,
        lat=lat,
        heading=90,
        fov_angle=90,
        fov_range=120,
        stream_kind="snapshot",
        external_id="CAM-PINE",
        stream_url="/demo/cameras/CAM-PINE/snapshot.svg",
    )
    lon, lat = destination(*SPOT, 0, 250)
    f.unit(agency=home, call_sign="4D40", lon=lon, lat=lat)
    older = f.alert(
        agency=home,
        kind="sensor",
        title="Door sensor: Pier 62",
        lon=_at(-0.03, 0.01)[0],
        lat=_at(-0.03, 0.01)[1],
        raised_at=timezone.now() - timedelta(minutes=12),
    )

    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-US")
    page = context.new_page()
    watch = PageWatch(page, daphne)
    expect = sync_api.expect
    try:
        page.goto(f"{daphne}/")
        page.fill("#id_username", "queue-operator")
        page.fill("#id_password", f.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{daphne}/")
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)
        counter = page.locator("#alert-counter")
        expect(counter).to_have_text(re.compile(r"^1\s*open$"))  # between new alerts: how many are pending

        # 1. A panic button through the real service: the cue, then the queue with it on top.
        alert = _raise_here(
            agency_id=home.pk,
            kind="panic",
            title="Panic button: Pike Place Market",
            raised_at=timezone.now(),
            location=make_point(*SPOT),
            detail="Vendor stall 12",
        )
        expect(counter).to_have_text(re.compile(r"^1\s*new alert$"))
        expect(page).to_have_title(re.compile(r"^\(1\) "))
        counter.click()
        queue = page.locator("#alert-queue")
        expect(queue).to_be_visible()
        items = queue.locator(".aq-item")
        expect(items).to_have_count(2)
        expect(items.first).to_have_attribute("data-alert-id", str(alert.pk))  # newest first
        expect(items.nth(1)).to_have_attribute("data-alert-id", str(older.pk))
        expect(items.first.locator(".aq-age")).to_have_text(re.compile(r"s ago$"))
        expect(queue.locator(".aq-count")).to_have_text("2 pending")
        expect(counter).to_have_text(re.compile(r"^2\s*open$"))
        expect(page).not_to_have_title(re.compile(r"^\("))

        # 2. The counter opened it on the new alert: map centred on it, cameras and units listed.
        expect(items.first).to_have_class(re.compile(r"\bselected\b"))
        detail = queue.locator(".aq-detail")
        expect(detail).to_contain_text("Vendor stall 12")
        marker = page.locator(f'.alert-marker[data-alert-id="{alert.pk}"]')
        map_center = _center(page.locator("#map"))

        def centred():
            at = _center(marker)
            return at and abs(at[0] - map_center[0]) <= 3 and abs(at[1] - map_center[1]) <= 3

        _wait_until(centred, "the map is not centred on the alert")
        cameras = detail.locator(".camera-rank-item")
        expect(cameras).to_have_count(1)
        expect(cameras.first).to_have_class(re.compile(r"\bcan-see\b"))
        expect(cameras.first).to_contain_text("1st Ave & Pine")
        expect(detail.locator(".unit-rank-item")).to_have_count(1)
        expect(detail.locator(".unit-rank-item")).to_contain_text("4D40")

        # 3. The other alert, then back: a click selects and centres.
        items.nth(1).locator(".aq-select").click()
        expect(detail).to_contain_text("Door sensor: Pier 62")
        expect(detail.locator(".sp-cameras .sp-empty")).to_have_text("No camera near this alert.")
        items.first.locator(".aq-select").click()
        expect(detail).to_contain_text("Vendor stall 12")
        _wait_until(centred, "the map is not centred on the alert again")

        # 4. Opening the camera is audited, with the alert as the reason.
        detail.locator(".camera-rank-item").first.get_by_role("button", name="Open").click()
        expect(page.locator("#camera-dock .camera-tile .stream-viewer img")).to_be_visible()
        opened = _wait_until(
            lambda: AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).first(),
            "no audit record of the camera opening",
        )
        assert opened.username == "queue-operator"
        assert opened.reason == f"Alert {alert.pk}: Panic button: Pike Place Market"

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "alert-queue.png"))

        # 5. Acknowledge with a note: audited with the note; the alert leaves the queue and the map.
        form = detail.locator(".ack-form")
        expect(form.locator(".ack-outcome")).to_have_count(0)  # an outcome is asked of hotlist hits only
        form.locator("textarea[name=note]").fill("Unit 4D40 on scene, false alarm by vendor")
        form.get_by_role("button", name="Acknowledge").click()
        expect(items).to_have_count(1)
        expect(queue.locator(f'.aq-item[data-alert-id="{alert.pk}"]')).to_have_count(0)
        expect(queue.locator(".aq-gone")).to_be_visible()
        expect(queue.locator(".aq-count")).to_have_text("1 pending")
        expect(marker).to_have_count(0)
        ack = AuditEvent.objects.get(action=AuditAction.ALERT_ACK)
        assert ack.reason == "Unit 4D40 on scene, false alarm by vendor"
        assert ack.object_id == str(alert.pk) and ack.username == "queue-operator"
        alert.refresh_from_db()
        assert alert.status == "acknowledged" and alert.ack_note == ack.reason

        # 6. The header counter closes the queue.
        counter.click()
        expect(queue).to_be_hidden()
        watch.assert_clean()
    finally:
        context.close()
