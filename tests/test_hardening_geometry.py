"""Hardening: areas that cannot be used as drawn (self-intersecting, spiked, out of range) are repaired
without losing a lobe, or refused with the field named, in geo helpers and the zone importer.
"""

from __future__ import annotations

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon

from apps.core.geo import GeoInputError, check_extent, repair_area
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec
from apps.zones.models import Zone

from . import factories as f
from .hardening_support import geojson_file, square


def test_repair_keeps_every_lobe_of_a_figure_eight():
    bowtie = Polygon(((0, 0), (1, 1), (1, 0), (0, 1), (0, 0)), srid=4326)
    repaired = repair_area(bowtie)
    assert repaired.valid and repaired.srid == 4326
    assert repaired.area == pytest.approx(0.5)
    assert len(repaired) == 2


def test_repair_drops_a_spike_and_keeps_the_area():
    spike = Polygon(((0, 0), (2, 0), (2, 2), (1, 2), (1, 3), (1, 2), (0, 2), (0, 0)), srid=4326)
    repaired = repair_area(spike)
    assert repaired.valid and repaired.area == pytest.approx(4.0)


def test_valid_areas_pass_unchanged():
    square = MultiPolygon(Polygon.from_bbox((0, 0, 1, 1)), srid=4326)
    assert repair_area(square) is square


@pytest.mark.parametrize(
    "geom, message",
    [
        (Polygon(((0, 0), (1, 0), (2, 0), (0, 0)), srid=4326), "no area"),
        (Polygon.from_bbox((170, 0, 190, 1)), "longitude"),
        (Polygon.from_bbox((0, 80, 1, 95)), "latitude"),
        (Polygon.from_bbox((500000, 5000000, 500100, 5000100)), "longitude"),
        (Polygon(), "empty"),
    ],
)
def test_areas_that_cannot_be_used_are_refused(geom, message):
    with pytest.raises(GeoInputError, match=message):
        repair_area(geom)


def test_extent_check_names_the_field():
    with pytest.raises(GeoInputError, match="beat has a latitude"):
        check_extent(Polygon.from_bbox((0, -95, 1, 1)), "beat")


def test_importer_stores_a_self_intersecting_zone_valid_or_refuses_it(tmp_path, home):
    bowtie = [
        [[f.LON, f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON + 0.01, f.LAT], [f.LON, f.LAT + 0.01], [f.LON, f.LAT]]
    ]
    line = [[[f.LON, f.LAT], [f.LON + 0.01, f.LAT], [f.LON + 0.02, f.LAT], [f.LON, f.LAT]]]
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "kind": "beat"},
            "geometry": {"type": "Polygon", "coordinates": coordinates},
        }
        for code, coordinates in (("BOW", bowtie), ("LINE", line))
    ]
    path = geojson_file(tmp_path, {"type": "FeatureCollection", "features": features})
    result = import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert [r.index for r in result.rejected] == [2]
    zone = Zone.objects.get(code="BOW")
    assert zone.geom.valid


def test_importer_keeps_both_lobes_of_a_figure_eight_zone(tmp_path, home):
    bowtie = [
        [[f.LON, f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON + 0.01, f.LAT], [f.LON, f.LAT + 0.01], [f.LON, f.LAT]]
    ]
    path = geojson_file(
        tmp_path,
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": "BOW", "kind": "beat"},
                    "geometry": {"type": "Polygon", "coordinates": bowtie},
                }
            ],
        },
    )
    import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert Zone.objects.get(code="BOW").geom.area == pytest.approx(0.00005)


@pytest.mark.parametrize(
    "coordinates, reason",
    [
        (square(lon=200.0), "longitude"),
        (square(lat=95.0), "latitude"),
        ([[[1e400, 0], [1, 0], [1, 1], [1e400, 0]]], "finite"),
        ([[[f.LON, f.LAT], [f.LON + 0.01, f.LAT], [f.LON, f.LAT]]], "at least 4"),
        ([[[f.LON, f.LAT], ["x", f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON, f.LAT]]], "numbers"),
    ],
)
def test_importer_refuses_zone_coordinates_out_of_range(tmp_path, home, coordinates, reason):
    path = geojson_file(
        tmp_path,
        {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "properties": {"code": "Z", "kind": "beat"},
                    "geometry": {"type": "Polygon", "coordinates": coordinates},
                }
            ],
        },
    )
    result = import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert result.created == 0 and reason in result.rejected[0].reason
