"""The demo city is optional: production settings (RTCC_DEMO unset) leave apps.demo out of INSTALLED_APPS and
its simulated-camera routes out of the URLs, and still check clean, find no migration missing and serve the
map; RTCC_DEMO=1 (the tests, scripts/local_env.sh for `make demo`) puts both back."""

from __future__ import annotations

import json
import re
import subprocess
from urllib.parse import quote

import pytest
from django.apps import apps
from django.db import connection
from django.urls import resolve

from .hardening_support import PRODUCTION, ROOT, run_django

# `from apps.demo...`, `import apps.demo`, or a dotted path handed to include()/import_module().
DEMO_IMPORT = re.compile(r"^\s*(from|import)\s+apps\.demo\b|(include|import_module)\(\s*[\"']apps\.demo", re.M)
DEMO_ROUTE = "/demo/cameras/DEMO-CAM-01/snapshot.svg"

# Run in the production process: what is installed, whether the demo's route resolves, how many
# migrations the database still lacks, and what the map and the sign-in page answer.
INSPECT = f"""
import json, django
django.setup()
from django.apps import apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.urls import Resolver404, resolve
try:
    resolve({DEMO_ROUTE!r})
    demo_route = True
except Resolver404:
    demo_route = False
executor = MigrationExecutor(connection)
pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
client = Client()
answers = {{p: client.get(p, secure=True, headers={{"host": "rtcc.example.org"}}) for p in ("/", "/accounts/login/")}}
print(json.dumps({{
    "installed": apps.is_installed("apps.demo"),
    "demo_route": demo_route,
    "pending": [str(m) for m, _ in pending],
    "status": {{p: r.status_code for p, r in answers.items()}},
    "map_redirect": answers["/"].headers.get("Location", ""),
}}))
"""


def _production(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py ...` or Python code on production settings in a fresh interpreter, RTCC_DEMO unset unless given."""
    return run_django(code, **{**PRODUCTION, **env})


def _test_database_url() -> str:
    """This run's (migrated) test database, as the app role the suite connects with."""
    s = connection.settings_dict
    auth = quote(s["USER"], safe="") + (":" + quote(s["PASSWORD"], safe="") if s.get("PASSWORD") else "")
    return f"postgis://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def test_production_settings_check_clean_without_the_demo():
    run = _production("manage.py check --fail-level WARNING")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "System check identified no issues" in run.stdout + run.stderr
    listed = _production("manage.py help --commands")
    assert listed.returncode == 0, listed.stderr
    commands = listed.stdout.split()
    assert "load_demo_city" not in commands and "simulate_city" not in commands
    assert "import_layer" in commands  # the command list is real: production's own commands are there


@pytest.mark.django_db
def test_production_settings_serve_the_map_without_the_demo_app_or_routes():
    run = _production(INSPECT, DATABASE_URL=_test_database_url())
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["installed"] is False
    assert seen["demo_route"] is False, "the simulated cameras' routes must not exist in production"
    # No migration depends on the demo: a database migrated with it needs nothing more without it.
    assert seen["pending"] == []
    assert seen["status"] == {"/": 302, "/accounts/login/": 200}
    assert "/accounts/login/" in seen["map_redirect"]


def test_rtcc_demo_installs_the_demo_app_and_its_routes():
    """The suite runs with RTCC_DEMO=1 (settings_test.py): the demo tests rely on it."""
    assert apps.is_installed("apps.demo")
    match = resolve(DEMO_ROUTE)
    assert match.namespace == "demo" and match.url_name == "camera_snapshot"


def test_rtcc_demo_must_be_a_boolean():
    run = _production("import django; django.setup()", RTCC_DEMO="sometimes")
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr and "RTCC_DEMO" in run.stderr, run.stderr


def test_nothing_outside_the_demo_imports_it():
    """Production code that imported apps.demo would fail where the demo is not installed; only the URL
    include in rtcc_gis/urls.py names it, behind RTCC_DEMO (checked above: no demo route in production)."""
    offenders = []
    for folder in ("apps", "rtcc_gis", "bench", "scripts"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path.is_relative_to(ROOT / "apps" / "demo"):
                continue
            if DEMO_IMPORT.search(path.read_text(encoding="utf-8")):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == ["rtcc_gis/urls.py"]
    urls = (ROOT / "rtcc_gis" / "urls.py").read_text(encoding="utf-8")
    assert "if settings.RTCC_DEMO:" in urls
