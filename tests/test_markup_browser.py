"""No markup from data: markup put into every text field of every layer reaches the page as text.

Headless Chromium on a real Daphne server (test_map_live.py's), so the same payloads arrive both
ways the map gets data: loaded over REST from the database, and pushed through the feed endpoints
and delivered over the live socket. The test opens what shows that text (tooltips, popups, the
incident panel, the unit list, the alert queue, search results, playback, the video wall and
/measures/) and asserts, for each page:

- no element was ever made from a payload: an init script watches every node added to the page
  (a tooltip that has closed again still counts), and no <b>, no <img src=x-rtcc-probe…>, no
  on* handler and no javascript: link may appear;
- no request went to a payload's URL and no dialog opened (PageWatch also refuses console errors,
  so a CSP report about an inline handler fails it too);
- each payload IS on the page as literal text, so the data was shown, escaped, not dropped.
"""

from __future__ import annotations

import os
from datetime import UTC, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from apps.accounts.choices import Role
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.geo import make_point
from apps.feeds.models import FeedSource
from apps.incidents.models import Incident, NarrativeEntry
from apps.sensors.models import Alert
from apps.units.models import Unit, UnitPosition

from . import factories as f
from .browser_support import ARTIFACTS, CHROMIUM, PageWatch
from .test_map_live import _osmand_via_server, _push_via_server, _token, daphne  # noqa: F401 - daphne is a fixture

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),  # committed: the Daphne process reads the same database
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"Debian chromium not installed at {CHROMIUM}"),
]

CENTER = (-122.3321, 47.6062)  # the map's default centre (settings.LEAFLET_CONFIG), as lon, lat
PROBE = "x-rtcc-probe"


def long_payload(tag: str) -> str:
    """All three shapes at once, for fields of 200 characters or more (103 + 2 * len(tag))."""
    return (
        f'<b>X</b><img src={PROBE}-{tag} onerror=alert(1)>"><svg onload=alert(2)><a href=javascript:alert(3)>{tag}</a>'
    )


def short_payload(tag: str) -> str:
    """For 32-character fields (call signs, type and zone codes): a tag of at most 2 characters."""
    return f"<b>{tag}</b><img src={PROBE}>"


# The element that any of the payloads would become, were it inserted as HTML.
BAD_SELECTOR = f'b, img[src*="{PROBE}"], svg[onload], [onerror], [onload], a[href^="javascript:" i]'

# Runs before the page's own scripts (Playwright's init script is not subject to the page's CSP).
WATCH_NODES = """
(() => {
  const bad = BAD_SELECTOR;
  window.__rtccProbeHits = [];
  const check = (node) => {
    if (node.nodeType !== 1) return;
    if (node.matches(bad)) window.__rtccProbeHits.push(node.outerHTML.slice(0, 200));
    for (const inner of node.querySelectorAll(bad)) window.__rtccProbeHits.push(inner.outerHTML.slice(0, 200));
  };
  new MutationObserver((records) => {
    for (const record of records) for (const node of record.addedNodes) check(node);
  }).observe(document, { childList: true, subtree: true });
})();
""".replace("BAD_SELECTOR", repr(BAD_SELECTOR))


# A popup, a tooltip (bound, then replaced) and a divIcon given a string, on a map of their own.
GUARD_JS = """
(payload) => {
  const box = document.createElement("div");
  document.body.append(box);
  const map = window.L.map(box, { center: [0, 0], zoom: 2 });
  const popup = window.L.popup().setLatLng([0, 0]).setContent(payload).openOn(map);
  const marker = window.L.marker([0, 0], { icon: window.L.divIcon({ html: payload }) }).addTo(map);
  marker.bindTooltip(payload, { permanent: true }).openTooltip();
  const bound = marker.getTooltip().getElement().textContent;
  marker.setTooltipContent(() => payload);
  const shown = [
    popup.getElement().querySelector(".leaflet-popup-content").textContent,
    marker.getElement().textContent,
    bound,
    marker.getTooltip().getElement().textContent,
  ];
  map.remove();
  box.remove();
  return shown;
}
"""


class MarkupWatch:
    """What a payload could have done on the page: elements, requests, dialogs."""

    def __init__(self, page):
        self.page = page
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        page.add_init_script(WATCH_NODES)
        page.on("request", self._request)
        page.on("dialog", self._dialog)

    def _request(self, request):
        if PROBE in request.url or request.url.lower().startswith("javascript:"):
            self.requests.append(request.url)

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def assert_inert(self):
        """Call before leaving a page: the node log is the page's own."""
        added = self.page.evaluate("window.__rtccProbeHits || null")
        assert added is not None, "the node watcher did not run"
        present = self.page.evaluate(
            "(bad) => [...document.querySelectorAll(bad)].map((n) => n.outerHTML.slice(0, 200))", BAD_SELECTOR
        )
        assert added == [] and present == [], f"elements made from data: {added or present}"
        assert self.requests == [], f"requests made from data: {self.requests}"
        assert self.dialogs == [], f"dialogs opened by data: {self.dialogs}"


# ---- the data ---------------------------------------------------------------------------------------

# Text fields loaded from the database (REST) ...
DB = {
    "zone_code": short_payload("Z1"),
    "zone_name": long_payload("zone-name"),
    "camera_name": long_payload("cam-name"),
    "camera_owner": long_payload("cam-owner"),
    "cad": f"<b>X</b><img src={PROBE} onerror=alert(1)>C1",  # 64 characters at most
    "type_code": short_payload("T1"),
    "type_description": long_payload("type-desc"),
    "address": long_payload("address"),
    "narrative_author": '"><svg onload=alert(2)><a href=javascript:alert(3)>N</a>',
    "narrative_text": long_payload("narrative"),
    "call_sign": short_payload("U1"),
    "site_name": long_payload("site-name"),
    "hotlist_name": long_payload("hotlist"),
    "hotlist_reason": long_payload("hl-reason"),
    "alert_title": long_payload("alert-title"),
    "alert_detail": long_payload("alert-detail"),
    "username": f"<b>X</b><img src={PROBE} onerror=alert(1)>user",
}
# ... and pushed through the feed endpoints (the map gets them over the live socket).
PUSHED = {
    "cad": f"<a href=javascript:alert(3)>C2</a><img src={PROBE}>",
    "type_code": short_payload("T2"),
    "type_description": long_payload("pushed-desc"),
    "address": long_payload("pushed-addr"),
    "narrative": long_payload("pushed-narr"),
    "device": short_payload("U2"),
    "alert_title": long_payload("pushed-title"),
    "alert_detail": long_payload("pushed-detail"),
}
PLATE = "PRB123"  # plates and their states are validated at ingest: no markup gets that far


def _at(dlon: float, dlat: float) -> tuple[float, float]:
    return round(CENTER[0] + dlon, 6), round(CENTER[1] + dlat, 6)


# Far enough apart (>= 0.04 degrees, > 100 px at zoom 12) that nothing clusters.
SPOTS = {
    "incident": _at(0.04, -0.02),
    "unit": _at(-0.06, 0.03),
    "camera": _at(0.003, -0.045),  # sees the stored alert: the queue's camera ranking lists it
    "site": _at(0.10, 0.04),
    "alert": _at(0.0, -0.045),
    "gunshot": _at(-0.10, -0.04),
    "call": _at(0.16, -0.02),
    "device": _at(-0.16, 0.0),
    "pushed_alert": _at(0.05, 0.06),
    "read": _at(0.15, 0.06),
}


def _scene(home):
    """Every layer's text fields, with markup in each, as the database holds them."""
    lon, lat = CENTER
    f.zone(
        agency=home,
        kind="district",
        code=DB["zone_code"],
        name=DB["zone_name"],
        bbox=(lon - 0.3, lat - 0.12, lon + 0.3, lat + 0.12),
    )
    camera = f.camera(
        agency=home,
        name=DB["camera_name"],
        owner_kind="partner",
        owner_name=DB["camera_owner"],
        lon=SPOTS["camera"][0],
        lat=SPOTS["camera"][1],
        heading=None,
        ptz=True,
        fov_range=300,
        sharing="on_request",
        stream_kind="",
        stream_url="",
    )
    now = timezone.now()
    incident = f.incident(
        agency=home,
        cad_number=DB["cad"],
        type_code=DB["type_code"],
        type_description=DB["type_description"],
        address=DB["address"],
        status="pending",
        lon=SPOTS["incident"][0],
        lat=SPOTS["incident"][1],
        received_at=now - timedelta(minutes=40),
    )
    NarrativeEntry.objects.create(
        incident=incident,
        author=DB["narrative_author"],
        text=DB["narrative_text"],
        entered_at=now - timedelta(minutes=39),
    )
    unit = f.unit(
        agency=home,
        call_sign=DB["call_sign"],
        lon=SPOTS["unit"][0],
        lat=SPOTS["unit"][1],
        last_seen=now - timedelta(minutes=2),
    )
    for minutes, dlat in ((50, -0.004), (30, -0.002), (2, 0.0)):
        UnitPosition.objects.create(
            unit=unit,
            location=make_point(SPOTS["unit"][0], SPOTS["unit"][1] + dlat),
            recorded_at=now - timedelta(minutes=minutes),
        )
    f.alpr_site(agency=home, name=DB["site_name"], lon=SPOTS["site"][0], lat=SPOTS["site"][1])
    from apps.alpr.models import Hotlist

    hotlist = Hotlist.objects.create(agency=home, name=DB["hotlist_name"])
    f.hotlist_entry(agency=home, hotlist=hotlist, plate=PLATE, reason=DB["hotlist_reason"])
    alert = f.alert(
        agency=home,
        title=DB["alert_title"],
        detail=DB["alert_detail"],
        kind="panic",
        lon=SPOTS["alert"][0],
        lat=SPOTS["alert"][1],
        raised_at=now - timedelta(minutes=20),
    )
    f.gunshot(
        agency=home, lon=SPOTS["gunshot"][0], lat=SPOTS["gunshot"][1], rounds=3, detected_at=now - timedelta(minutes=10)
    )
    return {"camera": camera, "incident": incident, "unit": unit, "alert": alert}


def _push_everything(server: str, home) -> dict:
    """The pushed payloads, each through its feed endpoint on the Daphne server (which publishes)."""
    stamp = timezone.now() - timedelta(minutes=5)
    cad = _token(home, "cad_json")
    call = {
        "cad_number": PUSHED["cad"],
        "type_code": PUSHED["type_code"],
        "type_description": PUSHED["type_description"],
        "priority": 1,
        "lon": SPOTS["call"][0],
        "lat": SPOTS["call"][1],
        "received_at": stamp.isoformat(),
        "address": PUSHED["address"],
        "narrative": [{"time": stamp.isoformat(), "text": PUSHED["narrative"], "author": PUSHED["type_code"]}],
    }
    assert _push_via_server(server, cad, [call])["accepted"] == 1
    # A phone the center does not know yet: its device id becomes the new unit's call sign.
    avl = FeedSource.objects.create(agency=home, name="osmand (markup)", kind="osmand", auto_create_units=True)
    avl = avl.issue_token()
    fix = _osmand_via_server(server, avl, PUSHED["device"], *SPOTS["device"], int(stamp.timestamp()))
    assert fix["accepted"] == 1, str(fix)
    alerts = _token(home, "alert_json")
    raised = {
        "id": "probe-1",
        "kind": "sensor",
        "title": PUSHED["alert_title"],
        "detail": PUSHED["alert_detail"],
        "lon": SPOTS["pushed_alert"][0],
        "lat": SPOTS["pushed_alert"][1],
        "raised_at": stamp.isoformat(),
    }
    assert _push_via_server(server, alerts, [raised])["accepted"] == 1
    alpr = _token(home, "alpr_json")
    read = {
        "plate": PLATE,
        "state": "WA",
        "read_at": stamp.isoformat(),
        "lon": SPOTS["read"][0],
        "lat": SPOTS["read"][1],
    }
    assert _push_via_server(server, alpr, [read])["accepted"] == 1
    return {
        "incident": Incident.objects.get(cad_number=PUSHED["cad"]),
        "unit": Unit.objects.get(call_sign=PUSHED["device"]),
        "alert": Alert.objects.get(title=PUSHED["alert_title"]),
        "hit_alert": Alert.objects.get(kind="hotlist_hit"),
    }


# ---- the browser ------------------------------------------------------------------------------------


def _open(browser, server: str, username: str, path: str = "/"):
    context = browser.new_context(viewport={"width": 1600, "height": 900}, locale="en-US", timezone_id="UTC")
    page = context.new_page()
    watch = PageWatch(page, server)
    markup = MarkupWatch(page)
    page.goto(f"{server}{path}")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}{path}")
    return context, page, watch, markup


def _hover(page, selector: str):
    page.locator(selector).first.dispatch_event("mouseover")


def _click(page, selector: str):
    page.locator(selector).first.dispatch_event("click")


def _shows(locator, *texts: str):
    for text in texts:
        sync_api.expect(locator).to_contain_text(text)


def test_the_live_map_shows_markup_from_rest_and_the_socket_as_text(browser, daphne):  # noqa: F811 - the fixture
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.WATCH_COMMANDER, username="markup-cmd")
    scene = _scene(home)
    expect = sync_api.expect
    context, page, watch, markup = _open(browser, daphne, "markup-cmd")
    try:
        expect(page.locator("#live-state")).to_have_attribute("data-state", "live", timeout=15_000)
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)
        tooltip = page.locator(".leaflet-tooltip-pane")
        popup = page.locator(".leaflet-popup-pane")
        panel = page.locator("#side-panel")

        # 1. Loaded over REST: zone label, camera, incident, unit, ALPR site, alert.
        _shows(page.locator(".zone-label"), DB["zone_code"])
        camera = f'.camera-marker[data-camera-id="{scene["camera"].pk}"]'
        _hover(page, camera)
        _shows(tooltip, DB["camera_name"])
        _click(page, camera)
        _shows(popup, DB["camera_name"], DB["camera_owner"])
        incident = f'.incident-marker[data-incident-id="{scene["incident"].pk}"]'
        _hover(page, incident)
        _shows(tooltip, DB["cad"], DB["type_code"], DB["type_description"], DB["address"])
        _click(page, incident)
        _shows(panel, DB["cad"], DB["type_code"], DB["type_description"], DB["address"])
        _shows(panel.locator(".sp-narrative"), DB["narrative_author"], DB["narrative_text"])
        page.keyboard.press("Escape")
        unit = f'.unit-marker[data-unit-id="{scene["unit"].pk}"]'
        _shows(page.locator(unit), DB["call_sign"])
        _click(page, f"{unit} .unit-chip")
        _shows(popup, DB["call_sign"])
        page.locator(".ul-toggle").click()
        _shows(page.locator(".ul-list"), DB["call_sign"])
        _hover(page, ".alpr-site-marker")
        _shows(tooltip, DB["site_name"])
        _click(page, ".alpr-site-marker")
        _shows(popup, DB["site_name"])
        alert = f'.alert-marker[data-alert-id="{scene["alert"].pk}"]'
        _hover(page, alert)
        _shows(tooltip, DB["alert_title"])
        _click(page, f"{alert} .alert-glyph")
        _shows(popup, DB["alert_title"], DB["alert_detail"])

        # 2. Search: the hits name incidents, units, cameras and zones by their text.
        page.fill("#search-input", "rtcc-probe")
        _shows(page.locator("#search-results"), DB["cad"], DB["address"], DB["camera_name"], DB["zone_name"])
        page.fill("#search-input", "img src")
        _shows(page.locator("#search-results"), DB["call_sign"])
        page.keyboard.press("Escape")

        # 3. Pushed through the feeds: each arrives over the socket and shows as text.
        pushed = _push_everything(daphne, home)
        call = f'.incident-marker[data-incident-id="{pushed["incident"].pk}"]'
        expect(page.locator(call)).to_have_count(1)
        _hover(page, call)
        _shows(tooltip, PUSHED["cad"], PUSHED["type_code"], PUSHED["type_description"], PUSHED["address"])
        _click(page, call)
        _shows(panel, PUSHED["cad"], PUSHED["type_description"], PUSHED["address"])
        _shows(panel.locator(".sp-narrative"), PUSHED["narrative"])
        page.keyboard.press("Escape")
        device = f'.unit-marker[data-unit-id="{pushed["unit"].pk}"]'
        expect(page.locator(device)).to_have_count(1)
        _shows(page.locator(device), PUSHED["device"])
        _shows(page.locator(".ul-list"), PUSHED["device"])
        _click(page, f"{device} .unit-chip")
        _shows(popup, PUSHED["device"])
        hit = page.locator(".alpr-hit-marker")
        expect(hit).to_have_count(1)
        _shows(hit, PLATE)
        _click(page, ".alpr-hit-marker")
        _shows(popup, DB["hotlist_name"], DB["hotlist_reason"])
        raised = f'.alert-marker[data-alert-id="{pushed["alert"].pk}"]'
        expect(page.locator(raised)).to_have_count(1)
        _hover(page, raised)
        _shows(tooltip, PUSHED["alert_title"])
        _click(page, f"{raised} .alert-glyph")
        _shows(popup, PUSHED["alert_title"], PUSHED["alert_detail"])

        # 4. The alert queue (opened by the new-alert counter): the list, the detail, the rankings.
        page.locator("#alert-counter").click()
        queue = page.locator("#alert-queue")
        expect(queue).to_be_visible()
        _shows(queue.locator(".aq-list"), DB["alert_title"], PUSHED["alert_title"], DB["hotlist_reason"])
        queue.locator(f'.aq-item[data-alert-id="{pushed["alert"].pk}"] .aq-select').click()
        _shows(queue.locator(".aq-detail"), PUSHED["alert_title"], PUSHED["alert_detail"])
        queue.locator(f'.aq-item[data-alert-id="{scene["alert"].pk}"] .aq-select').click()
        _shows(queue.locator(".aq-detail"), DB["alert_title"], DB["alert_detail"], DB["camera_name"])
        _shows(queue.locator(".aq-detail .unit-rank-list"), DB["call_sign"], PUSHED["device"])

        # 5. A string handed to Leaflet itself (as a new layer might) is text as well (leaflet.js).
        shown = page.evaluate(GUARD_JS, f"<b>X</b><img src={PROBE}-leaflet>")
        assert shown == [f"<b>X</b><img src={PROBE}-leaflet>"] * 4, shown

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "markup-live.png"))
        markup.assert_inert()
        watch.assert_clean()
    finally:
        context.close()


def test_playback_shows_pushed_and_stored_markup_as_text(browser, daphne):  # noqa: F811 - the fixture
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.WATCH_COMMANDER, username="markup-cmd")
    _scene(home)
    _push_everything(daphne, home)
    expect = sync_api.expect
    context, page, watch, markup = _open(browser, daphne, "markup-cmd")
    try:
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)
        page.click("#playback-button")
        # The hour that ends now holds every record of the scene and every push.
        around = timezone.now().astimezone(UTC) - timedelta(minutes=30)
        page.fill(
            ".playback-panel input[type=datetime-local]",
            around.astimezone(ZoneInfo(home.time_zone)).strftime("%Y-%m-%dT%H:%M"),
        )
        page.fill(".pb-reason", "case 26-0999")
        page.click(".pb-form button[type=submit]")
        page.wait_for_selector("html[data-playback=ready]")
        page.eval_on_selector(".pb-slider", "(s) => { s.value = '1000'; s.dispatchEvent(new Event('input')); }")
        # units, incidents, alerts, gunshots on the map at the end of the hour
        visible = page.get_attribute(".playback-panel", "data-visible")
        assert visible == "2,2,3,1", visible
        # The units' permanent labels are the pushed and the stored call signs, as text.
        labels = page.locator(".leaflet-tooltip-pane .pb-unit-label")
        expect(labels).to_have_count(2)
        tooltip = page.locator(".leaflet-tooltip-pane")
        for selector in ("path.pb-incident", "path.pb-alert"):
            for i in range(page.locator(selector).count()):
                page.locator(selector).nth(i).dispatch_event("mouseover")
        markup.assert_inert()
        _shows(tooltip, DB["call_sign"], PUSHED["device"])
        _shows(tooltip, DB["cad"], DB["type_code"], PUSHED["cad"], PUSHED["type_code"])
        _shows(tooltip, DB["alert_title"], PUSHED["alert_title"], DB["hotlist_reason"])
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "markup-playback.png"))
        markup.assert_inert()
        watch.assert_clean()
    finally:
        context.close()


def test_the_wall_and_measures_show_markup_as_text(browser, daphne):  # noqa: F811 - the fixture
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.WATCH_COMMANDER, username="markup-cmd")
    scene = _scene(home)
    # An operator whose name came from a directory with markup in it, with work to count.
    odd = f.user(agency=home, role=Role.OPERATOR, username=DB["username"])
    audit_record(user=odd, action=AuditAction.ALERT_ACK, obj=scene["alert"], reason="test")
    expect = sync_api.expect
    context, page, watch, markup = _open(browser, daphne, "markup-cmd", "/measures/")
    try:
        expect(page.locator("html[data-measures-state=ready]")).to_have_count(1, timeout=15_000)
        _shows(page.locator("#ms-workload"), DB["username"])
        markup.assert_inert()

        # The wall for the incident: its CAD number in the title bar (server-rendered) and in the note
        # (no camera may be watched live: the only one shares on request).
        incident = scene["incident"]
        page.goto(f"{daphne}/wall/?incident={incident.pk}")
        expect(page.locator("#wall-grid")).to_have_attribute("data-state", "empty")
        _shows(page.locator(".brand-sub"), DB["cad"])
        _shows(page.locator(".wall-note"), DB["cad"])
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)
        # The wall's map is the live map, centred on the call: its tooltip too is text.
        _hover(page, f'.incident-marker[data-incident-id="{incident.pk}"]')
        _shows(page.locator(".leaflet-tooltip-pane"), DB["cad"], DB["type_description"], DB["address"])
        markup.assert_inert()

        # The wall for chosen cameras: the tile names the camera.
        query = urlencode({"cameras": scene["camera"].pk, "reason": "markup test"})
        page.goto(f"{daphne}/wall/?{query}")
        tile = page.locator(f'.wall-tile[data-camera-id="{scene["camera"].pk}"]')
        expect(tile).to_have_attribute("data-state", "refused")
        _shows(tile, DB["camera_name"])
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1, timeout=15_000)
        page.screenshot(path=str(ARTIFACTS / "markup-wall.png"))
        markup.assert_inert()
        watch.assert_clean()
    finally:
        context.close()
