"""Hardening: the security headers and the Content-Security-Policy of every response (the map, the API,
the admin's map widgets), and the settings that build the policy's hosts.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from apps.accounts.choices import Role
from apps.core.security import CSP_HEADER, PERMISSIONS_POLICY_HEADER, content_security_policy
from rtcc_gis.settings import csp_source, csp_tile_source

from . import factories as f
from .hardening_support import directives, logged_in


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
    camera = f.camera(
        agency=home,
        sharing="live",
        external_id="CAM-1",
        stream_kind="snapshot",
        stream_url="/demo/cameras/CAM-1/snapshot.svg",
    )
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
