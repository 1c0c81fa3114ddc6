"""Persona fixtures: one user per role in the home agency, one in another agency, and anonymous."""

from __future__ import annotations

import uuid

import pytest
import redis
from rest_framework.test import APIClient

from apps.accounts.choices import Role

from . import db_roles
from . import factories as f
from .browser_support import browser  # noqa: F401 - headless Chromium shared by the browser tests
from .live_support import live, live_prefix, ws  # noqa: F401 - WebSocket fixtures shared by the live tests


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The test database is created and migrated by the owner role (tests/db_roles.py)."""
    db_roles.become_owner()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's own set-up (as the owner), then every test runs as the app role; the owner drops it."""
    with django_db_blocker.unblock():
        db_roles.become_app()
    yield
    with django_db_blocker.unblock():
        db_roles.become_owner()


@pytest.fixture
def home(db):
    return f.agency("SPD", name="Seattle Police Department")


@pytest.fixture
def other_agency(db):
    return f.agency("KCSO", name="King County Sheriff's Office")


_LIVE_PREFIX = f"rtcc-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _private_live_prefix(settings):
    """Live updates published by tests go to this run's own Redis keys and channel groups, never to
    the maps of a demo running on the same Redis."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": settings.CHANNEL_LAYER_HOSTS, "prefix": _LIVE_PREFIX},
        }
    }
    settings.RTCC_LIVE_KEY_PREFIX = f"{_LIVE_PREFIX}:live"
    # Each test also gets its own cache namespace: login-failure counters and other cached state
    # never leak between tests, nor between the tests and a demo on the same Redis.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": settings.REDIS_URL,
            "KEY_PREFIX": f"{_LIVE_PREFIX}:cache:{uuid.uuid4().hex[:8]}",
        }
    }


@pytest.fixture(autouse=True)
def _private_audit_checkpoints(settings, tmp_path):
    """Audit checkpoints go to this test's own file, never the demo's var/audit/ (the key is the test run's own:
    rtcc_gis/settings_test.py)."""
    settings.RTCC_AUDIT_CHECKPOINT_PATH = tmp_path / "audit-checkpoints.log"


@pytest.fixture(autouse=True, scope="session")
def _drop_live_keys():
    yield
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(match=f"{_LIVE_PREFIX}*", count=1000):
        client.delete(key)


def _client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


@pytest.fixture
def operator(home):
    return f.user(agency=home, role=Role.OPERATOR, username="operator")


@pytest.fixture
def commander(home):
    return f.user(agency=home, role=Role.WATCH_COMMANDER, username="commander")


@pytest.fixture
def planner(home):
    return f.user(agency=home, role=Role.PLANNER, username="planner")


@pytest.fixture
def auditor(home):
    return f.user(agency=home, role=Role.AUDITOR, username="auditor")


@pytest.fixture
def outsider(other_agency):
    return f.user(agency=other_agency, role=Role.OPERATOR, username="outsider")


@pytest.fixture
def operator_client(operator):
    return _client_for(operator)


@pytest.fixture
def commander_client(commander):
    return _client_for(commander)


@pytest.fixture
def planner_client(planner):
    return _client_for(planner)


@pytest.fixture
def auditor_client(auditor):
    return _client_for(auditor)


@pytest.fixture
def outsider_client(outsider):
    return _client_for(outsider)


@pytest.fixture
def anon_client():
    return APIClient()
