"""Hardening: security headers and CSP, production settings, no user text to GDAL, input limits.

The browser half (the map page served under its CSP without a single violation) is at the end and
runs in headless Chromium like tests/test_map_browser.py.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.contrib.gis.gdal.prototypes import ds as gdal_ds
from django.contrib.gis.gdal.prototypes import geom as gdal_geom
from django.contrib.gis.gdal.prototypes import raster as gdal_raster
from django.contrib.gis.gdal.prototypes import srs as gdal_srs
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.core.geo import ALLOWED_SRIDS, GeoInputError, check_extent, repair_area
from apps.core.security import CSP_HEADER, PERMISSIONS_POLICY_HEADER, content_security_policy
from apps.feeds.models import DeadLetter, FeedSource
from apps.intake.errors import ImportFileError
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec
from apps.zones.models import Zone
from rtcc_gis.settings import csp_source, csp_tile_source

from . import factories as f

ROOT = Path(__file__).resolve().parent.parent
STRONG_SECRET = "x" * 20 + secrets.token_urlsafe(48)


def directives(header: str) -> dict[str, list[str]]:
    """A CSP header as {directive: [sources]}."""
    result: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            result[words[0]] = words[1:]
    return result


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# ---------------------------------------------------------------------------------------------------------------------
# Security headers and the Content-Security-Policy


def test_map_page_is_served_under_a_strict_policy(operator):
    response = logged_in(operator).get("/")
    assert response.status_code == 200
    csp = directives(response[CSP_HEADER])
    assert csp["default-src"] == ["'self'"]
    # No inline code and no eval on the map page: the whole point of the policy.
    assert csp["script-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    # Leaflet styles through the CSSOM, which CSP does not govern: no inline styles needed either.
    assert csp["style-src"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:", "blob:"]
    assert csp["connect-src"] == ["'self'", "ws://testserver"]
    assert "nonce" not in response[CSP_HEADER]
    assert "geolocation=()" in response[PERMISSIONS_POLICY_HEADER]
    assert "camera=()" in response[PERMISSIONS_POLICY_HEADER]
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_map_html_has_no_inline_script_to_allow(operator):
    """What the policy refuses must not be in the page: every executable script comes from a file."""

    class Scripts(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.inline: list[dict[str, str | None]] = []
            self.handlers: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            self.handlers += [name for name, _ in attrs if name.startswith("on")]
            if tag == "script" and "src" not in found and found.get("type") != "application/json":
                self.inline.append(found)

    scan = Scripts()
    scan.feed(logged_in(operator).get("/").content.decode())
    assert scan.inline == []
    assert scan.handlers == []


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/incidents/", "/api/schema/", "/no/such/page/"])
def test_every_response_carries_the_headers(operator, path):
    response = logged_in(operator).get(path)
    assert response.status_code in (200, 302, 404)
    assert directives(response[CSP_HEADER])["script-src"] == ["'self'"]
    assert PERMISSIONS_POLICY_HEADER in response


def test_https_request_names_the_secure_socket(operator):
    response = logged_in(operator).get("/", secure=True)
    assert directives(response[CSP_HEADER])["connect-src"] == ["'self'", "wss://testserver"]


def test_a_host_we_do_not_serve_is_refused_without_reaching_the_policy(operator):
    response = logged_in(operator).get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert directives(response[CSP_HEADER])["connect-src"] == ["'self'"]


def test_the_tile_host_may_show_pictures_only(operator, settings):
    settings.RTCC_CSP_TILE_SOURCES = ["https://*.tiles.example.org"]
    csp = directives(logged_in(operator).get("/")[CSP_HEADER])
    assert csp["img-src"] == ["'self'", "data:", "blob:", "https://*.tiles.example.org"]
    assert "https://*.tiles.example.org" not in csp["script-src"] + csp["connect-src"] + csp["default-src"]
    assert "https://*.tiles.example.org" not in csp["media-src"]


def test_no_camera_host_in_the_policy(operator, settings):
    """Camera video is same-origin (the stream proxy): hls.js fetches from /api/streams/ under 'self',
    so connect-src and media-src name no other host, and with no worker, worker-src stays 'self'."""
    csp = directives(logged_in(operator).get("/")[CSP_HEADER])
    assert csp["connect-src"] == ["'self'", "ws://testserver"]
    assert csp["media-src"] == ["'self'", "blob:"]
    assert csp["worker-src"] == ["'self'"]


def test_a_view_that_sets_its_own_policy_keeps_it(operator, home):
    camera = f.camera(agency=home, sharing="live", external_id="CAM-1", stream_kind="snapshot",
                      stream_url="/demo/cameras/CAM-1/snapshot.svg")
    client = logged_in(operator)
    opened = client.post(f"/api/cameras/{camera.pk}/stream/", {"reason": "csp"}, content_type="application/json")
    response = client.get(opened.json()["url"])  # the stream proxy relays the SVG frame under its own policy
    assert response.status_code == 200
    assert response[CSP_HEADER] == "default-src 'none'; style-src 'unsafe-inline'; sandbox"


def test_admin_pages_allow_their_map_widgets_by_nonce_only(home):
    """django-leaflet builds admin map widgets with inline scripts: admin pages (staff only) allow
    exactly those, by a per-request nonce, and never 'unsafe-inline'."""
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, is_staff=True, is_superuser=True)
    client = logged_in(admin)
    nonces = set()
    for _ in range(2):
        response = client.get("/admin/zones/zone/add/")
        assert response.status_code == 200
        scripts = directives(response[CSP_HEADER])["script-src"]
        assert scripts[0] == "'self'" and len(scripts) == 2 and scripts[1].startswith("'nonce-")
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
        assert directives(response[CSP_HEADER])["style-src"] == ["'self'", "'unsafe-inline'"]
        nonce = scripts[1][len("'nonce-") : -1]
        nonces.add(nonce)
        html = response.content.decode()
        inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)([^>]*)>", html)
        assert inline, "the zone form should carry the Leaflet widget's inline scripts"
        assert all(f'nonce="{nonce}"' in attrs for attrs in inline), inline
    assert len(nonces) == 2, "a nonce is never reused"


def test_debug_error_pages_are_left_readable(operator, settings):
    """Django's technical 404/500 pages are inline CSS and JS; with DEBUG on they carry no CSP."""
    settings.DEBUG = True
    client = logged_in(operator)
    assert CSP_HEADER not in client.get("/no/such/page/")
    assert CSP_HEADER in client.get("/")
    settings.DEBUG = False
    assert CSP_HEADER in client.get("/no/such/page/")


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https:",
        "http://*",
        "'unsafe-inline'",
        "'self'",
        "data:",
        "https://a.example; script-src *",
        "https://a.example https://b.example",
        "javascript:alert(1)",
        "https://a.example/path?x",
        "",
    ],
)
def test_media_host_setting_accepts_only_plain_host_sources(value):
    with pytest.raises(Exception, match="is not a host source"):
        csp_source(value, "RTCC_TILE_URL")


def test_media_host_setting_and_tile_origin():
    assert csp_source("https://cams.example.org:8443", "x") == "https://cams.example.org:8443"
    assert csp_source("https://*.vms.example.org/", "x") == "https://*.vms.example.org"
    assert csp_tile_source("https://{s}.tiles.example.org/{z}/{x}/{y}.png") == ["https://*.tiles.example.org"]
    assert csp_tile_source("") == []
    policy = directives(content_security_policy(tile_hosts=["https://a.example", "https://a.example"]))
    assert policy["img-src"] == ["'self'", "data:", "blob:", "https://a.example"]


# ---------------------------------------------------------------------------------------------------------------------
# Production settings, checked in a fresh interpreter as a deployment would start


def _django(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "RTCC_CSP", "RTCC_TILE"))}
    return subprocess.run(
        [sys.executable, *code.split()] if code.startswith("manage.py") else [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": STRONG_SECRET,
    "DJANGO_ALLOWED_HOSTS": "rtcc.example.org",
    "RTCC_AUDIT_CHECKPOINT_KEY": "production-audit-checkpoint-key-not-in-the-database",
}


def test_deploy_check_is_clean_in_production():
    run = _django("manage.py check --deploy --fail-level WARNING", **PRODUCTION)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "System check identified no issues" in output, output


@pytest.mark.parametrize(
    "env, complaint",
    [
        ({"DJANGO_SECRET_KEY": ""}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "too-short-to-be-a-secret"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "dev-only-insecure-secret-key-change-me-rtcc-gis"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_ALLOWED_HOSTS": ""}, "DJANGO_ALLOWED_HOSTS"),
        ({"RTCC_TILE_URL": "https://*/{z}/{x}/{y}.png"}, "RTCC_TILE_URL"),
        ({"RTCC_CSP_MEDIA_HOSTS": "https://cams.example.org"}, "RTCC_CSP_MEDIA_HOSTS is no longer used"),
        ({"DJANGO_SECURE_COOKIES": "maybe"}, "DJANGO_SECURE_COOKIES"),
        ({"RTCC_AUDIT_CHECKPOINT_KEY": ""}, "RTCC_AUDIT_CHECKPOINT_KEY"),
    ],
)
def test_production_refuses_to_start_on_bad_settings(env, complaint):
    run = _django("import django; django.setup()", **{**PRODUCTION, **env})
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr and complaint in run.stderr, run.stderr


SHOW_SETTINGS = (
    "import json, django; django.setup(); from django.conf import settings as s; print(json.dumps({"
    "'debug': s.DEBUG, 'redirect': s.SECURE_SSL_REDIRECT, 'hsts': s.SECURE_HSTS_SECONDS, "
    "'subdomains': s.SECURE_HSTS_INCLUDE_SUBDOMAINS, 'session_secure': s.SESSION_COOKIE_SECURE, "
    "'csrf_secure': s.CSRF_COOKIE_SECURE, 'proxy': s.SECURE_PROXY_SSL_HEADER, "
    "'renderers': s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'], 'media': s.RTCC_CSP_TILE_SOURCES, "
    "'middleware': s.MIDDLEWARE}))"
)


def test_production_is_https_only_and_trusts_a_proxy_only_when_told():
    direct = json.loads(_django(SHOW_SETTINGS, **PRODUCTION).stdout)
    assert direct["debug"] is False and direct["redirect"] is True
    assert direct["hsts"] >= 31536000 and direct["subdomains"] is True
    assert direct["session_secure"] is True and direct["csrf_secure"] is True
    assert direct["proxy"] is None, "X-Forwarded-Proto must not be trusted unless a proxy sets it"
    assert "rest_framework.renderers.BrowsableAPIRenderer" not in direct["renderers"]
    assert "apps.core.security.SecurityHeadersMiddleware" in direct["middleware"]
    proxied = json.loads(
        _django(
            SHOW_SETTINGS,
            **PRODUCTION,
            DJANGO_BEHIND_TLS_PROXY="1",
            RTCC_TILE_URL="https://tiles.example.org/{z}/{x}/{y}.png",
        ).stdout
    )
    assert proxied["proxy"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert proxied["media"] == ["https://tiles.example.org"]


def test_debug_is_off_unless_asked_for():
    """DJANGO_DEBUG defaults to off: with nothing set the app refuses to start without a real secret key
    (instead of running with the debug page and a published key), and with a key and hosts it runs in
    production mode. Only an explicit DJANGO_DEBUG=1 gives the development defaults."""
    bare = _django("import django; django.setup()")
    assert bare.returncode != 0 and "DJANGO_SECRET_KEY" in bare.stderr, bare.stderr
    unset = json.loads(_django(SHOW_SETTINGS, DJANGO_SECRET_KEY=STRONG_SECRET, DJANGO_ALLOWED_HOSTS="a.example").stdout)
    assert unset["debug"] is False and unset["redirect"] is True and unset["session_secure"] is True
    assert "rest_framework.renderers.BrowsableAPIRenderer" not in unset["renderers"]
    dev = json.loads(_django(SHOW_SETTINGS, DJANGO_DEBUG="1").stdout)
    assert dev["debug"] is True and dev["redirect"] is False and dev["hsts"] == 0
    assert dev["session_secure"] is False


def test_the_demo_runs_with_debug_off_over_plain_http(tmp_path):
    """scripts/local_env.sh (sourced by `make demo` and setup.sh): a generated key, local hosts, plain HTTP,
    and DEBUG still off."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    run = subprocess.run(
        ["bash", "-c", f"source scripts/local_env.sh && {sys.executable} -c \"{SHOW_SETTINGS}\""],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    demo = json.loads(run.stdout)
    assert demo["debug"] is False and demo["redirect"] is False and demo["session_secure"] is False
    assert (ROOT / "var" / "secret-key").stat().st_mode & 0o077 == 0, "the generated key is readable by others"


def test_the_suite_runs_production_like():
    """The tests run on rtcc_gis/settings_test.py: production's settings but plain HTTP."""
    assert os.environ["DJANGO_SETTINGS_MODULE"] == "rtcc_gis.settings_test"
    assert os.environ["DJANGO_DEBUG"] == "0"
    assert "rest_framework.renderers.BrowsableAPIRenderer" not in django_settings.REST_FRAMEWORK[
        "DEFAULT_RENDERER_CLASSES"
    ]
    assert django_settings.WHITENOISE_USE_FINDERS is False
    assert len(django_settings.SECRET_KEY) >= 50


# ---------------------------------------------------------------------------------------------------------------------
# No user text reaches GDAL/OGR (GDAL 3.6 cannot block file and network access from a spatial reference)

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


def _geojson(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _square(lon: float = f.LON, lat: float = f.LAT, size: float = 0.01) -> list:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]


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
        "geometry": {"type": "Polygon", "coordinates": _square()},
    }
    path = _geojson(
        tmp_path,
        {"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": name}}, "features": [feature]},
    )
    with pytest.raises(ImportFileError, match="crs|SRID"):
        import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert gdal_calls == []
    assert not Zone.objects.exists()


def test_importer_refuses_linked_crs_and_crs_on_a_feature(tmp_path, home, gdal_calls):
    link = {"type": "link", "properties": {"href": "http://example.org/crs", "type": "proj4"}}
    path = _geojson(tmp_path, {"type": "FeatureCollection", "crs": link, "features": []})
    with pytest.raises(ImportFileError, match="crs type 'link' is not supported"):
        import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    features = [
        {
            "type": "Feature",
            "properties": {"code": code, "kind": "beat"},
            "crs": {"type": "name", "properties": {"name": name}},
            "geometry": {"type": "Polygon", "coordinates": _square()},
        }
        for code, name in (("B1", "/etc/passwd"), ("B2", "EPSG:4326"))
    ]
    result = import_layer(
        layer="zones",
        path=_geojson(tmp_path, {"type": "FeatureCollection", "features": features}),
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
        "coordinates": _square(),
        "crs": {"type": "name", "properties": {"name": "/etc/passwd"}},
    }
    path = _geojson(
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


# ---------------------------------------------------------------------------------------------------------------------
# Input limits


@pytest.fixture
def cad_feed(home) -> tuple[FeedSource, str]:
    source = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    return source, source.issue_token()


def test_push_over_the_size_cap_is_413_before_anything_is_read(cad_feed, settings):
    settings.RTCC_FEED_MAX_BYTES = 1000
    _, token = cad_feed
    response = APIClient().post(
        "/api/feeds/push/",
        data=b"[" + b" " * 2000 + b"]",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 413
    assert not DeadLetter.objects.exists()


def test_push_size_cap_is_checked_before_the_token(db, settings):
    """An unauthenticated sender cannot make us read a large body to find out its token is wrong."""
    settings.RTCC_FEED_MAX_BYTES = 1000
    response = APIClient().post(
        "/api/feeds/push/", data=b"x" * 2000, content_type="application/json", HTTP_AUTHORIZATION="Bearer nope"
    )
    assert response.status_code == 413


def test_osmand_form_post_over_the_cap_is_413(home, settings):
    settings.RTCC_FEED_MAX_BYTES = 1000
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand")
    token = source.issue_token()
    response = APIClient().post(
        f"/api/feeds/osmand/{token}/", data="id=1&x=" + "a" * 2000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


NUL_NOW = "2024-05-01T12:00:00Z"
# PostgreSQL text cannot hold a NUL character: each of these once reached the database and was a 500.
NUL_PAYLOADS = [
    ("cad_json", b"\x00"),
    ("cad_csv", b"cad_number,cad_number\n\x00"),
    ("cot", b"<event \x00"),
    (
        "cad_json",
        json.dumps(
            [{"cad_number": "C\x001", "type_code": "ROBB", "lon": f.LON, "lat": f.LAT, "received_at": NUL_NOW}]
        ).encode(),
    ),
    ("gunshot_json", json.dumps([{"id": "G\x001", "lon": f.LON, "lat": f.LAT, "detected_at": NUL_NOW}]).encode()),
    (
        "alert_json",
        json.dumps(
            [{"id": "A1", "kind": "panic", "title": "T\x00", "lon": f.LON, "lat": f.LAT, "raised_at": NUL_NOW}]
        ).encode(),
    ),
    (
        "osmand",
        json.dumps(
            {
                "device_id": "D\x001",
                "location": {"timestamp": NUL_NOW, "coords": {"latitude": f.LAT, "longitude": f.LON}},
            }
        ).encode(),
    ),
]


@pytest.mark.parametrize("kind, body", NUL_PAYLOADS)
def test_a_nul_character_in_a_feed_is_a_refusal_not_a_server_error(home, kind, body):
    source = FeedSource.objects.create(agency=home, name=kind, kind=kind, auto_create_units=True)
    token = source.issue_token()
    response = APIClient().post(
        "/api/feeds/push/", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["rejected"] == 1
    assert DeadLetter.objects.filter(source=source).exists()


def test_a_nul_character_in_an_osmand_query_is_a_refusal_not_a_server_error(home):
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)
    token = source.issue_token()
    response = APIClient().get(f"/api/feeds/osmand/{token}/?id=D%001&lat={f.LAT}&lon={f.LON}&timestamp=1714564800")
    assert response.status_code == 200 and response.json()["rejected"] == 1


def test_form_posts_are_capped_by_data_upload_max_memory_size(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = Client().post("/accounts/login/", data={"username": "x" * 20_000, "password": "y"})
    assert response.status_code == 400


def test_json_api_posts_are_capped_by_data_upload_max_memory_size(operator_client, home, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    camera = f.camera(agency=home, sharing="live")
    # A valid request padded past the cap: refused as a whole (400) before the serializer reads it.
    body = {"reason": "Case 24-031337", "padding": "x" * 20_000}
    response = operator_client.post(f"/api/cameras/{camera.pk}/stream/", data=body, format="json")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json"), "the cap, not a validation error"


def test_too_many_query_parameters_is_400(operator_client):
    query = "&".join(f"p{i}=1" for i in range(1500))
    assert operator_client.get(f"/api/incidents/?{query}").status_code == 400


@pytest.mark.parametrize(
    "bbox",
    [
        "-181,47,-122,48",
        "-122,47,-121,91",
        "-122,47,-122,48",
        "1e400,0,2,2",
        "nan,0,1,1",
        "-122,47,-121",
        "-122,47,-121,48,5",
        "0x10,0,1,1",
        "",
        ",",
    ],
)
def test_bbox_out_of_range_or_malformed_is_400(operator_client, bbox):
    response = operator_client.get("/api/incidents/", {"in_bbox": bbox})
    assert response.status_code == (200 if bbox == "" else 400)


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
    path = _geojson(tmp_path, {"type": "FeatureCollection", "features": features})
    result = import_layer(layer="zones", path=path, agency=home, spec=MappingSpec())
    assert [r.index for r in result.rejected] == [2]
    zone = Zone.objects.get(code="BOW")
    assert zone.geom.valid


def test_importer_keeps_both_lobes_of_a_figure_eight_zone(tmp_path, home):
    bowtie = [
        [[f.LON, f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON + 0.01, f.LAT], [f.LON, f.LAT + 0.01], [f.LON, f.LAT]]
    ]
    path = _geojson(
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
        (_square(lon=200.0), "longitude"),
        (_square(lat=95.0), "latitude"),
        ([[[1e400, 0], [1, 0], [1, 1], [1e400, 0]]], "finite"),
        ([[[f.LON, f.LAT], [f.LON + 0.01, f.LAT], [f.LON, f.LAT]]], "at least 4"),
        ([[[f.LON, f.LAT], ["x", f.LAT], [f.LON + 0.01, f.LAT + 0.01], [f.LON, f.LAT]]], "numbers"),
    ],
)
def test_importer_refuses_zone_coordinates_out_of_range(tmp_path, home, coordinates, reason):
    path = _geojson(
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


# ---------------------------------------------------------------------------------------------------------------------
# The map page under its policy, in headless Chromium (the `browser` fixture: tests/browser_support.py)

# Every refusal is both an event in the page and a console line; both are collected.
WATCH_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber} ${e.sample}`);
});
"""


class CspWatch:
    """CSP refusals a page reported, as events and as console lines."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(WATCH_VIOLATIONS)
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        return [*self.page.evaluate("window.__cspViolations || []"), *self.console]


def _sign_in(page: Any, server: str, username: str) -> None:
    page.goto(f"{server}/")
    page.fill("#id_username", username)
    page.fill("#id_password", f.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server}/")


@pytest.mark.browser
def test_map_page_runs_under_its_policy_without_a_violation(browser, live_server, settings):
    """Sign in, load every layer, open an incident and a camera, zoom, with the live socket on: the CSP
    header is served and the browser refuses nothing."""
    from playwright.sync_api import expect

    settings.RTCC_LIVE_MAP_ENABLED = True  # the socket fails here (WSGI server) but must not be refused by CSP
    home = f.agency("SPD", name="Seattle Police Department")
    f.user(agency=home, role=Role.OPERATOR, username="csp-operator")
    lon, lat = f.LON, f.LAT
    f.zone(agency=home, kind="beat", code="M2", name="Beat M2")
    incident = f.incident(agency=home, lon=lon + 0.004, lat=lat + 0.001, cad_number="SPD-1", status="pending")
    f.incident(agency=home, lon=lon - 0.01, lat=lat, cad_number="SPD-2", status="dispatched")
    f.camera(
        agency=home,
        name="Pike St",
        lon=lon + 0.0038,
        lat=lat + 0.0006,
        heading=45,
        fov_angle=90,
        fov_range=120,
        sharing="live",
        stream_kind="snapshot",
        external_id="CAM-PIKE",
        stream_url="/demo/cameras/CAM-PIKE/snapshot.svg",
    )
    f.unit(agency=home, call_sign="2B11", lon=lon + 0.009, lat=lat + 0.004)
    site = f.alpr_site(agency=home, lon=lon - 0.008, lat=lat - 0.002)
    entry = f.hotlist_entry(agency=home, plate="BXR4471", reason="Stolen vehicle")
    f.alpr_read(agency=home, plate="BXR4471", state="WA", site=site, hit=entry, lon=lon - 0.008, lat=lat - 0.002)
    f.gunshot(agency=home, lon=lon + 0.012, lat=lat + 0.008)
    f.alert(agency=home, title="Panic button", lon=lon + 0.0015, lat=lat - 0.004)

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    watch = CspWatch(page)
    try:
        _sign_in(page, live_server.url, "csp-operator")
        response = page.goto(f"{live_server.url}/")
        policy = directives(response.headers["content-security-policy"])
        assert policy["script-src"] == ["'self'"]
        expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        expect(page.locator(".incident-marker")).to_have_count(2)
        page.locator(f'.incident-marker[data-incident-id="{incident.pk}"]').click()
        ranked = page.locator("#side-panel .camera-rank-item")
        expect(ranked.first).to_be_visible()
        ranked.first.get_by_role("button", name="Open").click()
        expect(page.locator("#camera-dock .camera-tile .stream-viewer img")).to_be_visible()
        for _ in range(3):
            page.locator(".leaflet-control-zoom-in").click()
            expect(page.locator("html[data-rtcc-state=ready]")).to_have_count(1)
        page.wait_for_timeout(500)  # let late events (the socket's retry, a popup) land
        assert watch.violations() == []
    finally:
        context.close()


@pytest.mark.browser
def test_admin_map_widget_runs_under_the_admin_policy(browser, live_server):
    """The admin's Leaflet widgets run by nonce: the map draws and the browser refuses nothing."""
    from playwright.sync_api import expect

    home = f.agency("SPD", name="Seattle Police Department")
    admin = f.user(agency=home, role=Role.AGENCY_ADMIN, username="csp-admin", is_staff=True, is_superuser=True)
    zone = f.zone(agency=home, code="M2")
    # Signed in the way the session middleware would have it; how staff sign in is not what is tested here.
    session = logged_in(admin).cookies[django_settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_cookies([{"name": django_settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}])
    page = context.new_page()
    watch = CspWatch(page)
    try:
        page.goto(f"{live_server.url}/admin/zones/zone/{zone.pk}/change/")
        expect(page.locator(".leaflet-container")).to_have_count(1)
        expect(page.locator(".leaflet-interactive").first).to_be_visible()
        page.wait_for_timeout(300)
        assert watch.violations() == []
    finally:
        context.close()
