"""Settings for the test suite: production's (DEBUG off, a real secret, named hosts, no browsable API,
static files from STATIC_ROOT only), except that the test client and the live servers speak plain HTTP.

The values go in as environment defaults before settings.py reads them, so that the servers some tests
start in a subprocess (Daphne, Celery) inherit the same configuration. Anything already set in the
environment wins.
"""

from __future__ import annotations

import os
import secrets

_TEST_ENV = {
    "DJANGO_DEBUG": "0",
    # A fresh strong key per run: nothing a test signs outlives it.
    "DJANGO_SECRET_KEY": "test-" + secrets.token_urlsafe(48),
    # "testserver" is Django's test client's host.
    "DJANGO_ALLOWED_HOSTS": "testserver,localhost,127.0.0.1,[::1]",
    # The test client and live servers are plain HTTP: a redirect to https:// or Secure cookies would
    # stop every request. tests/test_hardening_settings.py checks production's HTTPS defaults in a fresh process.
    "DJANGO_SECURE_SSL_REDIRECT": "0",
    "DJANGO_SECURE_COOKIES": "0",
    "DJANGO_SECURE_HSTS_SECONDS": "0",
    # The demo city's app and routes: the simulator and demo tests use them (production leaves them out).
    "RTCC_DEMO": "1",
}
for _name, _value in _TEST_ENV.items():
    os.environ.setdefault(_name, _value)
# The audit checkpoints' HMAC key, as production requires one (apps/audit/checkpoints.py): always the run's own,
# even when a shell that sourced scripts/local_env.sh exports the demo's, so no test signs with a real key.
os.environ["RTCC_AUDIT_CHECKPOINT_KEY"] = "test-" + secrets.token_urlsafe(48)

from .settings import *  # noqa: E402, F403
