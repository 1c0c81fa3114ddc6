"""Helpers the hardening tests share (tests/test_hardening_*.py, test_stream_proxy_limits.py,
test_demo_optional.py): CSP parsing, a signed-in client, Django started in a fresh interpreter on production
settings, small GeoJSON files."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from django.test import Client

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


def run_django(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`manage.py ...` or Python code in a fresh interpreter on rtcc_gis.settings, as a deployment starts it:
    none of the suite's DJANGO_, CSP/tile or RTCC_DEMO variables (settings_test.py sets RTCC_DEMO=1 in this
    process's environment) unless given in `env`."""
    prefixes = ("DJANGO_", "RTCC_CSP", "RTCC_TILE", "RTCC_DEMO")
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
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


def geojson_file(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def square(lon: float = f.LON, lat: float = f.LAT, size: float = 0.01) -> list:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]
