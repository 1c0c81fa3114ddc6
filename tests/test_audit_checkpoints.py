"""Signed checkpoints of the audit chain's head, outside the database: written on a schedule and on demand, and
`audit_verify` names what the hash chain alone cannot see (the newest rows deleted, the table emptied, history
re-chained) and lines that were forged or signed with another key.

The attacker here has the owner's rights (may lift the triggers), on a connection of its own; so these tests are
transactional (it must see the events they wrote)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.audit.chain import CHAIN_FIELDS, event_hash
from apps.audit.checkpoints import audit_checkpoint_write, audit_checkpoints_verify, key_id
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.services import audit_chain_verify, audit_record
from apps.retention.models import RetentionPolicy
from apps.retention.services import retention_purge

from . import factories as f
from .db_roles import owner_connect
from .live_support import test_database_url

TASK = "apps.audit.tasks.audit_checkpoint_task"


def _events(n: int) -> list[AuditEvent]:
    return [audit_record(user=None, action=AuditAction.SEARCH, reason=f"case {i}", detail={"i": i}) for i in range(n)]


def _lines() -> list[dict]:
    return [json.loads(line) for line in settings.RTCC_AUDIT_CHECKPOINT_PATH.read_text().splitlines()]


def _verify_fails(*fragments: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("audit_verify")
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def _as_attacker(*statements: tuple[str, list]) -> None:
    """Statements run with the owner's rights and the append-only triggers lifted."""
    with owner_connect() as conn, conn.transaction():
        conn.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")


# --- writing -------------------------------------------------------------------------------------------------------


def test_a_checkpoint_is_a_signed_line_of_the_head_appended_to_the_file(db, capsys):
    events = _events(3)
    call_command("audit_checkpoint")
    assert f"head event {events[-1].pk}" in capsys.readouterr().out
    _events(1)
    audit_checkpoint_write()
    first, second = _lines()
    assert (first["head_id"], first["head_hash"], first["count"]) == (events[-1].pk, events[-1].hash, 3)
    assert second["head_id"] > first["head_id"] and second["count"] == 4
    key = settings.RTCC_AUDIT_CHECKPOINT_KEY.encode()
    assert first["kid"] == key_id(key)
    unsigned = {k: v for k, v in first.items() if k != "mac"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert first["mac"] == hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
    # Nothing about the key is in the database.
    assert not AuditEvent.objects.filter(detail__icontains=settings.RTCC_AUDIT_CHECKPOINT_KEY).exists()

    call_command("audit_verify")
    assert "2 checkpoints verified" in capsys.readouterr().out


def test_an_empty_trail_checkpoints_and_verifies(db):
    record = audit_checkpoint_write()
    assert (record["head_id"], record["count"]) == (None, 0)
    assert audit_checkpoints_verify().ok


def test_beat_writes_a_checkpoint_every_few_minutes(db):
    from rtcc_gis.celery import app

    app.loader.import_default_modules()
    assert TASK in app.tasks
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == TASK]
    assert len(entries) == 1 and entries[0]["schedule"] == settings.RTCC_AUDIT_CHECKPOINT_MINUTES * 60
    task = app.tasks[TASK]
    assert task.soft_time_limit < task.time_limit
    # Celery beat refuses to send a task whose soft limit (its own, else the global one) is not below its hard
    # limit: every scheduled task must have sane limits, or it silently never runs.
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        scheduled = app.tasks[entry["task"]]
        soft = scheduled.soft_time_limit or settings.CELERY_TASK_SOFT_TIME_LIMIT
        hard = scheduled.time_limit or settings.CELERY_TASK_TIME_LIMIT
        assert soft < hard, f"{name}: soft_time_limit {soft} >= time_limit {hard}"
    _events(2)
    outcome = task.apply()
    assert outcome.successful(), outcome.traceback
    assert _lines()[-1]["head_id"] == AuditEvent.objects.order_by("-id").first().pk


def test_checkpoints_also_go_to_syslog(db, tmp_path):
    """RTCC_AUDIT_CHECKPOINT_SYSLOG sends each signed line off the host too (here: a UDP syslog listener)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.settimeout(30)
        env = {
            **os.environ,
            "DATABASE_URL": test_database_url(),
            "RTCC_AUDIT_CHECKPOINT_SYSLOG": f"127.0.0.1:{listener.getsockname()[1]}",
            "RTCC_AUDIT_CHECKPOINT_PATH": str(tmp_path / "checkpoints.log"),
            "RTCC_AUDIT_CHECKPOINT_KEY": settings.RTCC_AUDIT_CHECKPOINT_KEY,
        }
        run = subprocess.run(
            [sys.executable, "manage.py", "audit_checkpoint"],
            cwd=Path(__file__).resolve().parent.parent,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, run.stderr
        datagram = listener.recv(65536).decode()
    line = json.loads((tmp_path / "checkpoints.log").read_text())
    assert datagram.startswith("<86>")  # facility authpriv (10) * 8 + severity info (6)
    assert "audit checkpoint" in datagram and line["mac"] in datagram


# --- what verification catches ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_deleting_the_newest_rows_is_detected():
    events = _events(5)
    audit_checkpoint_write()
    _as_attacker(("DELETE FROM audit_auditevent WHERE id >= %s", [events[3].pk]))
    assert audit_chain_verify().ok  # the chain alone cannot tell
    _verify_fails(f"event {events[4].pk}, then the head of the chain, is gone", "events were deleted")


@pytest.mark.django_db(transaction=True)
def test_emptying_the_table_is_detected():
    _events(3)
    audit_checkpoint_write()
    with owner_connect() as conn:
        conn.execute("TRUNCATE audit_auditevent")  # the owner may; the app role may not (test_audit_db_roles.py)
    assert audit_chain_verify().ok
    _verify_fails("is gone", "it is empty")


@pytest.mark.django_db(transaction=True)
def test_rewriting_and_rechaining_history_is_detected():
    events = _events(5)
    audit_checkpoint_write()
    # The attacker edits event 2 and recomputes every hash after it, so every link is right again.
    rows = list(AuditEvent.objects.filter(id__gte=events[1].pk).order_by("id").values(*CHAIN_FIELDS))
    prev = events[0].hash
    statements = []
    for row in rows:
        if row["id"] == events[1].pk:
            row["reason"] = "nothing to see"
        row["prev_hash"] = prev
        prev = event_hash(row)
        statements.append(
            (
                "UPDATE audit_auditevent SET reason = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [row["reason"], row["prev_hash"], prev, row["id"]],
            )
        )
    _as_attacker(*statements)
    assert audit_chain_verify().ok  # re-chained: the chain alone cannot tell
    _verify_fails(f"event {events[4].pk} now has hash", "rewritten and re-chained")


@pytest.mark.django_db(transaction=True)
def test_deleting_the_oldest_rows_outside_a_purge_is_detected():
    events = _events(4)
    audit_checkpoint_write()
    _as_attacker(("DELETE FROM audit_auditevent WHERE id <= %s", [events[1].pk]))
    # The chain walk itself now knows where the trail may start: after the purge ledger's last event, or nowhere.
    assert not audit_chain_verify().ok
    _verify_fails(f"the trail now starts at event {events[2].pk}", "were deleted")


def test_a_forged_or_altered_line_is_detected(db):
    events = _events(2)
    audit_checkpoint_write()
    line = _lines()[0]
    forged = {**line, "head_hash": "0" * 64}  # altered, old signature
    with settings.RTCC_AUDIT_CHECKPOINT_PATH.open("a") as out:
        out.write(json.dumps(forged) + "\n")
        out.write("not even json\n")
    message = _verify_fails("checkpoint line 2: HMAC does not match", "checkpoint line 3: not a checkpoint line")
    assert "line 1" not in message
    assert events


def test_a_line_signed_with_another_key_or_a_wrong_key_is_named(db, settings):
    _events(1)
    audit_checkpoint_write(key=b"an attacker's own key, not ours, 32+ chars")
    _verify_fails("checkpoint line 1: signed with another key")

    settings.RTCC_AUDIT_CHECKPOINT_PATH = settings.RTCC_AUDIT_CHECKPOINT_PATH.with_name("other.log")
    audit_checkpoint_write()
    settings.RTCC_AUDIT_CHECKPOINT_KEY = "the wrong key configured for verification, 32+"
    _verify_fails("checkpoint line 1: signed with another key", "RTCC_AUDIT_CHECKPOINT_KEY")


def test_a_retention_purge_is_not_tampering(db):
    """Checkpointed events the retention purge removed (its audit event says how far) are no alarm."""
    old = [f.old_audit_event() for _ in range(3)]
    audit_checkpoint_write()  # its head is an expired event
    result = retention_purge(policy=RetentionPolicy.objects.get(data_class="audit"))
    assert result.rows_deleted == 3 and not AuditEvent.objects.filter(pk__in=[e.pk for e in old]).exists()
    audit_checkpoint_write()
    report = audit_checkpoints_verify()
    assert report.ok and report.checked == 2, report.summary()
    call_command("audit_verify")


def test_no_checkpoint_file_yet_is_said_not_failed(db, capsys):
    _events(1)
    call_command("audit_verify")
    assert "no checkpoints yet" in capsys.readouterr().out


# --- a purge is believed only from the purge function's own ledger -------------------------------------------------


def _forged_purge_event(*, prev_hash: str, last_deleted_id: int, last_deleted_hash: str) -> dict:
    """A retention.purge event as the purge writes it, chained after `prev_hash`, with a correct hash of its own."""
    fields = {
        "id": AuditEvent.objects.order_by("-id").values_list("id", flat=True).first() + 1000,
        "at": timezone.now(),
        "user_id": None,
        "username": "",
        "agency_id": None,
        "action": str(AuditAction.RETENTION_PURGE),
        "object_type": "retention.purgereceipt",
        "object_id": "1",
        "reason": "",
        "detail": {"data_class": "audit", "last_deleted_hash": last_deleted_hash, "last_deleted_id": last_deleted_id},
        "ip": None,
        "prev_hash": prev_hash,
    }
    fields["hash"] = event_hash(fields)
    return fields


_INSERT = (
    "INSERT INTO audit_auditevent (id, at, user_id, username, agency_id, action, object_type, object_id, reason, "
    "detail, ip, prev_hash, hash) VALUES (%(id)s, %(at)s, %(user_id)s, %(username)s, %(agency_id)s, %(action)s, "
    "%(object_type)s, %(object_id)s, %(reason)s, %(detail)s, %(ip)s, %(prev_hash)s, %(hash)s)"
)


def _insert_params(fields: dict) -> dict:
    return {**fields, "detail": json.dumps(fields["detail"])}


@pytest.mark.django_db(transaction=True)
def test_a_purge_event_forged_by_the_app_role_does_not_explain_deleted_rows():
    """The app role may INSERT any audit event, a retention.purge one too: it does not account for the start of
    the trail (here deleted with the owner's rights), only the purge function's ledger does."""
    events = _events(4)
    audit_checkpoint_write()
    _as_attacker(("DELETE FROM audit_auditevent WHERE id <= %s", [events[1].pk]))
    forged = _forged_purge_event(
        prev_hash=events[3].hash, last_deleted_id=events[1].pk, last_deleted_hash=events[1].hash
    )
    from django.db import connection  # the app role's connection, as the web processes have

    with connection.cursor() as cur:
        cur.execute(_INSERT, _insert_params(forged))
    audit_checkpoint_write()
    _verify_fails(f"the trail now starts at event {events[2].pk}", "not removed by the retention purge")


@pytest.mark.django_db(transaction=True)
def test_the_owner_wiping_the_trail_and_forging_a_purge_is_detected():
    """The owner deletes every event and leaves one forged purge event (the chain walk trusts it), even with a
    forged ledger row to match: no later signed checkpoint covers that purge, so the vanished head is named."""
    events = _events(3)
    audit_checkpoint_write()
    anchor = "f" * 64
    forged = _forged_purge_event(prev_hash=anchor, last_deleted_id=events[-1].pk + 10, last_deleted_hash=anchor)
    _as_attacker(("DELETE FROM audit_auditevent", []))
    with owner_connect() as conn:
        conn.execute(_INSERT, _insert_params(forged))
    message = _verify_fails("the trail now starts at event", f"event {events[-1].pk}, then the head of the chain")

    with owner_connect() as conn:  # now a ledger row to match, as only the owner could write
        conn.execute(
            "INSERT INTO audit_auditpurge (at, cutoff, days, deleted, first_id, last_id, last_hash) "
            "VALUES (now(), now(), 1, 3, %s, %s, %s)",
            [events[0].pk, forged["detail"]["last_deleted_id"], anchor],
        )
    assert audit_chain_verify().ok  # the chain now starts where the forged ledger says
    message = _verify_fails(f"event {events[-1].pk}, then the head of the chain, is gone", "events were deleted")
    with pytest.raises(SystemExit) as exit_code:  # the command line: exit status 1
        from django.core.management import execute_from_command_line

        execute_from_command_line(["manage.py", "audit_verify"])
    assert exit_code.value.code == 1, message


def test_checkpoints_sign_the_purge_ledger(db):
    old = [f.old_audit_event() for _ in range(2)]
    retention_purge(policy=RetentionPolicy.objects.get(data_class="audit"))
    line = audit_checkpoint_write()
    assert line["purged_id"] == old[-1].pk and line["purged_hash"] == old[-1].hash and line["purged_before"]


def test_the_key_file_is_made_by_local_env_only_and_read_in_development(settings, tmp_path):
    """scripts/local_env.sh is the one place a local key is made; without RTCC_AUDIT_CHECKPOINT_KEY, a DEBUG
    process reads that file and never writes one of its own (two generators raced for the same file)."""
    from django.core.exceptions import ImproperlyConfigured

    from apps.audit.checkpoints import checkpoint_key

    key_file = tmp_path / "audit" / "checkpoint.key"
    settings.RTCC_AUDIT_CHECKPOINT_KEY, settings.RTCC_AUDIT_CHECKPOINT_KEY_FILE, settings.DEBUG = "", key_file, True
    with pytest.raises(ImproperlyConfigured, match="local_env.sh"):
        checkpoint_key()
    assert not key_file.exists()
    key_file.parent.mkdir()
    key_file.write_text("a-key-local-env-made-0123456789abcdef\n")
    assert checkpoint_key() == b"a-key-local-env-made-0123456789abcdef"
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured):
        checkpoint_key()


def test_the_tests_sign_with_the_runs_own_key():
    assert settings.RTCC_AUDIT_CHECKPOINT_KEY.startswith("test-") and len(settings.RTCC_AUDIT_CHECKPOINT_KEY) >= 32
