"""Every layer is editable in the admin with a Leaflet map widget, and no page needs the internet."""

import re

import pytest

from . import factories as f

MODELS = [
    "incidents/incident",
    "cameras/camera",
    "units/unit",
    "units/unitposition",
    "alpr/alprsite",
    "alpr/alprread",
    "alpr/hotlist",
    "sensors/gunshotdetection",
    "sensors/alert",
    "zones/zone",
    "audit/auditevent",
    "accounts/agency",
    "accounts/user",
]
MAP_MODELS = [m for m in MODELS if m.split("/")[1] not in ("hotlist", "auditevent", "agency", "user")]


@pytest.fixture
def admin_client(client, home):
    admin = f.user(agency=home, role="agency_admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    f.incident(agency=home)
    f.camera(agency=home)
    f.zone(agency=home)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelists_render(admin_client, model):
    assert admin_client.get(f"/admin/{model}/").status_code == 200


@pytest.mark.parametrize("model", [m for m in MAP_MODELS if m != "alpr/alprread"])
def test_add_forms_have_a_leaflet_map_and_no_external_assets(admin_client, model):
    response = admin_client.get(f"/admin/{model}/add/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "leaflet" in html.lower()
    external = re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
    assert external == []


def test_camera_edit_recomputes_view(admin_client, home):
    from apps.cameras.models import Camera

    camera = Camera.objects.get()
    before = camera.view.wkt
    camera.heading = (camera.heading or 0) + 90
    camera.save()
    camera.refresh_from_db()
    assert camera.view.wkt != before


def test_audit_events_are_read_only_in_admin(admin_client):
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
