"""Strict parsing of user geo input; no user text reaches GDAL."""

import pytest

from apps.cameras.geometry import view_polygon
from apps.core.geo import GeoInputError, check_srid, destination, make_point, parse_bbox


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "four numbers"),
        ("1,2,3", "four numbers"),
        ("a,b,c,d", "must be a number"),
        ("-122.4,47.5,-122.5,47.7", "smaller"),
        ("-200,47.5,-122.2,47.7", "longitude"),
        ("-122.4,95,-122.2,96", "latitude"),
        ("nan,47.5,-122.2,47.7", "finite"),
        ("inf,47.5,-122.2,47.7", "finite"),
    ],
)
def test_bad_bbox_is_refused_with_reason(text, message):
    with pytest.raises(GeoInputError, match=message):
        parse_bbox(text)


def test_bbox_parses_to_polygon_in_4326():
    poly = parse_bbox("-122.4,47.5,-122.2,47.7")
    assert poly.srid == 4326
    assert poly.extent == (-122.4, 47.5, -122.2, 47.7)


@pytest.mark.parametrize("srid", ["3857", "900913", "EPSG:4326", "+proj=longlat", "/etc/passwd", None])
def test_only_allow_listed_srids(srid):
    with pytest.raises(GeoInputError):
        check_srid(srid)
    assert check_srid("4326") == 4326


def test_make_point_range_checks():
    assert make_point("-122.3", "47.6").coords == (-122.3, 47.6)
    with pytest.raises(GeoInputError):
        make_point(181, 0)
    with pytest.raises(GeoInputError):
        make_point(0, -91)


def test_destination_matches_known_distance():
    # 1 km due north is ~0.008993 degrees of latitude.
    lon, lat = destination(-122.33, 47.6, 0, 1000)
    assert lon == pytest.approx(-122.33)
    assert lat - 47.6 == pytest.approx(0.008993, abs=1e-5)


def test_view_polygon_is_a_sector_pointing_along_heading():
    poly = view_polygon(-122.33, 47.6, 90, 60, 100, ptz=False)
    assert poly.valid
    east = make_point(*destination(-122.33, 47.6, 90, 50))
    west = make_point(*destination(-122.33, 47.6, 270, 50))
    far_east = make_point(*destination(-122.33, 47.6, 90, 150))
    assert poly.covers(east)
    assert not poly.covers(west)
    assert not poly.covers(far_east)


def test_ptz_view_is_a_full_circle():
    poly = view_polygon(-122.33, 47.6, 90, 60, 100, ptz=True)
    for bearing in (0, 90, 180, 270):
        assert poly.covers(make_point(*destination(-122.33, 47.6, bearing, 80)))
