"""Schemathesis over our own OpenAPI schema (/api/schema/): 0 server errors, signed in as each role.

Every operation of the schema gets generated requests, valid and invalid by the schema (wrong
types, missing or extra parameters, NUL bytes, huge numbers), each sent through the real Django
WSGI application as one role after another (each operation is tried by every role), each role
with its own API token (so POSTs need no CSRF
token and reach the view). The bar is schemathesis's `not_a_server_error` check: no answer 5xx,
for any input, for anyone.

Bounded for CI (2 cores, the whole suite in 30 minutes): few examples per operation, a fixed
seed (derandomized, so a failure reproduces), no shrinking; the whole file takes under two minutes
(about 4,400 requests). More examples: RTCC_SCHEMATHESIS_EXAMPLES=200.

Excluded, each with its reason (nothing else is):
- GET /api/health/ answers 503 by design when Redis or PostgreSQL is down (a part's state, not an
  input's), which not_a_server_error would count; it takes no input at all.
- the two feed ingest endpoints take a feed source token instead of a user; they are fuzzed with
  real recorded payloads by tests/test_fuzz.py. Here they are still called as each role (a
  401 is the bar), so they are not left out of the sweep.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from apps.accounts.choices import Role
from apps.accounts.models import ApiToken, User
from apps.accounts.permissions import Layer
from apps.accounts.services import agency_sharing_create

from . import factories as f

EXAMPLES = int(os.environ.get("RTCC_SCHEMATHESIS_EXAMPLES", "40"))
# Every role of apps.accounts.choices.Role, plus a user of an agency that shares nothing with us.
PERSONAS = {
    "operator": ("home", Role.OPERATOR),
    "watch_commander": ("home", Role.WATCH_COMMANDER),
    "planner": ("home", Role.PLANNER),
    "agency_admin": ("home", Role.AGENCY_ADMIN),
    "auditor": ("home", Role.AUDITOR),
    "partner": ("partner", Role.PARTNER),
    "other_agency": ("other", Role.OPERATOR),
}
EXCLUDED = {("GET", "/api/health/"): "503 by design when a part is down; takes no input"}
# Inputs tried and server errors seen, for the report at the end of the run (a failing operation
# stops at its first server error, so server_errors counts operations that failed).
TALLY = {"requests": 0, "server_errors": 0}


def _schema_dict() -> dict[str, Any]:
    """The schema /api/schema/ serves, generated in-process (it needs no database)."""
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(generated, default=str))


def _load() -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_dict(_schema_dict())
    loaded.app = WSGIHandler()
    loaded.config.generation.update(
        modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
        max_examples=EXAMPLES,
        deterministic=True,
        allow_x00=True,
    )
    for method, path in EXCLUDED:
        loaded = loaded.exclude(method=method, path=path)
    return loaded


schema = _load()


@pytest.fixture
def tokens(db) -> dict[str, str]:
    """A small world (one record of each kind, one sharing rule) and an API token per persona."""
    agencies = {
        "home": f.agency("SPD", name="Seattle Police Department"),
        "partner": f.agency("BPD", name="Bellevue Police Department"),
        "other": f.agency("KCSO", name="King County Sheriff's Office"),
    }
    agency_sharing_create(owner_id=agencies["home"].pk, partner_id=agencies["partner"].pk, layers=list(Layer))
    home = agencies["home"]
    incident = f.incident(agency=home)
    f.camera(agency=home, sharing="live")
    f.unit(agency=home)
    f.zone(agency=home)
    f.alert(agency=home)
    f.gunshot(agency=home)
    f.alpr_read(agency=home, plate="ABC1234", site=f.alpr_site(agency=home))
    assert incident.pk
    keys = {}
    for persona, (agency, role) in PERSONAS.items():
        user = User(username=persona, agency=agencies[agency], role=role)
        user.set_unusable_password()
        user.save()
        keys[persona] = ApiToken.objects.issue(user=user, name="schemathesis")[1]
    return keys


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """As Django's test client does: a finished request must not close the test's database connection
    (the WSGI handler's request_finished signal would, and the test's transaction with it)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def personas() -> Iterator[str]:
    """The role each generated request is sent as, in turn: every operation is tried by every role
    (seven times cheaper than sending each example seven times, so more examples fit the budget)."""
    return itertools.cycle(PERSONAS)


@pytest.fixture(autouse=True)
def _quiet_refusals():
    """Thousands of 4xx warnings would bury the report; 5xx are logged at ERROR and still show."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print(f"\nschemathesis: {TALLY['requests']} requests, {TALLY['server_errors']} server errors")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_for_any_role(case, tokens, personas):
    persona = next(personas)
    TALLY["requests"] += 1
    try:
        with transaction.atomic():
            response = case.call(headers={"Authorization": f"Token {tokens[persona]}"})
            # Undo what the request did: each example starts from the same world, and a request whose
            # query failed has left the transaction unusable.
            transaction.set_rollback(True)
    except Exception:
        # A streamed response (CSV, exports) that fails after its 200 went out: a server error too.
        TALLY["server_errors"] += 1
        print(f"\n{persona}: {case.method} {case.formatted_path} {case.query} -> exception while streaming")
        raise
    if response.status_code >= 500:
        TALLY["server_errors"] += 1
        print(f"\n{persona}: {case.method} {case.formatted_path} {case.query} -> {response.status_code}")
    case.validate_response(response, checks=[not_a_server_error])
