"""apps.core.unavailable: the database classifier, on real psycopg exceptions from real connections (only a
database that cannot be reached is an outage, 503; a cancelled statement is this request's error, 500), and the
one 503 answer and error table the API, the sign-in lockout and the task queue share."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from kombu.exceptions import OperationalError as KombuOperationalError

from apps.accounts import lockout
from apps.core import queue
from apps.core.unavailable import (
    BROKER,
    CACHE,
    DATABASE,
    DOWN_ERRORS,
    MESSAGES,
    ServiceUnavailable,
    message_for,
    unavailable_part,
    unavailable_response,
    unavailable_response_drf,
)

from .live_support import free_port, test_database_url


def _conninfo() -> str:
    return test_database_url().replace("postgis://", "postgresql://", 1)


def _raised(fn) -> BaseException:
    with pytest.raises(Exception) as caught:
        fn()
    return caught.value


def test_a_statement_timeout_is_not_an_outage(db):
    def slow() -> None:
        with transaction.atomic(), connection.cursor() as cur:
            cur.execute("SET LOCAL statement_timeout = 50")
            cur.execute("SELECT pg_sleep(2)")

    exc = _raised(slow)
    assert isinstance(exc, OperationalError) and isinstance(exc.__cause__, psycopg.errors.QueryCanceled)
    assert unavailable_part(exc) is None
    assert unavailable_part(exc.__cause__) is None


def test_a_refused_connection_is_an_outage():
    exc = _raised(lambda: psycopg.connect(f"host=127.0.0.1 port={free_port()} dbname=x connect_timeout=3"))
    assert isinstance(exc, psycopg.OperationalError)
    assert unavailable_part(exc) == DATABASE


def test_a_terminated_or_closed_connection_is_an_outage(db):
    with psycopg.connect(_conninfo(), autocommit=True) as victim, psycopg.connect(_conninfo(), autocommit=True) as ops:
        pid = victim.info.backend_pid
        assert ops.execute("SELECT pg_terminate_backend(%s)", [pid]).fetchone() == (True,)
        ended = _raised(lambda: victim.execute("SELECT 1"))
        assert isinstance(ended, psycopg.OperationalError)
        assert unavailable_part(ended) == DATABASE
        closed = _raised(lambda: victim.execute("SELECT 1"))  # and the connection psycopg now knows is closed
        assert unavailable_part(closed) == DATABASE


def test_one_503_answer_for_pages_and_the_api(rf):
    """The plain view's 503 and DRF's carry the same body and headers (one builder)."""
    exc = ServiceUnavailable(CACHE)
    plain = unavailable_response(rf.get("/api/incidents/"), CACHE, message_for(exc, CACHE))
    drf = unavailable_response_drf(exc)
    assert plain.status_code == drf.status_code == 503
    assert json.loads(plain.content) == drf.data == {"detail": MESSAGES[CACHE], "unavailable": CACHE}
    for header in ("Retry-After", "Cache-Control"):
        assert plain[header] == drf[header]


@pytest.mark.parametrize("error", [*DOWN_ERRORS[CACHE], KombuOperationalError])
def test_the_lockout_and_the_queue_read_the_same_error_table(error):
    """What the 503 mapping calls a part down is what the lockout fails closed on and what the queue
    reports as a broker failure."""
    part = unavailable_part(error("down"))

    @lockout._fail_closed
    def count() -> None:
        raise error("down")

    if part == CACHE:
        with pytest.raises(ServiceUnavailable) as caught:
            count()
        assert caught.value.part == CACHE and "Sign-in is unavailable" in str(caught.value)
    assert issubclass(error, queue.BROKER_ERRORS)
    assert str(queue.BrokerUnavailable("hotspot run 7")) == MESSAGES[BROKER].format(what="hotspot run 7")
