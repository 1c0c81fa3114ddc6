"""Hardening: production settings, checked in a fresh interpreter as a deployment would start (DEBUG off,
a real secret, HTTPS only, a proxy trusted only when told), and the suite's own production-like settings.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings

from .hardening_support import PRODUCTION, ROOT, STRONG_SECRET, run_django


def test_deploy_check_is_clean_in_production():
    run = run_django("manage.py check --deploy --fail-level WARNING", **PRODUCTION)
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
    run = run_django("import django; django.setup()", **{**PRODUCTION, **env})
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
    direct = json.loads(run_django(SHOW_SETTINGS, **PRODUCTION).stdout)
    assert direct["debug"] is False and direct["redirect"] is True
    assert direct["hsts"] >= 31536000 and direct["subdomains"] is True
    assert direct["session_secure"] is True and direct["csrf_secure"] is True
    assert direct["proxy"] is None, "X-Forwarded-Proto must not be trusted unless a proxy sets it"
    assert "rest_framework.renderers.BrowsableAPIRenderer" not in direct["renderers"]
    assert "apps.core.security.SecurityHeadersMiddleware" in direct["middleware"]
    proxied = json.loads(
        run_django(
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
    bare = run_django("import django; django.setup()")
    assert bare.returncode != 0 and "DJANGO_SECRET_KEY" in bare.stderr, bare.stderr
    unset = json.loads(
        run_django(SHOW_SETTINGS, DJANGO_SECRET_KEY=STRONG_SECRET, DJANGO_ALLOWED_HOSTS="a.example").stdout
    )
    assert unset["debug"] is False and unset["redirect"] is True and unset["session_secure"] is True
    assert "rest_framework.renderers.BrowsableAPIRenderer" not in unset["renderers"]
    dev = json.loads(run_django(SHOW_SETTINGS, DJANGO_DEBUG="1").stdout)
    assert dev["debug"] is True and dev["redirect"] is False and dev["hsts"] == 0
    assert dev["session_secure"] is False


def test_the_demo_runs_with_debug_off_over_plain_http(tmp_path):
    """scripts/local_env.sh (sourced by `make demo` and setup.sh): a generated key, local hosts, plain HTTP,
    and DEBUG still off."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    run = subprocess.run(
        ["bash", "-c", f'source scripts/local_env.sh && {sys.executable} -c "{SHOW_SETTINGS}"'],
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
    assert (
        "rest_framework.renderers.BrowsableAPIRenderer"
        not in django_settings.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"]
    )
    assert django_settings.WHITENOISE_USE_FINDERS is False
    assert len(django_settings.SECRET_KEY) >= 50
