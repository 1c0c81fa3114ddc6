"""Cameras and units near an alert (GET /api/alerts/{pk}/cameras/ and /units/): the incident side
panel's ranking, around the alert's location, for the alerts the user may see."""

import pytest

from apps.core.geo import destination

from . import factories as f


@pytest.fixture
def scene(home):
    """Around the default spot: a camera that sees it, a nearer one looking away, an offline one
    that would see it, two available units and a busy nearer one."""
    lon, lat = destination(f.LON, f.LAT, 270, 40)
    seer = f.camera(agency=home, name="seer", lon=lon, lat=lat, heading=90, fov_angle=60, fov_range=80)
    lon, lat = destination(f.LON, f.LAT, 0, 10)
    f.camera(agency=home, name="away", lon=lon, lat=lat, heading=0, fov_angle=60, fov_range=80)
    lon, lat = destination(f.LON, f.LAT, 180, 20)
    f.camera(agency=home, name="offline", lon=lon, lat=lat, status="offline", heading=0, fov_angle=60, fov_range=80)
    lon, lat = destination(f.LON, f.LAT, 90, 300)
    f.unit(agency=home, call_sign="1A1", lon=lon, lat=lat)
    lon, lat = destination(f.LON, f.LAT, 90, 600)
    f.unit(agency=home, call_sign="1A2", lon=lon, lat=lat)
    lon, lat = destination(f.LON, f.LAT, 90, 50)
    f.unit(agency=home, call_sign="BUSY", lon=lon, lat=lat, status="busy")
    return {"seer": seer}


def test_alert_ranking_is_the_incident_ranking(operator_client, home, scene):
    alert = f.alert(agency=home, kind="gunshot", title="Gunshots detected: 3 rounds")
    incident = f.incident(agency=home)  # the same spot
    cams = operator_client.get(f"/api/alerts/{alert.pk}/cameras/?limit=5").json()
    assert cams["alert"] == alert.pk and "reason" not in cams
    assert cams["results"] == operator_client.get(f"/api/incidents/{incident.pk}/cameras/?limit=5").json()["results"]
    assert [r["camera"]["name"] for r in cams["results"]] == ["seer", "offline", "away"]
    assert cams["results"][0]["can_see"] is True and cams["results"][0]["reason"]
    assert cams["results"][0]["distance_m"] == pytest.approx(40, abs=0.5)

    units = operator_client.get(f"/api/alerts/{alert.pk}/units/").json()
    incident_units = operator_client.get(f"/api/incidents/{incident.pk}/units/").json()["results"]
    assert [r["unit"]["call_sign"] for r in units["results"]] == ["1A1", "1A2"]  # busy ones are not offered
    assert [r["unit"] for r in units["results"]] == [r["unit"] for r in incident_units]
    assert units["results"][0]["distance_m"] == pytest.approx(300, abs=1)

    one = operator_client.get(f"/api/alerts/{alert.pk}/cameras/?limit=1").json()["results"]
    assert [r["camera"]["id"] for r in one] == [scene["seer"].pk]
    for bad in ("0", "51", "x"):
        response = operator_client.get(f"/api/alerts/{alert.pk}/units/?limit={bad}")
        assert response.status_code == 400 and "limit" in response.json()


def test_alert_without_location_gives_an_empty_list_with_a_reason(operator_client, home, scene):
    alert = f.alert(agency=home, kind="sensor", title="Door sensor")
    alert.location = None
    alert.save(update_fields=["location"])
    for what in ("cameras", "units"):
        response = operator_client.get(f"/api/alerts/{alert.pk}/{what}/")
        assert response.status_code == 200
        assert response.json() == {"alert": alert.pk, "results": [], "reason": "the alert has no location"}


def test_alert_nearby_is_scoped_and_needs_view_layers(
    home, scene, operator_client, outsider_client, auditor_client, anon_client, outsider, other_agency
):
    alert = f.alert(agency=home)
    for what in ("cameras", "units"):
        url = f"/api/alerts/{alert.pk}/{what}/"
        assert outsider_client.get(url).status_code == 404
        assert auditor_client.get(url).status_code == 403
        assert anon_client.get(url).status_code == 401
        assert operator_client.get(f"/api/alerts/999999/{what}/").status_code == 404
    # The outsider's own alert at the same spot: the home agency's cameras and units stay hidden.
    theirs = f.alert(agency=other_agency)
    assert outsider_client.get(f"/api/alerts/{theirs.pk}/cameras/").json()["results"] == []
    assert outsider_client.get(f"/api/alerts/{theirs.pk}/units/").json()["results"] == []
    own_cam = f.camera(agency=other_agency, name="theirs")
    cams = outsider_client.get(f"/api/alerts/{theirs.pk}/cameras/").json()["results"]
    assert [r["camera"]["id"] for r in cams] == [own_cam.pk]


def test_another_agencys_hotlist_hit_stays_hidden_without_shared_reads(home, other_agency, outsider_client):
    from apps.accounts.permissions import Layer
    from apps.accounts.services import agency_sharing_create

    agency_sharing_create(owner_id=home.pk, partner_id=other_agency.pk, layers=[Layer.ALERTS])
    hit = f.alert(agency=home, kind="hotlist_hit", title="Hotlist hit ABC1234")
    panic = f.alert(agency=home, kind="panic")
    assert outsider_client.get(f"/api/alerts/{panic.pk}/cameras/").status_code == 200
    assert outsider_client.get(f"/api/alerts/{hit.pk}/cameras/").status_code == 404
