"""The spatial questions operators ask: which cameras see this spot, which units are nearest."""

import pytest

from apps.cameras.selectors import cameras_seeing_point
from apps.core.geo import destination, make_point
from apps.units.selectors import units_nearest

from . import factories as f

LON, LAT = f.LON, f.LAT


def at(bearing, metres):
    return destination(LON, LAT, bearing, metres)


@pytest.fixture
def scene(home, other_agency):
    """Cameras around an incident at (LON, LAT), each placed to test one rule."""
    # Looks at the incident from 40 m west, online, live.
    lon, lat = at(270, 40)
    sees = f.camera(agency=home, name="sees", lon=lon, lat=lat, heading=90, fov_angle=60, fov_range=80)
    # Closer (20 m) but pointing away.
    lon, lat = at(0, 20)
    away = f.camera(agency=home, name="away", lon=lon, lat=lat, heading=0, fov_angle=60, fov_range=80)
    # In view but offline.
    lon, lat = at(180, 30)
    offline = f.camera(
        agency=home, name="offline", lon=lon, lat=lat, heading=0, fov_angle=90, fov_range=80, status="offline"
    )
    # In view, online, but community "on request" only.
    lon, lat = at(90, 25)
    on_request = f.camera(
        agency=home,
        name="on_request",
        lon=lon,
        lat=lat,
        heading=270,
        fov_angle=90,
        fov_range=80,
        owner_kind="community",
        sharing="on_request",
    )
    # PTZ 70 m away sees everything within 100 m.
    lon, lat = at(45, 70)
    ptz = f.camera(agency=home, name="ptz", lon=lon, lat=lat, ptz=True, fov_range=100)
    # Short range: pointing at the incident but it is beyond its range.
    lon, lat = at(200, 60)
    short = f.camera(agency=home, name="short", lon=lon, lat=lat, heading=20, fov_angle=60, fov_range=30)
    # Would see it perfectly, but belongs to another agency.
    lon, lat = at(270, 10)
    f.camera(agency=other_agency, name="foreign", lon=lon, lat=lat, heading=90, fov_angle=60, fov_range=80)
    # Inactive camera right on top of it.
    f.camera(agency=home, name="retired", heading=None, ptz=True, fov_range=50, active=False)
    # Far away (3 km): outside the search radius.
    lon, lat = at(0, 3000)
    f.camera(agency=home, name="far", lon=lon, lat=lat, ptz=True, fov_range=100)
    return {"sees": sees, "away": away, "offline": offline, "on_request": on_request, "ptz": ptz, "short": short}


def test_cameras_that_see_rank_first_then_in_view_then_near(scene, operator):
    ranked = cameras_seeing_point(user=operator, point=make_point(LON, LAT), limit=10)
    names = [r["camera"]["name"] for r in ranked]
    # Tier 0 (can see: in view, online, live) by distance; tier 1 (in view, unusable) by distance;
    # tier 2 (near only) by distance.
    assert names == ["sees", "ptz", "on_request", "offline", "away", "short"]
    by_name = {r["camera"]["name"]: r for r in ranked}
    assert by_name["sees"]["can_see"] and by_name["sees"]["in_view"]
    assert by_name["sees"]["distance_m"] == pytest.approx(40, abs=0.5)
    assert "online, live view allowed" in by_name["sees"]["reason"]
    assert by_name["ptz"]["can_see"] and "360" in by_name["ptz"]["reason"]
    assert not by_name["offline"]["can_see"] and "offline" in by_name["offline"]["reason"]
    assert "on request" in by_name["on_request"]["reason"]
    assert not by_name["away"]["in_view"] and "pointing away" in by_name["away"]["reason"]
    assert "beyond its 30 m range" in by_name["short"]["reason"]


def test_camera_limit_and_scope(scene, operator, outsider):
    ranked = cameras_seeing_point(user=operator, point=make_point(LON, LAT), limit=2)
    assert [r["camera"]["name"] for r in ranked] == ["sees", "ptz"]
    foreign = cameras_seeing_point(user=outsider, point=make_point(LON, LAT), limit=10)
    assert [r["camera"]["name"] for r in foreign] == ["foreign"]


def test_nearest_available_units(home, other_agency, operator):
    lon, lat = at(90, 500)
    near = f.unit(agency=home, call_sign="NEAR", lon=lon, lat=lat)
    lon, lat = at(180, 1200)
    far = f.unit(agency=home, call_sign="FAR", lon=lon, lat=lat)
    lon, lat = at(0, 100)
    f.unit(agency=home, call_sign="BUSY", lon=lon, lat=lat, status="dispatched")
    f.unit(agency=home, call_sign="NOWHERE", lon=None)
    lon, lat = at(0, 50)
    f.unit(agency=other_agency, call_sign="FOREIGN", lon=lon, lat=lat)
    result = units_nearest(user=operator, point=make_point(LON, LAT), limit=5)
    assert [r["unit"]["call_sign"] for r in result] == ["NEAR", "FAR"]
    assert result[0]["distance_m"] == pytest.approx(500, abs=1)
    assert result[1]["distance_m"] == pytest.approx(1200, abs=2)
    assert result[0]["unit"]["id"] == near.pk and result[1]["unit"]["id"] == far.pk
    assert units_nearest(user=operator, point=make_point(LON, LAT), limit=1)[0]["unit"]["call_sign"] == "NEAR"


@pytest.mark.parametrize("kw", [{"heading": None}, {"ptz": True, "heading": 90}, {"heading": 0, "fov_angle": 360}])
def test_all_round_camera_just_outside_its_view_polygon_gets_a_reason(home, kw):
    # The all-round view is stored as straight segments inside the range circle, so a point within
    # range can still fall outside the polygon; that used to crash formatting a missing heading.
    from apps.cameras.selectors import _reason

    cam = f.camera(agency=home, fov_range=100, **kw)
    assert _reason(cam, 99.9, False) == "nearby (100 m) at the edge of its 100 m range (360° coverage)"
