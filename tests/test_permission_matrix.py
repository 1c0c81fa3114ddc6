"""The permission matrix, end to end: every endpoint in the URLconf × every persona × GET and POST.

The table below is the specification. `test_every_endpoint_has_a_row` walks the URLconf, so an
endpoint added without rows here fails the suite until someone decides who may call it (and a row
for an endpoint that is gone fails too). Each row runs every persona against the same small world:
one record of each kind in the home agency, which shares every layer (ALPR reads included) with the
partner persona's agency; the other-agency operator's agency has no rule. So a partner's refusals
come from its role alone, and the outsider's 404s from tenancy alone.

Statuses: 401 signed out (API), 302 signed out (pages: to the login page), 403 the role does not
allow the action (also any method a route does not declare: permissions are closed by default),
404 the record is not visible to the user, 405 a method the view does not implement.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.models import Agency, User
from apps.accounts.permissions import Layer
from apps.accounts.services import agency_sharing_create
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.feeds.models import FeedSource
from apps.hotspots.models import HotspotRun

from . import factories as f
from .live_support import headers_for, live_test

PERSONAS = (
    "anonymous",
    "operator",
    "commander",
    "planner",
    "agency_admin",
    "auditor",
    "partner",
    "outsider",  # an operator of another agency, with no sharing rule
    "superuser",
)

# URLconf parts the matrix leaves out, each with its reason.
EXCLUDED_NAMESPACES = {
    "admin": "Django's admin site: staff-only, guarded by Django itself, hundreds of generated routes",
}


def row(*codes: int) -> dict[str, int]:
    assert len(codes) == len(PERSONAS), codes
    return dict(zip(PERSONAS, codes, strict=True))


#                anon  op  cmd  plan adm  aud  partn out  super
LAYER_LIST = row(401, 200, 200, 200, 200, 403, 200, 200, 200)
LAYER_DETAIL = row(401, 200, 200, 200, 200, 403, 200, 404, 200)
CLOSED = row(401, 403, 403, 403, 403, 403, 403, 403, 403)  # a method the route does not declare
READS_LIST = row(401, 200, 200, 403, 200, 403, 403, 200, 200)
READS_DETAIL = row(401, 200, 200, 403, 200, 403, 403, 404, 200)
STREAM = row(401, 200, 200, 403, 200, 403, 403, 404, 200)
ACKNOWLEDGE = row(401, 200, 200, 403, 403, 403, 403, 404, 200)
# Where an officer was: the home agency's own people only (a partner sees positions, not history).
TRACK = row(401, 200, 200, 200, 200, 403, 404, 404, 200)
AUDIT = row(401, 403, 403, 403, 200, 200, 403, 403, 200)
FEED_HEALTH = row(401, 403, 200, 403, 200, 403, 403, 403, 200)
DEAD_LETTERS = row(401, 403, 403, 403, 200, 403, 403, 403, 200)
SIGNED_IN = row(401, 200, 200, 200, 200, 200, 200, 200, 200)
SIGNED_IN_NO_POST = row(401, 405, 405, 405, 405, 405, 405, 405, 405)
FEED_TOKEN_ONLY = row(401, 401, 401, 401, 401, 401, 401, 401, 401)  # no session counts: a source token
NOT_ALLOWED = row(405, 405, 405, 405, 405, 405, 405, 405, 405)
PAGE = row(302, 200, 200, 200, 200, 200, 200, 200, 200)
PAGE_NO_POST = row(302, 405, 405, 405, 405, 405, 405, 405, 405)
# The demo's camera pictures answer only inside the stream proxy, with a grant: never to a session alone.
DEMO_STREAM = row(302, 403, 403, 403, 403, 403, 403, 403, 403)
# The stream proxy with a grant nobody was given ("{token}" is not-a-token): 401 signed out, else 403.
STREAM_PROXY = row(401, 403, 403, 403, 403, 403, 403, 403, 403)
# The map and the wall show the layers: an auditor's role has none (README's role table).
MAP_PAGE = row(302, 200, 200, 200, 200, 403, 200, 200, 200)
LOGIN_PAGE = row(200, 302, 302, 302, 302, 302, 302, 302, 302)
REDIRECTED = row(302, 302, 302, 302, 302, 302, 302, 302, 302)  # logout; a step of sign-in with none begun
# apps.measures: marking an incident RTCC-assisted (operator, commander), and the center's measures.
MARK_ASSIST = row(401, 201, 201, 403, 403, 403, 403, 404, 201)
MEASURES = row(401, 403, 200, 200, 200, 403, 403, 403, 200)
MEASURES_PAGE = row(302, 403, 200, 200, 200, 403, 403, 403, 200)


@dataclass(frozen=True)
class Case:
    """One (route, method) of the URLconf: what each persona gets, and what an allowed call sends."""

    expect: dict[str, int]
    query: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


REASON = {"reason": "matrix 26-0001"}
# Exports and the OGC endpoint: EXPORT_LAYERS (commander, planner, admin); playback: PLAYBACK, and an
# outsider replays their own agency's (empty) picture.
EXPORT = row(401, 403, 200, 200, 200, 403, 403, 403, 200)
PLAYBACK = row(401, 200, 200, 200, 200, 403, 403, 200, 200)

# Hotspot runs: analytics roles, own agency; a POST queues a run (202); a superuser has no agency to run for.
HOTSPOT_RUNS = row(401, 403, 200, 200, 200, 403, 403, 403, 200)
HOTSPOT_RUN_CREATE = row(401, 403, 202, 202, 202, 403, 403, 403, 400)

# (route as the URLconf spells it, with {name} for path parameters, method) -> Case
MATRIX: dict[tuple[str, str], Case] = {
    ("/api/incidents/", "GET"): Case(LAYER_LIST),
    ("/api/incidents/", "POST"): Case(CLOSED),
    ("/api/incidents/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/incidents/{pk}/", "POST"): Case(CLOSED),
    ("/api/incidents/{pk}/cameras/", "GET"): Case(LAYER_DETAIL),
    ("/api/incidents/{pk}/cameras/", "POST"): Case(CLOSED),
    ("/api/incidents/{pk}/units/", "GET"): Case(LAYER_DETAIL),
    ("/api/incidents/{pk}/units/", "POST"): Case(CLOSED),
    ("/api/cameras/", "GET"): Case(LAYER_LIST),
    ("/api/cameras/", "POST"): Case(CLOSED),
    ("/api/cameras/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/cameras/{pk}/", "POST"): Case(CLOSED),
    ("/api/cameras/{pk}/stream/", "GET"): Case(CLOSED),
    ("/api/cameras/{pk}/stream/", "POST"): Case(STREAM, body=REASON),
    # The stream proxy (tests/test_stream_proxy.py): GET only, and only with one's own grant.
    ("/api/streams/{token}/{name}", "GET"): Case(STREAM_PROXY),
    ("/api/streams/{token}/{name}", "POST"): Case(SIGNED_IN_NO_POST),
    ("/api/streams/{token}/part/{part}", "GET"): Case(STREAM_PROXY),
    ("/api/streams/{token}/part/{part}", "POST"): Case(SIGNED_IN_NO_POST),
    ("/api/units/", "GET"): Case(LAYER_LIST),
    ("/api/units/", "POST"): Case(CLOSED),
    ("/api/units/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/units/{pk}/", "POST"): Case(CLOSED),
    ("/api/units/{pk}/track/", "GET"): Case(TRACK, query={"since": "-1h", **REASON}),
    ("/api/units/{pk}/track/", "POST"): Case(CLOSED),
    # -- units trails --
    # Own agency's trails only: a partner and an outsider get 200 with no trails (tests/test_units_trails.py).
    ("/api/units/trails/", "GET"): Case(LAYER_LIST, query={"minutes": "10"}),
    ("/api/units/trails/", "POST"): Case(CLOSED),
    ("/api/alpr/sites/", "GET"): Case(LAYER_LIST),
    ("/api/alpr/sites/", "POST"): Case(CLOSED),
    ("/api/alpr/sites/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/alpr/sites/{pk}/", "POST"): Case(CLOSED),
    ("/api/alpr/reads/", "GET"): Case(READS_LIST, query=REASON),
    ("/api/alpr/reads/", "POST"): Case(CLOSED),
    ("/api/alpr/reads/{pk}/", "GET"): Case(READS_DETAIL, query=REASON),
    ("/api/alpr/reads/{pk}/", "POST"): Case(CLOSED),
    ("/api/gunshots/", "GET"): Case(LAYER_LIST),
    ("/api/gunshots/", "POST"): Case(CLOSED),
    ("/api/gunshots/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/gunshots/{pk}/", "POST"): Case(CLOSED),
    ("/api/alerts/", "GET"): Case(LAYER_LIST),
    ("/api/alerts/", "POST"): Case(CLOSED),
    ("/api/alerts/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/alerts/{pk}/", "POST"): Case(CLOSED),
    ("/api/alerts/{pk}/acknowledge/", "GET"): Case(CLOSED),
    ("/api/alerts/{pk}/acknowledge/", "POST"): Case(ACKNOWLEDGE, body={"note": "matrix"}),
    # Cameras and units near an alert: as for an incident (tests/test_alert_nearby.py).
    ("/api/alerts/{pk}/cameras/", "GET"): Case(LAYER_DETAIL),
    ("/api/alerts/{pk}/cameras/", "POST"): Case(CLOSED),
    ("/api/alerts/{pk}/units/", "GET"): Case(LAYER_DETAIL),
    ("/api/alerts/{pk}/units/", "POST"): Case(CLOSED),
    ("/api/zones/", "GET"): Case(LAYER_LIST),
    ("/api/zones/", "POST"): Case(CLOSED),
    ("/api/zones/{pk}/", "GET"): Case(LAYER_DETAIL),
    ("/api/zones/{pk}/", "POST"): Case(CLOSED),
    ("/api/audit/", "GET"): Case(AUDIT),
    ("/api/audit/", "POST"): Case(CLOSED),
    ("/api/audit/{pk}/", "GET"): Case(AUDIT),
    ("/api/audit/{pk}/", "POST"): Case(CLOSED),
    ("/api/audit/export.csv", "GET"): Case(AUDIT, query=REASON),
    ("/api/audit/export.csv", "POST"): Case(CLOSED),
    ("/api/feeds/", "GET"): Case(FEED_HEALTH),
    ("/api/feeds/", "POST"): Case(CLOSED),
    ("/api/feeds/{pk}/", "GET"): Case(FEED_HEALTH),
    ("/api/feeds/{pk}/", "POST"): Case(CLOSED),
    ("/api/feeds/{pk}/dead-letters/", "GET"): Case(DEAD_LETTERS),
    ("/api/feeds/{pk}/dead-letters/", "POST"): Case(CLOSED),
    ("/api/feeds/push/", "GET"): Case(NOT_ALLOWED),
    ("/api/feeds/push/", "POST"): Case(FEED_TOKEN_ONLY),
    ("/api/feeds/osmand/", "GET"): Case(FEED_TOKEN_ONLY),  # the token in a header or parameter instead
    ("/api/feeds/osmand/", "POST"): Case(FEED_TOKEN_ONLY),
    ("/api/feeds/osmand/{token}/", "GET"): Case(FEED_TOKEN_ONLY),
    ("/api/feeds/osmand/{token}/", "POST"): Case(FEED_TOKEN_ONLY),
    # -- search (apps.search) --
    ("/api/search/", "GET"): Case(LAYER_LIST, query={"q": "SPD"}),
    ("/api/search/", "POST"): Case(CLOSED),
    # A plate search: a role that may search plates, on the agency's own reads (and shared ones).
    ("/api/search/plates/", "GET"): Case(READS_LIST, query={"plate": "ABC1234", **REASON}),
    ("/api/search/plates/", "POST"): Case(CLOSED),
    # -- tiles (apps.tiles) --
    ("/api/tiles/basemap/{z}/{x}/{y}.mvt", "GET"): Case(LAYER_LIST),
    ("/api/tiles/basemap/{z}/{x}/{y}.mvt", "POST"): Case(CLOSED),
    #                                                                anon  op  cmd  plan adm  aud  partn out  super
    ("/api/tiles/incidents_history/{z}/{x}/{y}.mvt", "GET"): Case(row(401, 403, 200, 200, 200, 403, 403, 403, 200)),
    ("/api/tiles/incidents_history/{z}/{x}/{y}.mvt", "POST"): Case(CLOSED),
    ("/api/tiles/alpr_reads/{z}/{x}/{y}.mvt", "GET"): Case(READS_LIST, query=REASON),
    ("/api/tiles/alpr_reads/{z}/{x}/{y}.mvt", "POST"): Case(CLOSED),
    # Position history: the user's own agency's units (the outsider gets an empty tile of its own).
    ("/api/tiles/unit_positions/{z}/{x}/{y}.mvt", "GET"): Case(
        row(401, 200, 200, 200, 200, 403, 403, 200, 200), query=REASON
    ),
    ("/api/tiles/unit_positions/{z}/{x}/{y}.mvt", "POST"): Case(CLOSED),
    # -- hotspots (apps.hotspots) --
    ("/api/hotspots/runs/", "GET"): Case(HOTSPOT_RUNS),
    ("/api/hotspots/runs/", "POST"): Case(HOTSPOT_RUN_CREATE, body={"kind": "gistar"}),
    ("/api/hotspots/runs/{pk}/", "GET"): Case(HOTSPOT_RUNS),
    ("/api/hotspots/runs/{pk}/", "POST"): Case(CLOSED),
    # -- measures (apps.measures) --
    ("/api/incidents/{pk}/assists/", "GET"): Case(LAYER_DETAIL),
    ("/api/incidents/{pk}/assists/", "POST"): Case(MARK_ASSIST, body={"kind": "camera_suspect", "note": "matrix"}),
    ("/api/measures/", "GET"): Case(MEASURES),
    ("/api/measures/", "POST"): Case(CLOSED),
    ("/api/measures/export.csv", "GET"): Case(MEASURES),
    ("/api/measures/export.csv", "POST"): Case(CLOSED),
    # -- exports (apps.exports) --
    ("/api/exports/{layer}.{fmt}", "GET"): Case(EXPORT, query=REASON),
    ("/api/exports/{layer}.{fmt}", "POST"): Case(CLOSED),
    ("/api/ogc/", "GET"): Case(EXPORT),
    ("/api/ogc/", "POST"): Case(CLOSED),
    ("/api/ogc/conformance", "GET"): Case(EXPORT),
    ("/api/ogc/conformance", "POST"): Case(CLOSED),
    ("/api/ogc/collections", "GET"): Case(EXPORT),
    ("/api/ogc/collections", "POST"): Case(CLOSED),
    ("/api/ogc/collections/{collection_id}", "GET"): Case(EXPORT),
    ("/api/ogc/collections/{collection_id}", "POST"): Case(CLOSED),
    ("/api/ogc/collections/{collection_id}/items", "GET"): Case(EXPORT),
    ("/api/ogc/collections/{collection_id}/items", "POST"): Case(CLOSED),
    ("/api/ogc/collections/{collection_id}/items/{fid}", "GET"): Case(EXPORT),
    ("/api/ogc/collections/{collection_id}/items/{fid}", "POST"): Case(CLOSED),
    # -- playback (apps.playback) --
    ("/api/playback/", "GET"): Case(PLAYBACK, query={"start": "-1h", **REASON}),
    ("/api/playback/", "POST"): Case(CLOSED),
    ("/api/playback/state/", "GET"): Case(PLAYBACK, query={"at": "-1h", **REASON}),
    ("/api/playback/state/", "POST"): Case(CLOSED),
    # -- pages (apps.core, apps.measures) --
    # The video wall without cameras is the map for every role that has one; tiles need live streams
    # (tests/test_camera_wall.py).
    ("/wall/", "GET"): Case(MAP_PAGE),
    ("/wall/", "POST"): Case(PAGE_NO_POST),
    # The demo's HLS test pattern and snapshots: through the stream proxy only.
    ("/demo/cameras/{external_id}/hls/{name}", "GET"): Case(DEMO_STREAM),
    ("/demo/cameras/{external_id}/hls/{name}", "POST"): Case(PAGE_NO_POST),
    ("/measures/", "GET"): Case(MEASURES_PAGE),
    ("/measures/", "POST"): Case(PAGE_NO_POST),
    ("/api/health/", "GET"): Case(SIGNED_IN),
    ("/api/health/", "POST"): Case(SIGNED_IN_NO_POST),
    ("/api/schema/", "GET"): Case(SIGNED_IN),
    ("/api/schema/", "POST"): Case(SIGNED_IN_NO_POST),
    ("/demo/cameras/{external_id}/snapshot.svg", "GET"): Case(DEMO_STREAM),
    ("/demo/cameras/{external_id}/snapshot.svg", "POST"): Case(PAGE_NO_POST),
    ("/", "GET"): Case(MAP_PAGE),
    ("/", "POST"): Case(MAP_PAGE),  # the map page does not restrict methods; a POST just renders it
    ("/accounts/login/", "GET"): Case(LOGIN_PAGE),
    ("/accounts/login/", "POST"): Case(LOGIN_PAGE),
    ("/accounts/login/verify/", "GET"): Case(REDIRECTED),
    ("/accounts/login/verify/", "POST"): Case(REDIRECTED),
    ("/accounts/2fa/setup/", "GET"): Case(PAGE),
    ("/accounts/2fa/setup/", "POST"): Case(PAGE),  # an empty form: shown again with its errors
    ("/accounts/2fa/disable/", "GET"): Case(NOT_ALLOWED),
    ("/accounts/2fa/disable/", "POST"): Case(REDIRECTED),
    ("/accounts/logout/", "GET"): Case(NOT_ALLOWED),
    ("/accounts/logout/", "POST"): Case(REDIRECTED),
}

# ws/live/: accepted, or the close code it is refused with.
SOCKET = row(4401, 0, 0, 0, 0, 4403, 0, 0, 0)


# ---- the URLconf, walked -------------------------------------------------------------------------


def _template(pattern: str) -> str:
    """A URLconf pattern (regex or path syntax) as a route template with {name} parameters."""
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)  # DRF router regexes
    text = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)  # path() converters
    return "/" + text.replace("^", "").replace("$", "")


def _walk(patterns: list, prefix: str = "", namespace: str | None = None) -> Iterator[tuple[str, str | None]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), entry.namespace or namespace)
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), namespace


def url_routes() -> set[str]:
    """Every route of the URLconf outside EXCLUDED_NAMESPACES, as templates."""
    return {_template(p) for p, ns in _walk(get_resolver().url_patterns) if ns not in EXCLUDED_NAMESPACES}


def test_every_endpoint_has_a_row():
    wanted = {(route, method) for route in url_routes() for method in ("GET", "POST")}
    missing = sorted(wanted - MATRIX.keys())
    stale = sorted(MATRIX.keys() - wanted)
    assert not missing, f"endpoints without a row in the permission matrix: {missing}"
    assert not stale, f"rows for endpoints that no longer exist: {stale}"


# ---- the world and the personas ------------------------------------------------------------------


def persona_users(home: Agency, partner_agency: Agency, other: Agency) -> dict[str, User]:
    """One user per signed-in persona. They sign in with force_login, so no password is hashed
    (hashing is deliberately slow, and nine of them per test add up)."""
    specs = {
        "operator": (home, Role.OPERATOR),
        "commander": (home, Role.WATCH_COMMANDER),
        "planner": (home, Role.PLANNER),
        "agency_admin": (home, Role.AGENCY_ADMIN),
        "auditor": (home, Role.AUDITOR),
        "partner": (partner_agency, Role.PARTNER),
        "outsider": (other, Role.OPERATOR),
    }
    users = {}
    for persona, (agency, role) in specs.items():
        users[persona] = User(username=persona, agency=agency, role=role)
        users[persona].set_unusable_password()
        users[persona].save()
    superuser = User(username="superuser", agency=None, role="", is_superuser=True, is_staff=True)
    superuser.set_unusable_password()
    superuser.save()
    return {**users, "superuser": superuser}


@pytest.fixture
def world(db) -> dict[str, Any]:
    home = f.agency("SPD", name="Seattle Police Department")
    partner_agency = f.agency("BPD", name="Bellevue Police Department")
    other = f.agency("KCSO", name="King County Sheriff's Office")
    agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=list(Layer))
    users = persona_users(home, partner_agency, other)
    camera = f.camera(agency=home, external_id="CAM-M1", heading=90)
    records = {
        "incidents": f.incident(agency=home),
        "cameras": camera,
        "units": f.unit(agency=home),
        "alpr/sites": f.alpr_site(agency=home),
        "alpr/reads": f.alpr_read(agency=home, plate="ABC1234"),
        "gunshots": f.gunshot(agency=home),
        "alerts": f.alert(agency=home),
        "zones": f.zone(agency=home),
        "audit": audit_record(user=users["operator"], action=AuditAction.PLATE_SEARCH, reason="case 1"),
        "feeds": FeedSource.objects.create(agency=home, name="CAD", kind="cad_json"),
        "hotspots/runs": HotspotRun.objects.create(agency=home, kind="gistar", params={}, params_hash="matrix"),
    }
    return {"users": users, "records": records, "camera": camera}


def _url(route: str, world: dict[str, Any]) -> str:
    if "{pk}" in route:
        collection = route.removeprefix("/api/").split("/{pk}")[0]
        route = route.replace("{pk}", str(world["records"][collection].pk))
    route = route.replace("{layer}.{fmt}", "incidents.geojson").replace("{collection_id}", "incidents")
    route = route.replace("{fid}", str(world["records"]["incidents"].pk))
    route = route.replace("{z}/{x}/{y}", "14/2624/5721")  # the vector tile holding the world's records
    return route.replace("{token}", "not-a-token").replace("{external_id}", world["camera"].external_id)


def _query(case: Case) -> dict[str, str]:
    # "-1h" stands for an hour ago, written when the request is made.
    since = (timezone.now() - timedelta(hours=1)).isoformat()
    return {k: since if v == "-1h" else v for k, v in case.query.items()}


def _client(persona: str, world: dict[str, Any]) -> APIClient:
    client = APIClient()  # CSRF checks off, as for any test client: the matrix is about authorization
    if persona != "anonymous":
        client.force_login(world["users"][persona])
    return client


@pytest.mark.parametrize(("route", "method"), sorted(MATRIX), ids=[f"{m} {r}" for r, m in sorted(MATRIX)])
def test_matrix(world, route, method):
    case = MATRIX[(route, method)]
    url = _url(route, world)
    clients = {persona: _client(persona, world) for persona in PERSONAS}
    got = {}
    for persona in PERSONAS:
        # Each persona acts on the same world: what one call changes (an alert acknowledged) is
        # rolled back before the next.
        with transaction.atomic():
            if method == "GET":
                response = clients[persona].get(url, _query(case))
            else:
                response = clients[persona].post(url, case.body, format="json")
            got[persona] = response.status_code
            transaction.set_rollback(True)
    assert got == case.expect


# ---- the live socket --------------------------------------------------------------------------------


@live_test
async def test_socket_matrix(ws):
    def setup() -> dict[str, list]:
        home = f.agency("SPD")
        partner_agency = f.agency("BPD")
        other = f.agency("KCSO")
        agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=list(Layer))
        users = persona_users(home, partner_agency, other)
        return {"anonymous": headers_for(None), **{p: headers_for(u) for p, u in users.items()}}

    headers = await database_sync_to_async(setup)()
    got = {}
    for persona in PERSONAS:
        if SOCKET[persona]:
            got[persona] = await ws(headers[persona], refused=True)
        else:
            await ws(headers[persona])
            got[persona] = 0
    assert got == SOCKET
