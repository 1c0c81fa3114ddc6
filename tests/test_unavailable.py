"""apps.core.unavailable's database classifier, on real psycopg exceptions from real connections: only a
database that cannot be reached is an outage (503); a cancelled statement is this request's error (500)."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, connection, transaction

from apps.core.unavailable import DATABASE, unavailable_part

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
