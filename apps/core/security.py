"""Security headers on every response: a Content-Security-Policy and a Permissions-Policy.

Django's SecurityMiddleware already sends HSTS, X-Content-Type-Options, Referrer-Policy and
Cross-Origin-Opener-Policy (see the SECURE_* settings); this middleware adds what Django 5.2 lacks.

The policy, and why each part is as it is:

- ``script-src 'self'``: the map page runs only our own static ES modules and Leaflet, and takes its
  configuration from a ``json_script`` block (JSON, never executed). An injected ``<script>`` or
  ``onclick=`` in a record a feed sent us therefore does not run.
- ``style-src 'self'``: Leaflet moves tiles, markers and popups through the CSSOM (``el.style.transform
  = ...``), which CSP does not govern; only ``style="..."`` in markup, ``<style>`` elements and
  ``setAttribute("style")`` need 'unsafe-inline', and neither Leaflet 1.9 nor our modules use them
  (tests/test_hardening_browser.py drives the whole map in Chromium and counts violations). So the map page
  refuses inline styles too, which closes CSS-injection tricks (attribute selectors that leak page
  text through background images) for text a feed sent us.
- ``img-src``: our own files, ``data:``/``blob:`` (Leaflet's icons and canvas snapshots) and the
  agency's own tile server (``RTCC_TILE_URL``); ``media-src``: our own files and ``blob:``. Camera
  video is same-origin: every stream goes through our proxy (apps.cameras.api.proxy), so no camera
  host is listed anywhere. Nothing else: the page must not be able to beacon data to the internet.
- ``connect-src 'self' ws(s)://<this host>``: the REST API, the stream proxy (hls.js fetches HLS
  playlists and segments itself, from /api/streams/, and hands them to the video element as a
  ``blob:``) and the live socket. CSP Level 3 lets 'self' match ws:/wss: on the same host, but older
  Safari did not, so the socket origin is named.
- ``worker-src 'self'``: hls.js runs without its Web Worker (``enableWorker: false`` in
  camera-player.js; the ES module build has no inline worker either), so no ``blob:`` workers.
- ``frame-ancestors 'none'`` (clickjacking; X-Frame-Options DENY says the same to old browsers),
  ``base-uri 'self'``, ``form-action 'self'``, ``object-src 'none'``.

The Django admin is staff-only and its django-leaflet map widgets are built by inline scripts. Rather
than 'unsafe-inline' for scripts there, admin pages get a fresh nonce per request in
``request.csp_nonce``, which django-leaflet's ``LeafletGeoAdmin`` writes into its ``<script nonce>``
tags; admin pages also allow inline styles (Leaflet.draw and admin widgets are third-party markup we
do not vet). The map page never gets a nonce. A response that sets its own CSP (the demo camera's SVG
frames) keeps it, and with DEBUG on, error responses carry none so that Django's debug pages (inline
CSS and JS) stay readable (production runs with DEBUG off; `check --deploy` insists).

The header itself is written by django-csp (``CONTENT_SECURITY_POLICY`` in settings holds the fixed
directives); this module adds what depends on the request and on the deployment: the live socket's
origin, the tile server (read per response, so a setting changed in a test takes effect), and the
admin's nonce and inline styles.

Responses also say ``Cache-Control: no-store`` unless the view chose its own caching (vector tiles):
API answers and pages carry records, plates and audit data, and neither
the browser's disk cache nor a proxy may keep them after the operator signs out. Static files are
served before this middleware (WhiteNoise) and keep their long-lived caching.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware, PolicyParts
from csp.utils import build_policy, default_config
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.urls import NoReverseMatch, reverse
from django.utils.cache import add_never_cache_headers

CSP_HEADER = "Content-Security-Policy"
PERMISSIONS_POLICY_HEADER = "Permissions-Policy"

# Powerful browser features the map never uses are switched off, so that a script injected despite
# the CSP (or a page we might one day frame) cannot ask the operator's browser for them. Fullscreen
# and autoplay stay allowed for our own origin: operators enlarge camera video, and streams start
# muted without a click.
PERMISSIONS_POLICY = ", ".join(
    [
        "accelerometer=()",
        "autoplay=(self)",
        "bluetooth=()",
        "camera=()",
        "display-capture=()",
        "fullscreen=(self)",
        "geolocation=()",
        "gyroscope=()",
        "hid=()",
        "magnetometer=()",
        "microphone=()",
        "midi=()",
        "payment=()",
        "publickey-credentials-get=()",
        "serial=()",
        "usb=()",
        "xr-spatial-tracking=()",
    ]
)


def _directives() -> dict:
    return settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]


def _deployment_directives(*, tile_hosts: Iterable[str], socket_origin: str, admin: bool) -> dict[str, list[str]]:
    """The directives django-csp's fixed configuration cannot know: the tile server, the socket
    origin, and the admin's inline styles."""
    base = _directives()
    replace = {
        "img-src": [*base["img-src"], *tile_hosts],
        "connect-src": [*base["connect-src"], *([socket_origin] if socket_origin else [])],
    }
    if admin:
        replace["style-src"] = [SELF, UNSAFE_INLINE]
    return replace


def content_security_policy(*, tile_hosts: Iterable[str] = (), socket_origin: str = "", admin_nonce: str = "") -> str:
    """The policy text. `tile_hosts` (the tile server) may show images, `socket_origin` is the live
    socket's ws(s) origin; `admin_nonce` (admin pages only) allows the admin's inline scripts carrying
    that nonce, and inline styles."""
    replace = _deployment_directives(tile_hosts=tile_hosts, socket_origin=socket_origin, admin=bool(admin_nonce))
    return build_policy(config=default_config(_directives()), replace=replace, nonce=admin_nonce or None)


def _socket_origin(request: HttpRequest) -> str:
    """ws://host or wss://host for this request's own host; empty when the host is not one we serve."""
    try:
        # get_host() validates against ALLOWED_HOSTS and a strict host syntax, so what goes into the
        # header is a plain host[:port] and never attacker-chosen text.
        host = request.get_host()
    except DisallowedHost:
        return ""
    return f"{'wss' if request.is_secure() else 'ws'}://{host}"


def _admin_prefix() -> str | None:
    try:
        return reverse("admin:index")
    except NoReverseMatch:
        return None


def _is_admin(request: HttpRequest) -> bool:
    prefix = _admin_prefix()
    return bool(prefix and request.path.startswith(prefix))


class SecurityHeadersMiddleware(CSPMiddleware):
    """django-csp's middleware, plus the per-request parts of the policy and the Permissions-Policy
    header (each only when the view did not set its own)."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        if _is_admin(request):
            # django-leaflet's LeafletGeoAdmin reads request.csp_nonce when it builds the map widget;
            # every admin page gets one (and its inline styles), whether or not a widget is on it.
            request._rtcc_admin = True  # type: ignore[attr-defined]
            str(request.csp_nonce)  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response.headers.setdefault(PERMISSIONS_POLICY_HEADER, PERMISSIONS_POLICY)
        if settings.DEBUG and response.status_code >= 400:
            return response  # Django's debug pages are inline CSS and JS
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if report_only:
            return parts
        # Built per response (a few list joins): settings overridden in tests take effect, and the
        # socket origin follows the Host the request was served under.
        replace = _deployment_directives(
            tile_hosts=settings.RTCC_CSP_TILE_SOURCES,
            socket_origin=_socket_origin(request),
            admin=getattr(request, "_rtcc_admin", False),
        )
        parts.replace = {**replace, **(parts.replace or {})}
        return parts


class NoStoreMiddleware:
    """`Cache-Control: no-store` (and its older equivalents) on every response whose view did not set
    its own Cache-Control. Place it after WhiteNoise, so static files keep their own caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not response.has_header("Cache-Control"):
            add_never_cache_headers(response)
        return response
