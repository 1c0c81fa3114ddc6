"""The audit trail's hash chain: how each hash is made, what verification catches, what purges may do."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC

import psycopg
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from django.utils import timezone

from apps.audit.models import AuditAction, AuditEvent
from apps.audit.services import audit_chain_verify, audit_record

from . import factories as f
from .db_roles import owner_connect


def _sql(statement: str, params: list | None = None) -> None:
    with connection.cursor() as cur:
        cur.execute(statement, params or [])


def _events(user, n: int) -> list[AuditEvent]:
    return [
        audit_record(user=user, action=AuditAction.PLATE_SEARCH, reason=f"case {i}", detail={"i": i, "x": [1.5, None]})
        for i in range(n)
    ]


@pytest.fixture
def operator_user(home):
    return f.user(agency=home, role="operator", username="chain-op")


@pytest.fixture
def attacker():
    """Plays an attacker with the owner's rights (who may lift the append-only triggers) on a connection of its own;
    the tests using it are transactional, so it sees the events they wrote. The app role cannot do any of this."""
    with owner_connect(autocommit=True) as conn:

        def run(statement: str, params: list | None = None) -> None:
            with conn.transaction():
                conn.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
                conn.execute(statement, params or [])
                conn.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")

        yield run


# ---- how the hash is made ------------------------------------------------------------------------


def test_hash_is_sha256_over_the_documented_canonical_json(operator_user):
    event = audit_record(
        user=operator_user,
        action=AuditAction.PLATE_SEARCH,
        object_type="alpr.alprread",
        object_id=7,
        reason="case 2026-001 ünïcode",
        detail={"b": 1, "a": {"z": True, "y": "x"}},
    )
    event.refresh_from_db()
    expected = {
        "id": event.pk,
        "at": event.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "user_id": operator_user.pk,
        "username": "chain-op",
        "agency_id": operator_user.agency_id,
        "action": "alpr.plate_search",
        "object_type": "alpr.alprread",
        "object_id": "7",
        "reason": "case 2026-001 ünïcode",
        "detail": {"a": {"y": "x", "z": True}, "b": 1},
        "ip": None,
        "prev_hash": event.prev_hash,
    }
    text = json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert event.hash == hashlib.sha256(text.encode()).hexdigest()
    assert len(event.hash) == 64


def test_each_event_links_to_the_one_before(operator_user):
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first() or ""
    events = _events(operator_user, 4)
    assert events[0].prev_hash == previous
    for before, after in zip(events, events[1:], strict=False):
        assert after.prev_hash == before.hash
        assert after.pk > before.pk and after.at >= before.at
    assert len({e.hash for e in events}) == 4


def test_stored_values_hash_the_same_as_written(operator_user):
    """jsonb and inet rewrite values (key order, number forms, address forms); the hash is made of
    what the database hands back, so re-reading the row reproduces it."""
    from django.test import RequestFactory

    request = RequestFactory().get("/", REMOTE_ADDR="::FFFF:10.0.0.1")
    audit_record(
        user=operator_user,
        action=AuditAction.ALPR_READ_QUERY,
        detail={"big": 1e20, "small": 1e-7, "z": "\x00nul", "when": timezone.now()},
        request=request,
    )
    result = audit_chain_verify()
    assert result.ok, result.summary()


def test_unchained_rows_are_refused_by_the_model(operator_user):
    with pytest.raises(ValueError, match="audit_record"):
        AuditEvent.objects.create(user=operator_user, action=AuditAction.PLATE_SEARCH)


# ---- verification ------------------------------------------------------------------------------


def test_verify_ok_reports_the_count_and_head(operator_user):
    events = _events(operator_user, 5)
    result = audit_chain_verify(chunk_size=2)  # chunk boundaries must not matter
    total = AuditEvent.objects.count()
    assert result.ok and result.checked == total
    assert result.last_id == events[-1].pk and result.head_hash == events[-1].hash
    assert f"OK: {total} audit events verified" in result.summary()


def test_verify_on_an_empty_trail(db):
    assert not AuditEvent.objects.exists()
    result = audit_chain_verify()
    assert result.ok and result.checked == 0 and "empty" in result.summary()


@pytest.mark.django_db(transaction=True)
def test_a_tampered_row_is_caught_and_named(operator_user, attacker):
    events = _events(operator_user, 5)
    attacker("UPDATE audit_auditevent SET reason = 'nothing to see' WHERE id = %s", [events[2].pk])
    result = audit_chain_verify(chunk_size=2)
    assert not result.ok
    assert result.broken_id == events[2].pk
    assert "hash mismatch" in result.problem
    with pytest.raises(CommandError, match=f"BROKEN at audit event {events[2].pk}: hash mismatch"):
        call_command("audit_verify")


@pytest.mark.django_db(transaction=True)
def test_a_rewritten_row_with_a_fresh_hash_breaks_the_next_link(operator_user, attacker):
    from apps.audit.chain import event_hash

    events = _events(operator_user, 4)
    row = (
        AuditEvent.objects.filter(pk=events[1].pk)
        .values(
            "id",
            "at",
            "user_id",
            "username",
            "agency_id",
            "action",
            "object_type",
            "object_id",
            "reason",
            "detail",
            "ip",
            "prev_hash",
        )
        .get()
    )
    row["reason"] = "rewritten"
    rewrite = "UPDATE audit_auditevent SET reason = 'rewritten', hash = %s WHERE id = %s"
    attacker(rewrite, [event_hash(row), events[1].pk])
    result = audit_chain_verify()
    assert not result.ok and result.broken_id == events[2].pk
    assert "prev_hash" in result.problem and str(events[1].pk) in result.problem


@pytest.mark.django_db(transaction=True)
def test_a_deleted_middle_row_is_caught(operator_user, attacker):
    events = _events(operator_user, 5)
    attacker("DELETE FROM audit_auditevent WHERE id = %s", [events[2].pk])
    result = audit_chain_verify()
    assert not result.ok
    assert result.broken_id == events[3].pk
    assert "removed" in result.problem and str(events[1].pk) in result.problem


@pytest.mark.django_db(transaction=True)
def test_a_purged_prefix_verifies(operator_user):
    """The retention purge removes the oldest events (through the triggers' door, here on an owner connection) and
    records how far in its ledger, as audit_purge_batch does: the first remaining event's predecessor is gone by
    design and the rest still verifies."""
    events = _events(operator_user, 6)
    with owner_connect() as conn, conn.transaction():
        conn.execute("SET LOCAL rtcc.audit_purge = 'on'")
        conn.execute("DELETE FROM audit_auditevent WHERE id <= %s", [events[2].pk])
        conn.execute(
            "INSERT INTO audit_auditpurge (at, cutoff, days, deleted, first_id, last_id, last_hash) "
            "VALUES (now(), now(), 1, 3, %s, %s, %s)",
            [events[0].pk, events[2].pk, events[2].hash],
        )
    result = audit_chain_verify()
    assert result.ok, result.summary()
    assert result.first_id == events[3].pk and result.checked == 3
    call_command("audit_verify")  # no CommandError


def test_command_prints_ok(operator_user, capsys):
    _events(operator_user, 2)
    call_command("audit_verify", "--chunk-size", "1")
    assert "OK:" in capsys.readouterr().out


# ---- what the database allows ----------------------------------------------------------------------
# The app role has no UPDATE, DELETE or TRUNCATE on the table at all (tests/test_audit_db_roles.py); the triggers
# stand behind that even for the owner, which is what these check.


@pytest.fixture
def owner_cursor():
    with owner_connect() as conn:
        yield conn


@pytest.mark.django_db(transaction=True)
def test_update_is_refused_even_during_a_purge(operator_user, owner_cursor):
    event = _events(operator_user, 1)[0]
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"), owner_cursor.transaction():
        owner_cursor.execute("SET LOCAL rtcc.audit_purge = 'on'")
        owner_cursor.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [event.pk])


@pytest.mark.django_db(transaction=True)
def test_delete_is_refused_outside_a_purge(operator_user, owner_cursor):
    event = _events(operator_user, 1)[0]
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"), owner_cursor.transaction():
        owner_cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event.pk])


@pytest.mark.django_db(transaction=True)
def test_a_purge_may_not_cut_from_the_middle(operator_user, owner_cursor):
    events = _events(operator_user, 3)
    with pytest.raises(psycopg.errors.RaiseException, match="oldest"), owner_cursor.transaction():
        owner_cursor.execute("SET LOCAL rtcc.audit_purge = 'on'")
        owner_cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    assert AuditEvent.objects.filter(pk=events[1].pk).exists()


# ---- concurrency -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_keep_one_chain():
    """Writers on separate connections (as separate processes would be) never fork the chain."""
    agency = f.agency("CHAIN")
    user = f.user(agency=agency, role="operator")
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(15):
                audit_record(user=user, action=AuditAction.ALPR_READ_QUERY, reason=f"w{n}-{i}")
        except BaseException as exc:  # surfaced below; a thread's exception is otherwise lost
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    result = audit_chain_verify()
    assert result.ok, result.summary()
    assert AuditEvent.objects.filter(action=AuditAction.ALPR_READ_QUERY).count() == 90
    hashes = list(AuditEvent.objects.values_list("prev_hash", flat=True))
    assert len(hashes) == len(set(hashes))  # no two events claim the same predecessor


@pytest.mark.django_db(transaction=True)
def test_a_trail_purged_before_the_ledger_existed_is_adopted_by_its_migration(operator_user):
    """audit migration 0007 takes the start of a trail already purged (no ledger then) as the ledger's first row."""
    from importlib import import_module

    events = _events(operator_user, 4)
    with owner_connect() as conn, conn.transaction():
        conn.execute("SET LOCAL rtcc.audit_purge = 'on'")
        conn.execute("DELETE FROM audit_auditevent WHERE id <= %s", [events[1].pk])
    assert not audit_chain_verify().ok  # no ledger row: the start of the trail is unexplained
    with owner_connect() as conn:
        conn.execute(import_module("apps.audit.migrations.0007_purge_ledger").ADOPT)
    result = audit_chain_verify()
    assert result.ok and result.first_id == events[2].pk, result.summary()
