"""Writes outside the feeds reach the maps: an edit, add or delete in the admin (cameras, incidents, units,
zones) and the silent-camera task publish the live event, read back from the Redis stream the maps follow.

The admin is driven as a browser would: the change page is fetched, its form read from the HTML as it is
(hidden inputs, selects, the Leaflet widget's GeoJSON), one field changed, and the form posted back.
"""

from __future__ import annotations

import json
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.utils import timezone

from apps.cameras.models import Camera
from apps.cameras.tasks import cameras_mark_silent_unknown
from apps.incidents.models import Incident
from apps.units.models import Unit
from apps.zones.models import Zone

from . import factories as f
from .stream_support import stream_events

pytestmark = pytest.mark.django_db(transaction=True)


class _Form(HTMLParser):
    """The fields of the page's main form, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._in_form = False
        self._select: str | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and a.get("method", "").lower() == "post" and "_form" in (a.get("id") or ""):
            self._in_form = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "file"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.setdefault(name, []).append(a.get("value") or ("on" if kind == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self.data[self._select].append(a.get("value") or "")
        elif tag == "textarea" and name:
            self._textarea = name
            self.data[name] = [""]

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            self.data[self._textarea][0] = self.data[self._textarea][0].lstrip("\n")
            self._textarea = None
        elif tag == "form":
            self._in_form = False


def admin_form(client, url: str) -> dict[str, list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    form = _Form()
    form.feed(response.content.decode())
    assert form.data, "no admin form on the page"
    return form.data


def post_admin(client, url: str, data: dict[str, list[str]]) -> None:
    response = client.post(url, data)
    # The admin redirects after a save; a 200 is the form again, with its errors.
    errors = response.context["adminform"].form.errors if response.status_code == 200 else None
    assert response.status_code == 302, errors


def geojson_square(lon: float, lat: float, half: float) -> str:
    poly = Polygon.from_bbox((lon - half, lat - half, lon + half, lat + half))
    return MultiPolygon(poly, srid=4326).geojson


@pytest.fixture
def admin(client, home, live):
    client.force_login(f.user(agency=home, role="agency_admin", is_staff=True, is_superuser=True))
    return client


def _upserts(agency_id: int, layer: str) -> list[dict]:
    return [e for e in stream_events(agency_id) if e["type"] == "feature.upserted" and e["layer"] == layer]


# ---- cameras -------------------------------------------------------------------------------------------


def test_camera_edit_in_the_admin_reaches_the_map(admin, home):
    camera = f.camera(agency=home, name="Pike St")
    url = f"/admin/cameras/camera/{camera.pk}/change/"
    data = admin_form(admin, url)
    data["name"] = ["Pike St north"]
    data["heading"] = ["135"]
    post_admin(admin, url, data)

    (event,) = _upserts(home.pk, "cameras")
    assert event["feature"]["id"] == camera.pk
    assert event["feature"]["properties"]["name"] == "Pike St north"
    assert event["feature"]["properties"]["heading"] == 135


def test_camera_retired_in_the_admin_leaves_the_map_and_a_deleted_one_too(admin, home):
    kept, gone = f.camera(agency=home), f.camera(agency=home)
    url = f"/admin/cameras/camera/{kept.pk}/change/"
    data = admin_form(admin, url)
    data.pop("active")  # an unticked box is not submitted
    post_admin(admin, url, data)
    response = admin.post(f"/admin/cameras/camera/{gone.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    assert [(e["type"], e["id"]) for e in stream_events(home.pk)] == [
        ("feature.removed", kept.pk),
        ("feature.removed", gone.pk),
    ]
    assert not Camera.objects.filter(pk=gone.pk).exists()


def test_camera_moved_to_another_agency_leaves_the_old_agency_map(admin, home, other_agency):
    camera = f.camera(agency=home)
    url = f"/admin/cameras/camera/{camera.pk}/change/"
    data = admin_form(admin, url)
    data["agency"] = [str(other_agency.pk)]
    post_admin(admin, url, data)

    assert [(e["type"], e.get("id")) for e in stream_events(home.pk)] == [("feature.removed", camera.pk)]
    assert [e["feature"]["id"] for e in _upserts(other_agency.pk, "cameras")] == [camera.pk]


def test_cameras_deleted_by_the_admin_bulk_action_leave_the_map(admin, home):
    cameras = [f.camera(agency=home) for _ in range(3)]
    response = admin.post(
        "/admin/cameras/camera/",
        {"action": "delete_selected", "_selected_action": [c.pk for c in cameras[:2]], "post": "yes"},
    )
    assert response.status_code == 302
    assert sorted(e["id"] for e in stream_events(home.pk) if e["type"] == "feature.removed") == sorted(
        c.pk for c in cameras[:2]
    )
    assert list(Camera.objects.values_list("pk", flat=True)) == [cameras[2].pk]


# ---- units ---------------------------------------------------------------------------------------------


def test_unit_edit_in_the_admin_reaches_the_map(admin, home):
    unit = f.unit(agency=home, call_sign="2A12")
    url = f"/admin/units/unit/{unit.pk}/change/"
    data = admin_form(admin, url)
    data["status"] = ["out_of_service"]
    post_admin(admin, url, data)

    (event,) = _upserts(home.pk, "units")
    assert (event["feature"]["id"], event["feature"]["properties"]["status"]) == (unit.pk, "out_of_service")
    Unit.objects.get(pk=unit.pk, status="out_of_service")


def test_unit_deleted_in_the_admin_leaves_the_map(admin, home):
    unit = f.unit(agency=home)
    response = admin.post(f"/admin/units/unit/{unit.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert [(e["type"], e["id"]) for e in stream_events(home.pk)] == [("feature.removed", unit.pk)]


# ---- incidents -----------------------------------------------------------------------------------------


def test_incident_edit_in_the_admin_reaches_the_map(admin, home):
    incident = f.incident(agency=home, status="pending")
    url = f"/admin/incidents/incident/{incident.pk}/change/"
    data = admin_form(admin, url)
    data["status"] = ["dispatched"]
    post_admin(admin, url, data)

    (event,) = _upserts(home.pk, "incidents")
    assert (event["feature"]["id"], event["feature"]["properties"]["status"]) == (incident.pk, "dispatched")


def test_incident_added_in_the_admin_is_placed_on_its_beat_and_reaches_the_map(admin, home):
    beat = f.zone(agency=home, code="K2")
    data = admin_form(admin, "/admin/incidents/incident/add/")
    now = timezone.localtime()
    data |= {
        "agency": [str(home.pk)],
        "cad_number": ["ADM-1"],
        "type_code": ["THEFT"],
        "priority": ["2"],
        "status": ["pending"],
        "call_source": ["unknown"],
        "address": ["15XX PIKE PL"],
        "location": [json.dumps({"type": "Point", "coordinates": [f.LON, f.LAT]})],
        "received_at_0": [now.strftime("%Y-%m-%d")],
        "received_at_1": [now.strftime("%H:%M:%S")],
    }
    post_admin(admin, "/admin/incidents/incident/add/", data)

    incident = Incident.objects.get(cad_number="ADM-1")
    assert (incident.beat_id, incident.location_approximate) == (beat.pk, True)  # "15XX": a block, not a door
    (event,) = _upserts(home.pk, "incidents")
    assert event["feature"]["id"] == incident.pk
    assert event["feature"]["properties"]["beat"] == "K2"


def test_incident_moved_in_the_admin_takes_the_beat_of_its_new_place(admin, home):
    f.zone(agency=home, code="K1")  # around f.LON, f.LAT
    east = f.zone(agency=home, code="K2", bbox=(f.LON + 0.05, f.LAT - 0.01, f.LON + 0.07, f.LAT + 0.01))
    incident = f.incident(agency=home)
    url = f"/admin/incidents/incident/{incident.pk}/change/"
    data = admin_form(admin, url)
    data["location"] = [json.dumps({"type": "Point", "coordinates": [f.LON + 0.06, f.LAT]})]
    post_admin(admin, url, data)

    assert Incident.objects.get(pk=incident.pk).beat_id == east.pk
    (event,) = _upserts(home.pk, "incidents")
    assert event["feature"]["properties"]["beat"] == "K2"


def test_incidents_deleted_by_the_admin_bulk_action_leave_the_map(admin, home):
    incidents = [f.incident(agency=home) for _ in range(2)]
    response = admin.post(
        "/admin/incidents/incident/",
        {"action": "delete_selected", "_selected_action": [i.pk for i in incidents], "post": "yes"},
    )
    assert response.status_code == 302
    assert sorted(e["id"] for e in stream_events(home.pk)) == sorted(i.pk for i in incidents)
    assert not Incident.objects.exists()


# ---- zones ---------------------------------------------------------------------------------------------


def test_beat_redrawn_in_the_admin_moves_its_incidents_on_the_map(admin, home):
    """Zones are no live layer; a beat is part of each incident's feature, so its incidents are published."""
    beat = f.zone(agency=home, code="K2")
    inside = f.incident(agency=home)  # at f.LON, f.LAT
    elsewhere = f.incident(agency=home, lon=f.LON + 0.05)
    outside_before = f.incident(agency=home, lon=f.LON + 0.02)
    Incident.objects.filter(pk=inside.pk).update(beat=beat)
    url = f"/admin/zones/zone/{beat.pk}/change/"
    data = admin_form(admin, url)
    data["geom"] = [geojson_square(f.LON + 0.02, f.LAT, 0.005)]  # now around `outside_before` only
    post_admin(admin, url, data)

    beats = dict(Incident.objects.values_list("pk", "beat_id"))
    assert beats == {inside.pk: None, elsewhere.pk: None, outside_before.pk: beat.pk}
    published = {e["feature"]["id"]: e["feature"]["properties"]["beat"] for e in _upserts(home.pk, "incidents")}
    assert published == {inside.pk: None, outside_before.pk: "K2"}


def test_beat_added_in_the_admin_takes_the_incidents_inside_it(admin, home):
    inside, outside = f.incident(agency=home), f.incident(agency=home, lon=f.LON + 0.5)
    data = admin_form(admin, "/admin/zones/zone/add/")
    data |= {
        "agency": [str(home.pk)],
        "kind": ["beat"],
        "code": ["N3"],
        "name": ["North 3"],
        "geom": [geojson_square(f.LON, f.LAT, 0.01)],
    }
    post_admin(admin, "/admin/zones/zone/add/", data)

    assert Incident.objects.get(pk=inside.pk).beat.code == "N3"
    assert Incident.objects.get(pk=outside.pk).beat is None
    assert [(e["feature"]["id"], e["feature"]["properties"]["beat"]) for e in _upserts(home.pk, "incidents")] == [
        (inside.pk, "N3")
    ]


def test_beat_deleted_in_the_admin_hands_its_incidents_to_the_beat_under_them(admin, home):
    first = f.zone(agency=home, code="K1")
    second = f.zone(agency=home, code="K2")  # the same square: K1 (lower id) wins while it exists
    incident = f.incident(agency=home)
    Incident.objects.filter(pk=incident.pk).update(beat=first)
    response = admin.post(f"/admin/zones/zone/{first.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302

    assert Incident.objects.get(pk=incident.pk).beat_id == second.pk
    (event,) = _upserts(home.pk, "incidents")
    assert (event["feature"]["id"], event["feature"]["properties"]["beat"]) == (incident.pk, "K2")


def test_a_zone_that_is_not_a_beat_changes_no_incident(admin, home):
    sector = f.zone(agency=home, kind="sector", code="S1")
    f.incident(agency=home)
    url = f"/admin/zones/zone/{sector.pk}/change/"
    data = admin_form(admin, url)
    data["name"] = ["North sector"]
    post_admin(admin, url, data)
    assert Zone.objects.get(pk=sector.pk).name == "North sector"
    assert stream_events(home.pk) == []


def test_a_bowtie_beat_drawn_in_the_admin_is_repaired_not_a_500(admin, home):
    data = admin_form(admin, "/admin/zones/zone/add/")
    ring = [[f.LON, f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON + 0.01, f.LAT], [f.LON, f.LAT + 0.01], [f.LON, f.LAT]]
    bowtie = {"type": "MultiPolygon", "coordinates": [[ring]]}
    data |= {
        "agency": [str(home.pk)],
        "kind": ["beat"],
        "code": ["B7"],
        "name": ["Bowtie"],
        "geom": [json.dumps(bowtie)],
    }
    post_admin(admin, "/admin/zones/zone/add/", data)
    zone = Zone.objects.get(code="B7")
    assert zone.geom.valid
    assert zone.geom.area == pytest.approx(0.01 * 0.01 / 2)  # both triangles kept


# ---- the silent-camera task ----------------------------------------------------------------------------


def test_silent_cameras_marked_unknown_reach_the_map(home, live):
    now = timezone.now()
    silent_for = timedelta(seconds=settings.RTCC_CAMERA_SILENT_SECONDS + 60)
    fresh = f.camera(agency=home, status="online", last_seen=now)
    silent = f.camera(agency=home, status="online", last_seen=now - silent_for)
    retired = f.camera(agency=home, status="online", last_seen=now - silent_for, active=False)

    assert cameras_mark_silent_unknown() == 2

    assert [(e["feature"]["id"], e["feature"]["properties"]["status"]) for e in _upserts(home.pk, "cameras")] == [
        (silent.pk, "unknown")
    ]
    statuses = dict(Camera.objects.values_list("pk", "status"))
    assert statuses == {fresh.pk: "online", silent.pk: "unknown", retired.pk: "unknown"}


def test_many_silent_cameras_are_one_reload_of_the_layer(home, live, settings):
    from apps.cameras import services

    old = timezone.now() - timedelta(seconds=settings.RTCC_CAMERA_SILENT_SECONDS + 60)
    for _ in range(services.LIVE_ROWS_MAX + 1):
        f.camera(agency=home, status="online", last_seen=old)

    assert cameras_mark_silent_unknown() == services.LIVE_ROWS_MAX + 1

    assert [(e["type"], e["layer"]) for e in stream_events(home.pk)] == [("layer.reloaded", "cameras")]
