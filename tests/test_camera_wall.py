"""The video-wall page (/wall/): who may put which cameras on it, what a bad address says, and the
audit record a wall's stream leaves (display "wall"). The page in Chromium: test_camera_video_browser.py."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.audit.models import AuditEvent

from . import factories as f

pytestmark = pytest.mark.django_db


def page(user, query: str = ""):
    client = Client()
    if user is not None:
        client.force_login(user)
    return client.get(f"/wall/{query}")


def wall_of(response) -> dict:
    assert response.status_code == 200, response.content
    return response.context["config"]["wall"]


def test_signed_out_goes_to_login():
    response = page(None, "?cameras=1")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/wall/")


def test_cameras_in_the_order_given_with_a_fitting_grid(operator, home):
    a = f.camera(agency=home, name="A", lon=f.LON + 0.001)
    b = f.camera(agency=home, name="B", stream_kind="mjpeg", stream_url="https://video.example.test/b.mjpg")
    c = f.camera(agency=home, name="C")
    response = page(operator, f"?cameras={c.pk},{a.pk},{b.pk},{a.pk}")
    wall = wall_of(response)
    assert [cam["name"] for cam in wall["cameras"]] == ["C", "A", "B"]
    assert wall["cameras"][2]["stream_kind"] == "mjpeg"
    assert "stream_url" not in str(response.context["config"])  # handed out only by the audited POST
    assert wall["layout"] == {"cols": 2, "rows": 2}
    assert wall["incident"] is None
    assert response.context["config"]["zoom"] == 16
    assert b'src="/static/rtcc/js/wall.js"' in response.content


def test_layout_and_reason_are_taken_as_given(operator, home):
    cam = f.camera(agency=home)
    wall = wall_of(page(operator, f"?cameras={cam.pk}&layout=3x3&reason=  Parade   detail "))
    assert wall["layout"] == {"cols": 3, "rows": 3}
    assert wall["reason"] == "Parade detail"


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("?cameras=abc", "cameras: 'abc' is not a camera id"),
        ("?cameras=1,,2", "cameras: '' is not a camera id"),
        ("?cameras=-3", "cameras: '-3' is not a camera id"),
        ("?cameras=" + ",".join(str(i) for i in range(1, 18)), "at most 16 cameras"),
        ("?cameras=%C2%B2", "cameras: '²' is not a camera id"),
        ("?cameras=99999999999999999999", "is not a camera id"),
        ("?incident=x", "incident: 'x' is not an incident id"),
        ("?cameras=1&incident=1", "cameras, incident: give one or the other"),
        ("?layout=5x5", "layout: expected columns x rows"),
        ("?layout=big", "layout: expected columns x rows"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(operator, query, needle):
    response = page(operator, query)
    assert response.status_code == 400
    assert needle in response.content.decode()


def test_a_layout_too_small_for_the_cameras_is_refused(operator, home):
    a, b = f.camera(agency=home), f.camera(agency=home)
    response = page(operator, f"?cameras={a.pk},{b.pk}&layout=1x1")
    assert response.status_code == 400
    assert "layout: 1x1 holds 1 tiles, 2 cameras given" in response.content.decode()


def test_cameras_the_user_cannot_see_are_not_found(operator, home, other_agency):
    mine = f.camera(agency=home)
    theirs = f.camera(agency=other_agency)
    retired = f.camera(agency=home, active=False)
    response = page(operator, f"?cameras={mine.pk},{theirs.pk},{retired.pk},999999")
    assert response.status_code == 404
    assert response.content.decode() == f"cameras: no camera {theirs.pk}, {retired.pk}, 999999 that you can see"


def test_roles_without_live_streams_get_the_map_but_no_tiles(planner, auditor, home):
    cam = f.camera(agency=home)
    incident = f.incident(agency=home)
    for user in (planner, auditor):
        for query in (f"?cameras={cam.pk}", f"?incident={incident.pk}"):
            response = page(user, query)
            assert response.status_code == 403
            # An auditor's role has no map at all (README's role table), so no wall either.
            refusal = "does not include the map" if user == auditor else "may not watch live camera streams"
            assert refusal in response.content.decode()
    assert wall_of(page(planner))["cameras"] == []


def test_incident_wall_shows_its_ranked_live_cameras(operator, home, other_agency):
    incident = f.incident(agency=home, cad_number="SPD-26-000777", type_code="ROBBERY")
    near = f.camera(agency=home, name="Near", lon=f.LON + 0.0002)
    f.camera(agency=home, name="Recorded only", sharing="on_request", lon=f.LON + 0.0001)
    f.camera(agency=home, name="No stream", stream_kind="", stream_url="", lon=f.LON + 0.0001)
    further = f.camera(agency=home, name="Further", lon=f.LON + 0.0015)
    f.camera(agency=other_agency, name="Not ours", lon=f.LON)
    response = page(operator, f"?incident={incident.pk}")
    wall = wall_of(response)
    assert [cam["id"] for cam in wall["cameras"]] == [near.pk, further.pk]
    assert wall["incident"] == {"id": incident.pk, "cad_number": "SPD-26-000777", "type_code": "ROBBERY"}
    assert wall["layout"] == {"cols": 2, "rows": 1}  # up to 2x2 by default, shrunk to fit
    assert response.context["config"]["center"] == pytest.approx([f.LAT, f.LON])
    assert b"SPD-26-000777" in response.content

    # The layout caps how many of the ranked cameras go up.
    assert [cam["id"] for cam in wall_of(page(operator, f"?incident={incident.pk}&layout=1x1"))["cameras"]] == [near.pk]


def test_another_agencys_incident_is_not_found(operator, other_agency):
    incident = f.incident(agency=other_agency)
    response = page(operator, f"?incident={incident.pk}")
    assert response.status_code == 404
    assert response.content.decode() == f"incident: no incident {incident.pk} that you can see"


def test_the_wall_is_read_only(operator):
    client = Client()
    client.force_login(operator)
    assert client.post("/wall/").status_code == 405


def test_a_wall_stream_is_audited_as_shown_on_the_wall(operator_client, home):
    cam = f.camera(agency=home)
    response = operator_client.post(
        f"/api/cameras/{cam.pk}/stream/", {"reason": "Video wall: Parade detail", "display": "wall"}, format="json"
    )
    assert response.status_code == 200
    event = AuditEvent.objects.get(action="camera.stream_open")
    assert event.reason == "Video wall: Parade detail"
    assert event.detail["display"] == "wall"

    operator_client.post(f"/api/cameras/{cam.pk}/stream/", {"reason": "case 7"}, format="json")
    assert AuditEvent.objects.latest("pk").detail["display"] == "dock"

    bad = operator_client.post(f"/api/cameras/{cam.pk}/stream/", {"reason": "x", "display": "tv"}, format="json")
    assert bad.status_code == 400
    assert "display" in bad.json()
