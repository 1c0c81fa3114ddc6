"""Secrets and sessions: feed tokens never reach a log, API answers are not cached, idle sessions end.

The access-log test runs the real ASGI server (Daphne, started as `make demo` starts it) in a
subprocess and reads what it wrote.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.middleware import LAST_SEEN_KEY
from apps.accounts.permissions import MATRIX, Perm
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.redaction import RedactTokensFilter, redact
from apps.units.choices import UnitIdMode

from . import factories as f
from .live_support import DaphneServer, headers_for, live_test, signed_in_client, subscribe, test_database_url

ROOT = Path(__file__).resolve().parent.parent
ASGI_APP = "rtcc_gis.asgi:application"


def _fix(call_sign: str, **extra: str) -> dict[str, str]:
    return {"id": call_sign, "lat": str(f.LAT), "lon": str(f.LON), "timestamp": str(int(time.time())), **extra}


# ---- feed tokens never reach a log ----------------------------------------------------------------


@pytest.fixture
def server(transactional_db, live_prefix):
    """The ASGI server as scripts/demo.sh starts it, on the test database; yields (url, log path)."""
    daphne = DaphneServer(
        {
            "DATABASE_URL": test_database_url(),
            "REDIS_URL": django_settings.REDIS_URL,
            "CHANNELS_PREFIX": live_prefix,
            "RTCC_LIVE_KEY_PREFIX": f"{live_prefix}:live",
        }
    )
    with daphne:
        yield daphne.url, daphne.log


def _call(url: str, *, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_the_server_logs_no_feed_token(server, home):
    """Every way a client may send its token: in the path (OsmAnd's one URL), as a query parameter,
    a form parameter, a header; and a wrong token in the path (Django logs the 401 with the path).
    The access log and Django's request log show the requests, never a token."""
    url, log = server
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", unit_ids=UnitIdMode.CALL_SIGN)
    token = source.issue_token()
    for sign in ("P1", "P2", "P3", "P4", "P5"):
        f.unit(agency=home, call_sign=sign, lon=None)
    wrong = "WRONG" + token[5:]
    calls = [
        _call(f"{url}/api/feeds/osmand/{token}/?{urlencode(_fix('P1'))}"),
        _call(f"{url}/api/feeds/osmand/?{urlencode(_fix('P2', token=token))}"),
        _call(f"{url}/api/feeds/osmand/", data=urlencode(_fix("P3", token=token)).encode()),
        _call(f"{url}/api/feeds/osmand/?{urlencode(_fix('P4'))}", headers={"X-Feed-Token": token}),
        _call(f"{url}/api/feeds/osmand/?{urlencode(_fix('P5'))}", headers={"Authorization": f"Bearer {token}"}),
    ]
    assert [(status, body.get("accepted")) for status, body in calls] == [(200, 1)] * 5, calls
    assert _call(f"{url}/api/feeds/osmand/{wrong}/?{urlencode(_fix('P1'))}")[0] == 401
    time.sleep(0.5)  # the access log is line-buffered; give the last line a moment
    text = log.read_text()
    assert "/api/feeds/osmand/[redacted]/" in text, text
    assert "token=[redacted]" in text, text
    assert "Unauthorized: /api/feeds/osmand/[redacted]/" in text, text  # django.request's 401 warning
    assert token not in text and wrong not in text, text


def test_an_emailed_request_error_carries_no_feed_token(settings, mailoutbox, rf):
    """Django's mail_admins handler (ADMINS set, DEBUG off) gets django.request's records redacted too, not
    only the console: the error mail (subject, report text and HTML, with the request's URL and META) names
    the path without the token."""
    settings.ADMINS = [("Ops", "ops@example.org")]
    request = rf.get("/api/feeds/osmand/s3cr3t-t0ken/?id=P1&token=s3cr3t-t0ken")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("django.request").error(
            "Internal Server Error: %s", request.path, exc_info=True, extra={"status_code": 500, "request": request}
        )
    assert len(mailoutbox) == 1
    sent = mailoutbox[0]
    text = sent.subject + sent.body + "".join(content for content, _ in sent.alternatives)
    assert "/api/feeds/osmand/[redacted]/" in text
    assert "s3cr3t-t0ken" not in text
    assert any(isinstance(x, RedactTokensFilter) for h in logging.getLogger("django").handlers for x in h.filters)
    # Every handler the settings configure redacts, and the request loggers reach only those.
    assert all("redact_tokens" in handler["filters"] for handler in django_settings.LOGGING["handlers"].values())
    assert django_settings.LOGGING["loggers"]["django.server"]["handlers"] == []


def test_redact_covers_paths_parameters_and_prefixes():
    assert redact("GET /api/feeds/osmand/abc-DEF_123/?id=1&lat=2 HTTP/1.1") == (
        "GET /api/feeds/osmand/[redacted]/?id=1&lat=2 HTTP/1.1"
    )
    assert redact("/rtcc/api/feeds/osmand/abc") == "/rtcc/api/feeds/osmand/[redacted]"
    assert redact("/api/feeds/osmand/?id=1&token=s3cr3t&lat=2") == "/api/feeds/osmand/?id=1&token=[redacted]&lat=2"
    assert redact("/x/?TOKEN=s3cr3t") == "/x/?TOKEN=[redacted]"
    assert redact("GET /api/incidents/?in_bbox=1,2,3,4") == "GET /api/incidents/?in_bbox=1,2,3,4"


def test_token_in_a_parameter_is_not_kept_in_a_dead_letter(home):
    """A rejected fix is kept as a dead letter with an excerpt of its parameters: never the token."""
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand")
    token = source.issue_token()
    response = APIClient().get("/api/feeds/osmand/", {"id": "X1", "lat": "north", "lon": "1", "token": token})
    assert response.status_code == 200 and response.json()["rejected"] == 1, response.json()
    letters = list(DeadLetter.objects.filter(source=source).values_list("raw", flat=True))
    assert letters and all(token not in excerpt for excerpt in letters), letters


def test_push_accepts_the_x_feed_token_header(home):
    source = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    token = source.issue_token()
    client = APIClient()
    assert client.post("/api/feeds/push/", data=b"[]", content_type="application/json").status_code == 401
    response = client.post("/api/feeds/push/", data=b"[]", content_type="application/json", HTTP_X_FEED_TOKEN=token)
    assert response.status_code != 401, response.content


# ---- Cache-Control: no-store ------------------------------------------------------------------------


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.parametrize(
    "path, status",
    [
        ("/api/incidents/", 200),
        ("/api/incidents/?in_bbox=nonsense", 400),
        ("/api/incidents/999999999/", 404),
        ("/api/audit/", 403),  # an operator may not read the trail: the refusal is not cached either
        ("/api/health/", 200),
        ("/", 200),  # the map page: the user's name, agency and permissions are in it
        ("/measures/", 403),
    ],
)
def test_api_answers_and_pages_are_not_stored(operator, path, status):
    client = Client()
    client.force_login(operator)
    response = client.get(path)
    assert response.status_code == status
    assert _no_store(response), dict(response.headers)


def test_signed_out_api_answers_are_not_stored(anon_client):
    response = anon_client.get("/api/incidents/")
    assert response.status_code == 401 and _no_store(response)


def test_tiles_keep_their_own_caching(operator_client):
    response = operator_client.get("/api/tiles/basemap/14/2624/5721.mvt")
    assert response.status_code == 200
    assert "max-age=" in response["Cache-Control"]
    assert not _no_store(response)
    assert response.has_header("ETag")


# ---- sessions end when idle -------------------------------------------------------------------------


def _age_session(client: Client, minutes: float) -> None:
    """Pretend the session was last used `minutes` ago."""
    session = SessionStore(session_key=client.cookies[django_settings.SESSION_COOKIE_NAME].value)
    session[LAST_SEEN_KEY] = int(time.time() - minutes * 60)
    session.save()


def test_an_idle_session_is_signed_out_of_pages(operator, settings):
    settings.RTCC_SESSION_IDLE_MINUTES = 30
    client = signed_in_client(operator)
    assert client.get("/").status_code == 200
    _age_session(client, 31)
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    # Signed out for good: the session is gone, not just refused once.
    assert client.get("/").status_code == 302
    page = client.get(response["Location"])
    assert "signed out after 30 minutes without activity" in page.content.decode()


def test_an_idle_session_is_signed_out_of_the_api(operator, settings):
    settings.RTCC_SESSION_IDLE_MINUTES = 30
    client = signed_in_client(operator)
    assert client.get("/api/incidents/").status_code == 200
    _age_session(client, 31)
    assert client.get("/api/incidents/").status_code == 401


def test_activity_keeps_a_session_alive(operator, settings):
    settings.RTCC_SESSION_IDLE_MINUTES = 30
    client = signed_in_client(operator)
    _age_session(client, 29)
    assert client.get("/api/incidents/").status_code == 200
    # That request was activity: the clock starts again from now.
    session = SessionStore(session_key=client.cookies[django_settings.SESSION_COOKIE_NAME].value)
    assert time.time() - session[LAST_SEEN_KEY] < 5
    _age_session(client, 20)
    assert client.get("/").status_code == 200


def test_the_idle_limit_comes_from_the_environment():
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; print(s.RTCC_SESSION_IDLE_MINUTES)",
        ],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings", "RTCC_SESSION_IDLE_MINUTES": "12"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.stdout.strip() == "12", run.stderr
    default = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings as s; print(s.RTCC_SESSION_IDLE_MINUTES)",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != "RTCC_SESSION_IDLE_MINUTES"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert default.stdout.strip() == "30", default.stderr


@live_test
async def test_the_live_socket_refuses_an_idle_session(ws, home):
    def setup():
        user = f.user(agency=home, role="operator")
        fresh, idle = headers_for(user), headers_for(user)
        cookie = dict(idle)[b"cookie"].decode().split("=", 1)[1]
        session = SessionStore(session_key=cookie)
        session[LAST_SEEN_KEY] = int(time.time() - (django_settings.RTCC_SESSION_IDLE_MINUTES + 1) * 60)
        session.save()
        return fresh, idle

    fresh, idle = await database_sync_to_async(setup)()
    await ws(fresh)
    assert await ws(idle, refused=True) == 4401


# ---- README's role table, as the code does it ----------------------------------------------------


README_ROLES = {
    "operator": Role.OPERATOR,
    "watch commander": Role.WATCH_COMMANDER,
    "planner": Role.PLANNER,
    "agency admin": Role.AGENCY_ADMIN,
    "auditor": Role.AUDITOR,
    "partner": Role.PARTNER,
}


def test_readme_role_table_is_the_permission_matrix():
    """Each row of README's "Roles and agencies" table names its permissions in backticks; every
    permission is in a row, and each row's yes/— per role is what apps/accounts/permissions.py grants."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Roles and agencies") :]
    table = section[section.index("\n|") + 1 :]
    lines = list(itertools.takewhile(lambda line: line.startswith("|"), table.splitlines()))
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    roles = [README_ROLES[name] for name in header[1:]]
    covered = set()
    for line in lines[2:]:
        label, *cells = [cell.strip() for cell in line.strip("|").split("|")]
        perms = [Perm(name) for name in re.findall(r"`([a-z_]+)`", label) if name in Perm._value2member_map_]
        assert perms, f"README row names no permission: {label}"
        for perm in perms:
            covered.add(perm)
            readme = {role: cell == "yes" for role, cell in zip(roles, cells, strict=True)}
            code = {role: perm in MATRIX[role] for role in roles}
            assert readme == code, f"{perm}: README {readme} but the code grants {code}"
    assert covered == set(Perm), f"README's table leaves out {set(Perm) - covered}"


def test_an_auditor_is_not_served_the_map(auditor):
    """README: an auditor has the audit trail, not the layers or the live map. The map page (and the
    wall, which is a map) answers 403 with a page that says so, and none of the map's configuration."""
    client = signed_in_client(auditor)
    for path in ("/", "/wall/"):
        response = client.get(path)
        assert response.status_code == 403, path
        html = response.content.decode()
        assert "does not include the map" in html
        assert "rtcc-config" not in html and "apiBase" not in html
    assert "/api/audit/" in client.get("/").content.decode()


def test_every_role_with_layers_gets_the_map(operator, commander, planner):
    for user in (operator, commander, planner):
        assert signed_in_client(user).get("/").status_code == 200


async def _closed_with(comm, timeout: float = 8.0) -> int:
    """The close code the server sends, skipping any message that comes first."""
    deadline = time.monotonic() + timeout
    while True:
        output = await comm.receive_output(timeout=max(0.1, deadline - time.monotonic()))
        if output["type"] == "websocket.close":
            return output["code"]


@live_test
@pytest.mark.parametrize("ending", ["signed out", "idle"])
async def test_an_open_socket_is_closed_when_its_session_ends(ws, live, home, ending):
    """Signing out (in another tab) or going idle ends the map's open socket too, within the access
    re-check (RTCC_LIVE_ACCESS_TTL), even on a quiet feed."""
    live.RTCC_LIVE_ACCESS_TTL = 0
    live.RTCC_LIVE_CATCH_UP_SECONDS = 1

    def setup():
        user = f.user(agency=home, role="operator")
        headers = headers_for(user)
        return headers, dict(headers)[b"cookie"].decode().split("=", 1)[1]

    headers, key = await database_sync_to_async(setup)()
    comm = await ws(headers)
    await subscribe(comm, layers=["units"])

    def end():
        session = SessionStore(session_key=key)
        if ending == "signed out":
            session.delete()
        else:
            session[LAST_SEEN_KEY] = int(time.time() - (django_settings.RTCC_SESSION_IDLE_MINUTES + 1) * 60)
            session.save()

    await database_sync_to_async(end)()
    assert await _closed_with(comm) == 4401
