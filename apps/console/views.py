"""The map page: a thin view that hands the front end its configuration through json_script."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.urls import get_script_prefix
from django.views.decorators.csrf import ensure_csrf_cookie

from apps.accounts.permissions import Perm, user_has_perm
from apps.live.layers import LAYERS as LIVE_LAYERS
from apps.tiles.selectors import basemap_attribution
from apps.units.choices import UnitStatus
from apps.units.selectors import UNIT_HISTORY_PERM

# Camera view cones are only drawn from this zoom on; below it they are clutter.
CAMERA_VIEW_MIN_ZOOM = 16
# Timed layers look back this far; the API itself has no default window.
GUNSHOT_LOOKBACK_HOURS = 24
ALPR_HIT_LOOKBACK_HOURS = 24
# Unit trails (breadcrumbs) cover this many minutes (the trails endpoint allows up to 60).
UNIT_TRAIL_MINUTES = 10


def live_config(user) -> dict | None:
    """Where the map's WebSocket is and which live layers to ask for; None turns live updates off
    (RTCC_LIVE_MAP_ENABLED=False: a deployment without an ASGI server, or a WSGI-only test server)."""
    if not getattr(settings, "RTCC_LIVE_MAP_ENABLED", True):
        return None
    layers = [name for name, layer in LIVE_LAYERS.items() if user_has_perm(user, layer.perm)]
    if not layers:
        return None
    return {"url": f"{get_script_prefix()}ws/live/", "layers": layers}


def map_config(user) -> dict:
    """Everything main.js needs to start, as plain JSON (no secrets: it is readable in the page)."""
    leaflet = settings.LEAFLET_CONFIG
    lat, lon = leaflet["DEFAULT_CENTER"]
    tiles = [
        {"name": str(name), "url": url, "attribution": (options or {}).get("attribution", "")}
        for name, url, options in leaflet.get("TILES", [])
        if url
    ]
    agency = getattr(user, "agency", None)
    return {
        "center": [lat, lon],
        "zoom": leaflet["DEFAULT_ZOOM"],
        "minZoom": leaflet.get("MIN_ZOOM", 3),
        "maxZoom": leaflet.get("MAX_ZOOM", 19),
        "tiles": tiles,
        # Without an agency tile server (RTCC_TILE_URL) the map draws our own vector basemap.
        "basemap": None
        if tiles
        else {
            "url": f"{get_script_prefix()}api/tiles/basemap/{{z}}/{{x}}/{{y}}.mvt",
            "attribution": basemap_attribution(),
        },
        "apiBase": f"{get_script_prefix()}api/",
        "loginUrl": resolve_url(settings.LOGIN_URL),
        "csrfCookieName": settings.CSRF_COOKIE_NAME,
        "timeZone": agency.time_zone if agency else settings.TIME_ZONE,
        "cameraViewMinZoom": CAMERA_VIEW_MIN_ZOOM,
        "gunshotLookbackHours": GUNSHOT_LOOKBACK_HOURS,
        "alprHitLookbackHours": ALPR_HIT_LOOKBACK_HOURS,
        "unitStaleSeconds": settings.RTCC_UNIT_STALE_SECONDS,
        # Trails are unit history: none for a role that may not replay it (a partner), as the API answers.
        "unitTrailMinutes": UNIT_TRAIL_MINUTES if user_has_perm(user, UNIT_HISTORY_PERM) else 0,
        "unitStatuses": [{"value": value, "label": label} for value, label in UnitStatus.choices],
        "maxPageSize": settings.RTCC_MAX_PAGE_SIZE,
        "live": live_config(user),
        "user": {
            "username": user.get_username(),
            "role": user.role,
            "roleLabel": user.get_role_display() if user.role else "",
            "agency": agency.name if agency else "",
            "agencyId": agency.pk if agency else None,
            "perms": sorted(str(p) for p in Perm if user_has_perm(user, p)),
        },
    }


def no_map_page(request: HttpRequest) -> HttpResponse:
    """What a signed-in user whose role has no map (an auditor) gets instead of it: a 403 that says so."""
    context = {"may_audit": user_has_perm(request.user, Perm.VIEW_AUDIT)}
    return render(request, "accounts/no_map.html", context, status=403)


@login_required
@ensure_csrf_cookie
def map_page(request: HttpRequest) -> HttpResponse:
    # The page itself shows who is signed in, the agency and its permissions, and starts the live socket:
    # a role without the layers (an auditor, README's role table) is not served it.
    if not user_has_perm(request.user, Perm.VIEW_LAYERS):
        return no_map_page(request)
    return render(request, "map.html", {"config": map_config(request.user)})
