"""Hardening: no user text reaches GDAL/OGR (GDAL 3.6 cannot block file and network access from a spatial
reference): a recorder of every text-parsing GDAL entry point proves it while real imports, pushes and
API queries run, and a scan of our code finds no call that would hand it text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.gis.gdal.prototypes import ds as gdal_ds
from django.contrib.gis.gdal.prototypes import geom as gdal_geom
from django.contrib.gis.gdal.prototypes import raster as gdal_raster
from django.contrib.gis.gdal.prototypes import srs as gdal_srs
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.core.geo import ALLOWED_SRIDS
from apps.feeds.models import FeedSource
from apps.intake.errors import ImportFileError
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec
from apps.zones.models import Zone

from . import factories as f
from .hardening_support import ROOT, geojson_file, logged_in, square

# Every GDAL entry point that parses text (a spatial reference, a geometry, a data source or raster
# name). Our code may use none of them with outside input; the recorder proves it while real
# imports, pushes and API queries run.
GDAL_TEXT_ENTRY_POINTS = [
    (gdal_srs, "from_user_input"),
    (gdal_srs, "from_wkt"),
    (gdal_srs, "from_proj"),
    (gdal_srs, "from_xml"),
    (gdal_geom, "from_json"),
    (gdal_geom, "from_wkt"),
    (gdal_geom, "from_gml"),
    (gdal_ds, "open_ds"),
    (gdal_raster, "open_ds"),
    (gdal_raster, "create_ds"),
]


def _texts(args: tuple[Any, ...]) -> list[bytes]:
    return [a if isinstance(a, bytes) else a.encode() for a in args if isinstance(a, bytes | str)]


@pytest.fixture
def gdal_calls(db, monkeypatch) -> Iterator[list[str]]:
    """Records (and refuses) every call into GDAL's text parsers during a test.

    The one text GDAL may parse is PostGIS's own WKT for an allow-listed SRID: Django's distance
    functions ask GDAL whether EPSG:4326 is geodetic, reading the WKT from spatial_ref_sys."""
    from django.db import connection

    allowed = {
        wkt.encode()
        for (wkt,) in connection.ops.spatial_ref_sys().objects.filter(srid__in=ALLOWED_SRIDS).values_list("srtext")
    }
    calls: list[str] = []
    for module, name in GDAL_TEXT_ENTRY_POINTS:
        if not hasattr(module, name):
            continue
        real = getattr(module, name)

        def guard(*args: Any, _name: str = f"{module.__name__}.{name}", _real: Any = real, **kwargs: Any) -> Any:
            texts = _texts(args)
            if texts and all(text in allowed for text in texts):
                return _real(*args, **kwargs)
            calls.append(f"{_name}{args!r}"[:300])
            raise AssertionError(f"outside text reached GDAL: {_name}")

        monkeypatch.setattr(module, name, guard)
    yield calls


def test_the_recorder_catches_a_spatial_reference_from_text(gdal_calls):
    from django.contrib.gis.gdal import SpatialReference

    with pytest.raises(AssertionError):
        SpatialReference("/etc/passwd")
    assert gdal_calls and "from_user_input" in gdal_calls[0]


# Names in our own code that hand text to GDAL/OGR or reproject; none may appear (if one is ever
# needed, it gets an entry here with the reason it is safe).
GDAL_NAMES = re.compile(
    r"\b(SpatialReference|CoordTransform|OGRGeometry|GDALRaster|DataSource|LayerMapping|OGRGeomType)\b"
    r"|\.transform\(|\bfrom_gml\(|GEOSGeometry\((?!\))"
)


# (file, the line's text) allowed to match GDAL_NAMES, each with why it is safe.
GDAL_ALLOWED = {
    # pyproj (PROJ), not GDAL: both CRSs are constants in the code (EPSG:4326 and a UTM zone
    # computed from the data's longitude), never text from a request or a file.
    ("apps/hotspots/analysis.py", "x, y = forward.transform(points.lon, points.lat)"),
    ("apps/hotspots/analysis.py", "lon, lat = back.transform(corners_x, corners_y)"),
    # The street importer opens an operator's local OSM file with GDAL's OSM driver only: the path
    # must be a regular file (no /vsi* or URL), checked before this line (apps/tiles/services.py).
    ("apps/tiles/services.py", "from django.contrib.gis.gdal import DataSource, GDALException"),
    ("apps/tiles/services.py", "source = DataSource(str(path))"),
    # pyproj (PROJ), not GDAL: the service area's local projection is built from the centre of the agency's own
    # zones (numbers), never text from a file or a request.
    ("apps/zones/area.py", "return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))"),
    ("apps/zones/area.py", "return shapely.transform(geom, coords)"),
    ("apps/zones/area.py", "local = shapely.Point(*self.forward.transform(lon, lat))"),
}


def test_no_code_hands_text_to_gdal():
    offenders = []
    for path in sorted([*ROOT.joinpath("apps").rglob("*.py"), *ROOT.joinpath("rtcc_gis").rglob("*.py")]):
        if "migrations" in path.parts:
            continue
        name = str(path.relative_to(ROOT))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if GDAL_NAMES.search(line) and (name, line.strip()) not in GDAL_ALLOWED:
                offenders.append(f"{name}:{number}: {line.strip()}")
    assert offenders == []


HOSTILE_CRS_NAMES = [
    "/etc/passwd",
    "file:///etc/passwd",
    "http://169.254.169.254/latest/meta-data/",
    "https://example.org/crs.prj",
    "/vsicurl/http://example.org/x",
    "dict:/etc/passwd,4326",
    "+proj=longlat +init=/etc/passwd",
    "EPSG:3857",
    "urn:ogc:def:crs:EPSG::900913",
]


@pytest.mark.parametrize("name", HOSTILE_CRS_NAMES)
def test_importer_refuses_a_collection_crs_naming_a_file_or_url(tmp_path, home, gdal_calls, name):
    feature = {
        "type": "Feature",
        "properties": {"code": "B1", "kind": "beat"},
        "geometry": {"type": "Polygon", "coordinates": square()},
    }
    path = geojson_file(
        tmp_path,
        {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": name}}, "features": [feature]},
    )
    with pytest.raises(ImportFileError, match="crs|SRID"):
        import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert gdal_calls == []
    assert not Zone.objects.exists()


def test_importer_refuses_linked_crs_and_crs_on_a_feature(tmp_path, home, gdal_calls):
    link = {"type": "link", "properties": {"href": "http://example.org/crs", "type": "proj4"}}
    path = geojson_file(tmp_path, {"type": "FeatureCollection", "crs": link, "features": []})
    with pytest.raises(ImportFileError, match="crs type 'link' is not supported"):
        import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "kind": "beat"},
            "crs": {"type": "name", "properties": {"name": name}},
            "geometry": {"type": "Polygon", "coordinates": square()},
        }
        for code, name in (("B1", "/etc/passwd"), ("B2", "EPSG:4326"))
    ]
    result = import_layer(
        layer="zones",
        path=geojson_file(tmp_path, {"type": "FeatureCollection", "features": features}),
        agency=home,
        spec=MappingSpec(),
    )
    assert [r.index for r in result.rejected] == [1] and "not understood" in result.rejected[0].reason
    assert list(Zone.objects.values_list("code", flat=True)) == ["B2"]
    assert gdal_calls == []


def test_a_crs_inside_a_geometry_is_never_read(tmp_path, home, gdal_calls):
    """The importer builds geometries number by number in EPSG:4326, so a crs member inside a
    geometry object (not GeoJSON at all) is inert: nothing opens the file it names."""
    geometry = {
        "type": "Polygon",
        "coordinates": square(),
        "crs": {"type": "name", "properties": {"name": "/etc/passwd"}},
    }
    path = geojson_file(
        tmp_path,
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"code": "B1", "kind": "beat"}, "geometry": geometry}],
        },
    )
    result = import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert result.created == 1 and gdal_calls == []
    assert Zone.objects.get().geom.srid == 4326


@pytest.mark.parametrize(
    "query",
    [
        "in_bbox=-122.5,47.5,-122.2,47.7",
        "in_bbox=/etc/passwd",
        "in_bbox=SRID=3857;POLYGON((0 0,1 0,1 1,0 0))",
        'in_bbox={"type":"Polygon","crs":{"type":"name","properties":{"name":"/etc/passwd"}}}',
        "in_bbox=-122.5,47.5,-122.2,47.7&since=2024-01-01&until=2030-01-01T00:00:00Z&status=pending",
    ],
)
def test_layer_queries_never_touch_gdal(operator_client, home, gdal_calls, query):
    f.incident(agency=home)
    f.zone(agency=home)
    for layer in ("incidents", "cameras", "units", "zones", "alerts", "gunshots", "alpr/sites", "alpr/reads"):
        response = operator_client.get(f"/api/{layer}/?{query}")
        assert response.status_code in (200, 400), (layer, response.content)
    assert gdal_calls == []


@pytest.mark.parametrize("name", ["/etc/passwd", "file:///etc/passwd", "http://169.254.169.254/x", "dict:/etc/x,1"])
def test_admin_refuses_a_geometry_whose_crs_names_a_file_or_url(home, name):
    """The admin's map widget posts GeoJSON text that Django hands to OGR's GeoJSON reader (staff only);
    Django 5.2.19 screens its crs member first, so a file or URL never reaches GDAL from there either."""
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, is_staff=True, is_superuser=True)
    ring = [[f.LON, f.LAT], [f.LON + 0.01, f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON, f.LAT]]
    geom = {"type": "MultiPolygon", "coordinates": [[ring]], "crs": {"type": "name", "properties": {"name": name}}}
    form = {"agency": home.pk, "kind": "beat", "code": "X", "name": "X", "geom": json.dumps(geom)}
    response = logged_in(admin).post("/admin/zones/zone/add/", form)
    assert response.status_code == 400
    assert not Zone.objects.exists()


def test_incident_detail_and_rankings_never_touch_gdal(operator_client, home, gdal_calls):
    incident = f.incident(agency=home)
    f.camera(agency=home)
    f.unit(agency=home)
    for path in ("", "cameras/?limit=5", "units/?limit=5"):
        assert operator_client.get(f"/api/incidents/{incident.pk}/{path}").status_code == 200
    assert gdal_calls == []


def test_feed_areas_never_touch_gdal(home, gdal_calls):
    """CAP and EIDO carry polygons and circles: they are read as numbers too."""
    source = FeedSource.objects.create(agency=home, name="cap", kind="cap")
    token = source.issue_token()
    cap = (
        '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>A1</identifier>'
        "<sent>2024-05-01T12:00:00-07:00</sent><info><event>Alarm</event><headline>Door</headline>"
        f"<area><areaDesc>x</areaDesc><polygon>{f.LAT},{f.LON} {f.LAT + 0.001},{f.LON} "
        f"{f.LAT + 0.001},{f.LON + 0.001} {f.LAT},{f.LON}</polygon></area></info></alert>"
    )
    response = APIClient().post(
        "/api/feeds/push/", data=cap, content_type="application/xml", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code in (200, 400)
    assert gdal_calls == []
