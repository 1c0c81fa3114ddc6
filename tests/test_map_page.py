"""The map page and sign-in: who gets in, and what the HTML may contain (no inline code, no outside hosts)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from apps.accounts.choices import Role

from . import factories as f

pytestmark = pytest.mark.django_db


class _Scan(HTMLParser):
    """Collects <script> tags with their bodies, and every attribute on every tag."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict, str]] = []
        self.attrs: list[tuple[str, str, str]] = []
        self._open: dict | None = None
        self._body: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            self.attrs.append((tag, name, value or ""))
        if tag == "script":
            self._open = dict(attrs)
            self._body = []

    def handle_data(self, data):
        if self._open is not None:
            self._body.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._open is not None:
            self.scripts.append((self._open, "".join(self._body)))
            self._open = None


def _scan(html: str) -> _Scan:
    scan = _Scan()
    scan.feed(html)
    return scan


def _config(html: str) -> dict:
    match = re.search(r'<script id="rtcc-config" type="application/json">(.*?)</script>', html, re.S)
    assert match, "the page must carry its config in a json_script block"
    return json.loads(match.group(1))


def _logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_anonymous_is_sent_to_login():
    response = Client().get(reverse("map"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_operator_gets_the_map_with_config_and_module(operator):
    response = _logged_in(operator).get(reverse("map"))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<script type="module" src="/static/rtcc/js/main.js"></script>' in html
    assert 'href="/static/leaflet/leaflet.css"' in html
    config = _config(html)
    assert config["apiBase"] == "/api/"
    assert config["center"] == [47.6062, -122.3321]
    assert config["zoom"] == 12
    assert config["tiles"] == []
    assert config["loginUrl"] == reverse("login")
    assert config["csrfCookieName"] == "csrftoken"
    assert config["user"]["username"] == "operator"
    assert config["user"]["role"] == Role.OPERATOR
    assert "view_camera_stream" in config["user"]["perms"]
    assert "view_alpr_reads" in config["user"]["perms"]
    # The logout form sets the CSRF cookie that api.js sends back on POSTs.
    assert "csrftoken" in response.cookies


def test_no_inline_code_and_no_inline_handlers(operator):
    scan = _scan(_logged_in(operator).get(reverse("map")).content.decode())
    assert scan.scripts, "expected script tags"
    for attrs, body in scan.scripts:
        if attrs.get("type") == "application/json":
            assert attrs.get("id"), "json_script blocks carry an id"
            continue
        assert attrs.get("src"), f"inline script found: {body[:80]!r}"
        assert body.strip() == ""
    handlers = [(tag, name) for tag, name, _ in scan.attrs if name.startswith("on")]
    assert handlers == []
    assert [tag for tag, name, _ in scan.attrs if name == "style"] == []
    assert not any(value.strip().lower().startswith("javascript:") for _, _, value in scan.attrs)


def test_no_urls_to_other_hosts(operator):
    html = _logged_in(operator).get(reverse("map")).content.decode()
    hosts = set(re.findall(r"(?:https?:)?//([A-Za-z0-9.-]+(?::\d+)?)", html))
    assert hosts <= {"testserver"}, hosts
    for _, name, value in _scan(html).attrs:
        if name in {"src", "href", "action", "poster", "data"}:
            assert value.startswith("/") and not value.startswith("//"), (name, value)


def test_login_page_has_no_outside_urls_or_inline_code():
    html = Client().get(reverse("login")).content.decode()
    assert not re.search(r"(?:https?:)?//[A-Za-z0-9]", html)
    for attrs, _ in _scan(html).scripts:
        assert attrs.get("src") or attrs.get("type") == "application/json"


@override_settings(
    LEAFLET_CONFIG={
        "DEFAULT_CENTER": (47.6, -122.3),
        "DEFAULT_ZOOM": 13,
        "MIN_ZOOM": 3,
        "MAX_ZOOM": 19,
        "TILES": [("Agency tiles", "/tiles/{z}/{x}/{y}.png", {"attribution": "City GIS"})],
    }
)
def test_agency_tile_server_reaches_the_config(operator):
    config = _config(_logged_in(operator).get(reverse("map")).content.decode())
    assert config["tiles"] == [{"name": "Agency tiles", "url": "/tiles/{z}/{x}/{y}.png", "attribution": "City GIS"}]
    assert config["center"] == [47.6, -122.3]
    assert config["zoom"] == 13


def test_planner_config_lists_only_what_the_role_may_do(planner):
    config = _config(_logged_in(planner).get(reverse("map")).content.decode())
    # Planners read the map and the analysis of the past; no live video, plates or acknowledging.
    assert sorted(config["user"]["perms"]) == [
        "export_layers",
        "playback",
        "view_analytics",
        "view_layers",
        "view_measures",
    ]


def test_live_config_names_the_socket_and_the_layers_the_role_may_see(operator, planner):
    config = _config(_logged_in(operator).get(reverse("map")).content.decode())
    assert config["live"] == {
        "url": "/ws/live/",
        "layers": ["incidents", "cameras", "units", "alpr_reads", "gunshots", "alerts"],
    }
    config = _config(_logged_in(planner).get(reverse("map")).content.decode())
    # Plate reads stream only to roles that may read plates.
    assert config["live"]["layers"] == ["incidents", "cameras", "units", "gunshots", "alerts"]


def test_live_updates_can_be_turned_off(operator, settings):
    settings.RTCC_LIVE_MAP_ENABLED = False
    config = _config(_logged_in(operator).get(reverse("map")).content.decode())
    assert config["live"] is None


def test_header_has_live_state_and_alert_counter(operator):
    html = _logged_in(operator).get(reverse("map")).content.decode()
    assert 'id="live-state"' in html
    assert 'id="alert-counter"' in html
    assert 'id="status-line"' in html


def test_config_escapes_user_text(home):
    user = f.user(agency=home, role=Role.OPERATOR, username="op</script><b>")
    html = _logged_in(user).get(reverse("map")).content.decode()
    assert "op</script><b>" not in html
    assert _config(html)["user"]["username"] == "op</script><b>"


def test_login_with_credentials_lands_on_the_map(operator):
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    response = client.post(
        reverse("login"),
        {"username": "operator", "password": f.PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("map")
    assert client.get(reverse("map")).status_code == 200


def test_login_follows_next(operator):
    response = Client().post(
        f"{reverse('login')}?next=/", {"username": "operator", "password": f.PASSWORD, "next": "/"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_login_refuses_a_next_on_another_host(operator):
    response = Client().post(
        reverse("login"), {"username": "operator", "password": f.PASSWORD, "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("map")


def test_wrong_password_stays_on_login(operator):
    response = Client().post(reverse("login"), {"username": "operator", "password": "nope-nope-nope"})
    assert response.status_code == 200
    assert b"login-error" in response.content
    assert not response.wsgi_request.user.is_authenticated


def test_logout_is_post_only(operator):
    client = _logged_in(operator)
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("map")).status_code == 302
