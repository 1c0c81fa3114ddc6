"""Retention: expired data is purged in batches per data class, legal holds keep records, every purge leaves a
receipt and an audit event, and the audit trail itself is purged only oldest-first through the trigger's door."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import psycopg
import psycopg.errors
import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import DatabaseError, OperationalError, connection, transaction
from django.utils import timezone

from apps.alpr.models import AlprRead
from apps.audit.models import AuditEvent, AuditPurge
from apps.audit.services import audit_chain_verify, audit_record
from apps.core.geo import make_point
from apps.feeds.models import DeadLetter, FeedSource
from apps.incidents.models import Incident, NarrativeEntry
from apps.retention import services
from apps.retention.models import DataClass, PurgeReceipt, RetentionPolicy
from apps.retention.selectors import TARGETS
from apps.retention.services import (
    LEGAL_HOLD,
    RETENTION_PURGE,
    batch_sql,
    legal_hold_set,
    positions_hold,
    retention_purge,
    retention_purge_all,
)
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import UnitPosition

from . import factories as f

TASK = "apps.retention.tasks.retention_purge_all"


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def policy(data_class: str) -> RetentionPolicy:
    return RetentionPolicy.objects.get(data_class=data_class)


def purge(data_class: str, **kw):
    return retention_purge(policy=policy(data_class), **kw)


def position(unit, age_days: float, **kw) -> UnitPosition:
    return UnitPosition.objects.create(
        unit=unit, location=make_point(f.LON, f.LAT), recorded_at=days_ago(age_days), **kw
    )


def purge_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=RETENTION_PURGE).order_by("id"))


@pytest.fixture
def unit(home):
    return f.unit(agency=home)


# --- policies ---------------------------------------------------------------------------------------------------


def test_default_policies_come_from_the_data_migration(db):
    assert {p.data_class: p.days for p in RetentionPolicy.objects.all()} == {
        "alpr_reads": 90,
        "alpr_hits": 365,
        "unit_positions": 30,
        "closed_incidents": 1825,
        "gunshots": 1825,
        "alerts": 365,
        "dead_letters": 30,
        "audit": 2555,
    }
    assert all(p.enabled and p.note for p in RetentionPolicy.objects.all())
    assert set(TARGETS) == set(DataClass.values)


def test_every_class_builds_its_batch_statement(db):
    """Every foreign key into a purged table is one the purge knows how to honour (a new PROTECT or SET_DEFAULT
    foreign key would raise here, not at 3 a.m.)."""
    for target in TARGETS.values():
        assert "DELETE FROM" in batch_sql(target, "TRUE", 10)


# --- what each class purges -------------------------------------------------------------------------------------


def test_old_non_hit_reads_are_purged_and_hits_kept_until_their_own_period(home):
    entry = f.hotlist_entry(agency=home, plate="HOT1")
    old_read = f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(91))
    recent_read = f.alpr_read(agency=home, plate="BBB222", read_at=days_ago(89))
    old_hit = f.alpr_read(agency=home, plate="HOT1", read_at=days_ago(200), hit=entry)
    expired_hit = f.alpr_read(agency=home, plate="HOT1", read_at=days_ago(366), hit=entry)

    retention_purge_all(data_classes=["alpr_reads"])
    assert set(AlprRead.objects.values_list("pk", flat=True)) == {recent_read.pk, old_hit.pk, expired_hit.pk}

    retention_purge_all(data_classes=["alpr_hits"])
    assert set(AlprRead.objects.values_list("pk", flat=True)) == {recent_read.pk, old_hit.pk}
    assert not AlprRead.objects.filter(pk=old_read.pk).exists()


def test_a_purged_read_or_gunshot_is_unlinked_from_its_alert(home):
    read = f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(100))
    shot = f.gunshot(agency=home, detected_at=days_ago(1900))
    alert = f.alert(agency=home, kind="hotlist_hit", alpr_read=read, gunshot=shot)
    retention_purge_all(data_classes=["alpr_reads", "gunshots"])
    alert.refresh_from_db()
    assert (alert.alpr_read_id, alert.gunshot_id) == (None, None)
    assert not AlprRead.objects.exists() and not GunshotDetection.objects.exists()


def test_closed_incidents_go_with_their_narrative_and_unit_links(home, unit):
    old_closed = f.incident(agency=home, status="closed", received_at=days_ago(2000), closed_at=days_ago(1830))
    NarrativeEntry.objects.create(incident=old_closed, entered_at=days_ago(2000), text="caller reports")
    old_closed.assigned_units.add(unit)
    # Counted from the closing, not the call: received long ago, closed within the period.
    closed_late = f.incident(agency=home, status="closed", received_at=days_ago(2000), closed_at=days_ago(100))
    # No closing time recorded: the call's time counts.
    closed_no_time = f.incident(agency=home, status="closed", received_at=days_ago(1900), closed_at=None)
    still_open = f.incident(agency=home, status="dispatched", received_at=days_ago(3000))

    result = purge("closed_incidents")

    assert result.rows_deleted == 2 and not result.error
    assert set(Incident.objects.values_list("pk", flat=True)) == {closed_late.pk, still_open.pk}
    assert not NarrativeEntry.objects.exists()
    assert not Incident.assigned_units.through.objects.filter(incident_id=old_closed.pk).exists()
    assert not Incident.objects.filter(pk=closed_no_time.pk).exists()
    unit.refresh_from_db()  # the unit itself stays


def test_only_acknowledged_alerts_expire_counted_from_the_acknowledgement(home, operator):
    ack_old = f.alert(
        agency=home,
        raised_at=days_ago(500),
        status="acknowledged",
        acknowledged_at=days_ago(400),
        acknowledged_by=operator,
    )
    ack_recent = f.alert(
        agency=home,
        raised_at=days_ago(500),
        status="acknowledged",
        acknowledged_at=days_ago(10),
        acknowledged_by=operator,
    )
    open_old = f.alert(agency=home, raised_at=days_ago(900))
    purge("alerts")
    assert set(Alert.objects.values_list("pk", flat=True)) == {ack_recent.pk, open_old.pk}
    assert not Alert.objects.filter(pk=ack_old.pk).exists()


def test_dead_letters_and_positions_expire(home, unit):
    source = FeedSource.objects.create(agency=home, name="CAD", kind="cad_json")
    old, new = (DeadLetter.objects.create(source=source, index=i, reason="bad") for i in (0, 1))
    DeadLetter.objects.filter(pk=old.pk).update(received_at=days_ago(31))
    old_fix, new_fix = position(unit, 31), position(unit, 29)
    retention_purge_all(data_classes=["dead_letters", "unit_positions"])
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [new.pk]
    assert list(UnitPosition.objects.values_list("pk", flat=True)) == [new_fix.pk]
    assert old_fix.pk != new_fix.pk


def test_receipts_are_never_purged(db):
    ancient = PurgeReceipt.objects.create(data_class="audit", cutoff=days_ago(9000), started_at=days_ago(9000))
    retention_purge_all()
    assert PurgeReceipt.objects.filter(pk=ancient.pk).exists()


def test_disabled_policy_is_not_run(home):
    RetentionPolicy.objects.filter(data_class="alpr_reads").update(enabled=False)
    read = f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(1000))
    results = retention_purge_all()
    assert "alpr_reads" not in {r.data_class for r in results}
    assert AlprRead.objects.filter(pk=read.pk).exists()


# --- legal hold ---------------------------------------------------------------------------------------------------


def test_legal_hold_rows_are_never_purged_and_counted_as_held(home, unit, commander):
    held = f.alpr_read(agency=home, plate="HELD1", read_at=days_ago(500))
    legal_hold_set(obj=held, on=True, user=commander, reason="case 26-001234")
    # A read an alert on hold points at is kept with it (the alert would otherwise lose its evidence).
    via_alert = f.alpr_read(agency=home, plate="HELD2", read_at=days_ago(500))
    held_alert = f.alert(agency=home, kind="hotlist_hit", alpr_read=via_alert)
    legal_hold_set(obj=held_alert, on=True, user=commander, reason="case 26-001234")
    gone = f.alpr_read(agency=home, plate="GONE1", read_at=days_ago(500))

    result = purge("alpr_reads")

    assert set(AlprRead.objects.values_list("pk", flat=True)) == {held.pk, via_alert.pk}
    assert not AlprRead.objects.filter(pk=gone.pk).exists()
    assert (result.rows_deleted, result.rows_held) == (1, 2)
    receipt = PurgeReceipt.objects.get(pk=result.receipt_id)
    assert (receipt.rows_deleted, receipt.rows_held) == (1, 2)

    # Released: the next run purges it.
    legal_hold_set(obj=held, on=False, user=commander, reason="case closed")
    purge("alpr_reads")
    assert not AlprRead.objects.filter(pk=held.pk).exists()


def test_legal_hold_set_needs_a_reason_and_is_audited(home, commander):
    shot = f.gunshot(agency=home)
    with pytest.raises(ValidationError):
        legal_hold_set(obj=shot, on=True, user=commander, reason="  ")
    shot.refresh_from_db()
    assert shot.legal_hold is False
    assert not AuditEvent.objects.filter(action=LEGAL_HOLD).exists()

    assert legal_hold_set(obj=shot, on=True, user=commander, reason="preservation letter 17") is True
    assert legal_hold_set(obj=shot, on=True, user=commander, reason="asked again") is False
    shot.refresh_from_db()
    assert shot.legal_hold is True
    first, second = AuditEvent.objects.filter(action=LEGAL_HOLD).order_by("id")
    assert (first.user, first.reason, first.object_type, first.object_id) == (
        commander,
        "preservation letter 17",
        "sensors.gunshotdetection",
        str(shot.pk),
    )
    assert first.detail == {"on": True, "changed": True} and second.detail == {"on": True, "changed": False}
    assert first.agency_id == home.pk


def test_legal_hold_on_a_gone_or_unholdable_record(home, commander, unit):
    read = f.alpr_read(agency=home, plate="X1")
    AlprRead.objects.filter(pk=read.pk).delete()
    with pytest.raises(AlprRead.DoesNotExist):
        legal_hold_set(obj=read, on=True, user=commander, reason="r")
    with pytest.raises(TypeError):
        legal_hold_set(obj=unit, on=True, user=commander, reason="r")


def test_positions_of_a_unit_in_a_range_can_be_held(home, unit, commander):
    other = f.unit(agency=home)
    before, inside1, inside2, after = (position(unit, d) for d in (50, 45, 44, 40))
    other_inside = position(other, 45)
    n = positions_hold(unit=unit, since=days_ago(46), until=days_ago(43), reason="IA case 9", user=commander)
    assert n == 2
    result = purge("unit_positions")
    kept = set(UnitPosition.objects.values_list("pk", flat=True))
    assert kept == {inside1.pk, inside2.pk}
    assert {before.pk, after.pk, other_inside.pk}.isdisjoint(kept)
    assert result.rows_held == 2
    event = AuditEvent.objects.get(action=LEGAL_HOLD)
    assert (event.object_type, event.reason, event.detail["positions"]) == ("units.unit", "IA case 9", 2)
    with pytest.raises(ValidationError):
        positions_hold(unit=unit, since=days_ago(1), until=days_ago(2), reason="r", user=commander)


# --- batches, receipts, budget, dry run ---------------------------------------------------------------------------


def test_purge_runs_in_batches_and_handles_rows_in_the_middle_of_the_range(unit, commander):
    # ids interleave expired, recent and held rows, so every batch meets rows it must step over.
    plan = [60, 60, "held", 1, 60, 60, 60, "held", 60, 60, 60, 2, 60, 60]
    rows = []
    for i, age in enumerate(plan):
        row = position(unit, 60 + i / 100 if age == "held" else age + i / 100, legal_hold=age == "held")
        rows.append((age, row.pk))
    expected_kept = {pk for age, pk in rows if age in ("held", 1, 2)}
    purgeable = sum(1 for age, _ in rows if age == 60)
    assert purgeable == 10

    with CaptureBatches() as batches:
        result = purge("unit_positions", batch_size=3)

    assert set(UnitPosition.objects.values_list("pk", flat=True)) == expected_kept
    assert (result.rows_deleted, result.rows_held, result.batches, result.complete) == (10, 2, 4, True)
    assert batches.sizes == [3, 3, 3, 1]
    receipt = PurgeReceipt.objects.get(pk=result.receipt_id)
    assert (receipt.rows_deleted, receipt.batches, receipt.complete) == (10, 4, True)


def test_a_last_full_batch_is_not_followed_by_an_empty_one_counted(unit):
    for i in range(6):
        position(unit, 40 + i)
    result = purge("unit_positions", batch_size=3)
    assert (result.rows_deleted, result.batches, result.complete) == (6, 2, True)


def test_receipt_and_audit_event_record_the_purge(home):
    for i in range(4):
        f.gunshot(agency=home, detected_at=days_ago(1830 + i))
    held = f.gunshot(agency=home, detected_at=days_ago(1900), legal_hold=True)
    f.gunshot(agency=home, detected_at=days_ago(10))
    before = timezone.now()

    result = purge("gunshots", batch_size=3)

    receipt = PurgeReceipt.objects.get(pk=result.receipt_id)
    assert receipt.data_class == "gunshots"
    assert abs(receipt.cutoff - (before - timedelta(days=1825))) < timedelta(seconds=30)
    assert (receipt.rows_deleted, receipt.rows_held, receipt.batches) == (4, 1, 2)
    assert receipt.started_at >= before and receipt.finished_at >= receipt.started_at
    assert (receipt.complete, receipt.error) == (True, "")
    (event,) = purge_events()
    assert event.user is None and event.object_type == "retention.purgereceipt"
    assert event.object_id == str(receipt.pk)
    assert event.detail["rows_deleted"] == 4 and event.detail["rows_held"] == 1 and event.detail["batches"] == 2
    assert event.detail["data_class"] == "gunshots" and event.detail["complete"] is True
    assert GunshotDetection.objects.filter(pk=held.pk).exists()


def test_time_budget_stops_between_batches_and_the_next_run_resumes(unit):
    for i in range(7):
        position(unit, 40 + i)
    deleted = []
    for _ in range(3):
        (result,) = retention_purge_all(data_classes=["unit_positions"], batch_size=3, budget_seconds=0)
        deleted.append((result.rows_deleted, result.complete))
    # A spent budget still runs one batch, so every run makes progress.
    assert deleted == [(3, False), (3, False), (1, True)]
    assert not UnitPosition.objects.exists()
    receipts = PurgeReceipt.objects.filter(data_class="unit_positions").order_by("id")
    assert [(r.rows_deleted, r.complete) for r in receipts] == deleted


def test_fair_share_lets_every_class_run_within_one_budget(home, unit):
    for i in range(5):
        position(unit, 40 + i)
        f.gunshot(agency=home, detected_at=days_ago(1900 + i))
    results = retention_purge_all(data_classes=["unit_positions", "gunshots"], batch_size=2, budget_seconds=0)
    assert {r.data_class: r.rows_deleted for r in results} == {"unit_positions": 2, "gunshots": 2}


def test_dry_run_deletes_nothing_and_writes_nothing(home, unit):
    for i in range(3):
        position(unit, 40 + i)
    position(unit, 50, legal_hold=True)
    audit_count = AuditEvent.objects.count()

    (result,) = retention_purge_all(data_classes=["unit_positions"], dry_run=True)

    assert (result.would_delete, result.rows_held, result.rows_deleted) == (3, 1, 0)
    assert UnitPosition.objects.count() == 4
    assert not PurgeReceipt.objects.exists()
    assert AuditEvent.objects.count() == audit_count


def test_management_command(home, unit, capsys):
    position(unit, 40)
    read = f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(100))

    call_command("retention_purge", "--class", "unit_positions", "--dry-run")
    out = capsys.readouterr().out
    assert "unit_positions" in out and "would delete" in out and "alpr_reads" not in out
    assert UnitPosition.objects.count() == 1

    call_command("retention_purge", "--class", "unit_positions", "--batch-size", "10")
    assert not UnitPosition.objects.exists()
    assert AlprRead.objects.filter(pk=read.pk).exists()  # another class: untouched

    call_command("retention_purge")
    assert not AlprRead.objects.exists()


def _lock_timeout() -> OperationalError:
    err = OperationalError("canceling statement due to lock timeout")
    err.__cause__ = psycopg.errors.LockNotAvailable()
    return err


def test_a_batch_that_cannot_get_its_locks_is_retried_then_the_class_fails_alone(home, unit, monkeypatch):
    position(unit, 40)
    f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(100))
    real, calls = services._run_batch, []

    def flaky(target, *args, **kwargs):
        calls.append(target.data_class)
        if target.data_class == "unit_positions" and calls.count("unit_positions") == 1:
            raise _lock_timeout()  # once: retried
        if target.data_class == "alpr_reads":
            raise _lock_timeout()  # always: the class fails, with its receipt saying why
        return real(target, *args, **kwargs)

    monkeypatch.setattr(services, "_run_batch", flaky)
    monkeypatch.setattr(services.time, "sleep", lambda seconds: None)
    results = {r.data_class: r for r in retention_purge_all(data_classes=["unit_positions", "alpr_reads"])}

    assert results["unit_positions"].rows_deleted == 1 and not results["unit_positions"].error
    assert calls.count("alpr_reads") == services.LOCK_RETRIES
    failed = PurgeReceipt.objects.get(pk=results["alpr_reads"].receipt_id)
    assert "lock timeout" in failed.error and not failed.complete and failed.finished_at
    assert AlprRead.objects.count() == 1
    event = AuditEvent.objects.get(action=RETENTION_PURGE, object_id=str(failed.pk))
    assert "lock timeout" in event.detail["error"]


def test_a_class_already_being_purged_elsewhere_is_skipped(home):
    """The daily task and a hand-run command never purge the same class at once."""
    f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(100))
    db = connection.settings_dict
    conninfo = {"host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432, "user": db["USER"], "autocommit": True}
    if db.get("PASSWORD"):
        conninfo["password"] = db["PASSWORD"]
    with psycopg.connect(dbname=db["NAME"], **conninfo) as other:
        other.execute("SELECT pg_advisory_lock(hashtextextended('rtcc.retention.alpr_reads', 0))")
        result = purge("alpr_reads")
        # Released explicitly: a closed connection's locks go only when its server process has ended.
        other.execute("SELECT pg_advisory_unlock(hashtextextended('rtcc.retention.alpr_reads', 0))")
    assert "another purge" in result.error and result.receipt_id is None
    assert AlprRead.objects.exists()
    assert purge("alpr_reads").rows_deleted == 1  # released


# --- the audit trail --------------------------------------------------------------------------------------------
# The app role may not DELETE audit rows at all; the purge goes through the SECURITY DEFINER function
# audit_purge_batch (retention migration 0004), which applies the audit policy's period by the database clock. Old
# events are written here as the application writes them (chained), only stamped in the past: INSERT is the one
# write the app role has.

AUDIT_DAYS = 2555


def audit_event(action: str = "test.event") -> AuditEvent:
    return audit_record(user=None, action=action, detail={"n": 1})


def old_audit_event(age_days: float = AUDIT_DAYS + 10) -> AuditEvent:
    return f.old_audit_event(age_days)


def plain_delete(pk: int) -> None:
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [pk])


def test_the_audit_table_trigger_knows_the_purge_setting(db):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT p.prosrc FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = 'audit_auditevent'::regclass AND NOT t.tgisinternal"
        )
        sources = [row[0] for row in cur.fetchall()]
    assert any("rtcc.audit_purge" in src for src in sources)


def test_audit_rows_are_purged_oldest_first_only_through_the_function(db):
    old1, old2, old3 = (old_audit_event() for _ in range(3))
    recent = audit_event()
    old3_hash = AuditEvent.objects.get(pk=old3.pk).hash

    # The app role itself: refused, oldest row or not.
    with pytest.raises(DatabaseError, match="permission denied"):
        plain_delete(old1.pk)

    # Batches of one: the rows go strictly in id order.
    (first,) = retention_purge_all(data_classes=["audit"], batch_size=1, budget_seconds=0)
    assert first.rows_deleted == 1 and not first.complete
    assert not AuditEvent.objects.filter(pk=old1.pk).exists()
    assert AuditEvent.objects.filter(pk__in=[old2.pk, old3.pk]).count() == 2

    result = purge("audit", batch_size=1)
    assert (result.rows_deleted, result.batches, result.complete) == (2, 2, True)
    assert not AuditEvent.objects.filter(pk__lte=old3.pk).exists()
    assert AuditEvent.objects.filter(pk=recent.pk).exists()
    assert PurgeReceipt.objects.get(pk=result.receipt_id).rows_deleted == 2
    # The purge's own audit event says where the remaining chain begins, and the chain still verifies.
    event = purge_events()[-1]
    assert (event.detail["last_deleted_id"], event.detail["last_deleted_hash"]) == (old3.pk, old3_hash)
    assert AuditEvent.objects.get(pk=recent.pk).prev_hash == old3_hash
    assert audit_chain_verify().ok

    # Nothing outlived the purge: an ordinary DELETE (and UPDATE) is still refused.
    with pytest.raises(DatabaseError, match="permission denied"):
        plain_delete(recent.pk)
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("UPDATE audit_auditevent SET reason = 'x' WHERE id = %s", [recent.pk])
    assert AuditEvent.objects.filter(pk=recent.pk).exists()


def test_the_purge_setting_opens_nothing_to_the_app_role(db):
    _first, middle, _last = (old_audit_event() for _ in range(3))
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL rtcc.audit_purge = 'on'")
        cur.execute("DELETE FROM audit_auditevent WHERE id = %s", [middle.pk])
    assert AuditEvent.objects.filter(pk=middle.pk).exists()


def test_the_function_keeps_events_within_the_period_whatever_the_caller_says(db):
    """Its own checks are the policy: the caller's `now` or batch size cannot widen what it deletes."""
    old = old_audit_event()
    recent = [audit_event() for _ in range(2)]
    result = purge("audit", now=timezone.now() + timedelta(days=AUDIT_DAYS * 2))
    assert result.rows_deleted == 1 and not result.error
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in recent]).count() == 2
    assert result.cutoff < days_ago(AUDIT_DAYS - 1)  # the receipt names the cut-off really applied
    with pytest.raises(DatabaseError, match="batch size"), transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT * FROM audit_purge_batch(1000000)")
    RetentionPolicy.objects.filter(data_class="audit").update(enabled=False)
    with pytest.raises(DatabaseError, match="no enabled audit retention policy"), connection.cursor() as cur:
        cur.execute("SELECT * FROM audit_purge_batch(10)")


def test_audit_purge_stops_at_the_first_kept_row(db):
    """An expired row after a kept one (written with a clock that stepped back) stays: the trail is cut only as
    an unbroken oldest prefix."""
    old = old_audit_event()
    kept = audit_event()
    with connection.cursor() as cur:  # INSERT is allowed; this row claims a time long past
        cur.execute(
            "INSERT INTO audit_auditevent (at, username, action, object_type, object_id, reason, detail, "
            "prev_hash, hash) VALUES (%s, '', 'test.skewed', '', '', '', '{}', '', 'x') RETURNING id",
            [days_ago(AUDIT_DAYS + 10)],
        )
        (skewed,) = cur.fetchone()
    result = purge("audit")
    assert result.rows_deleted == 1 and not result.error
    assert not AuditEvent.objects.filter(pk=old.pk).exists()
    assert AuditEvent.objects.filter(pk__in=[kept.pk, skewed]).count() == 2


def _audit_floor_days() -> int:
    with connection.cursor() as cur:  # the app role may read the owner's floor
        cur.execute("SELECT days FROM retention_auditfloor")
        return cur.fetchone()[0]


def test_the_app_role_cannot_purge_the_audit_trail_inside_the_owners_floor(db):
    """The app role may edit the audit policy (the admin does), but the function keeps events for the floor the
    owner set whatever the policy says; the app role can neither lower the floor nor write the purge ledger."""
    floor = _audit_floor_days()
    assert floor >= 365
    beyond = old_audit_event(floor + 10)
    inside = [old_audit_event(age) for age in (floor - 10, 30, 2)]
    RetentionPolicy.objects.filter(data_class="audit").update(days=1)
    for _ in range(3):  # looping the purge gains nothing
        with connection.cursor() as cur:
            cur.execute("SELECT deleted, last_id, cutoff FROM audit_purge_batch(1000)")
            deleted, last_id, cutoff = cur.fetchone()
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in inside]).count() == 3
    assert not AuditEvent.objects.filter(pk=beyond.pk).exists()  # the first call took it: past the floor
    assert deleted == 0 and cutoff < days_ago(floor - 1)
    assert services.audit_cutoff() < days_ago(floor - 1)
    # The function recorded its one deleting batch in its ledger; the app role may read it, not write it.
    assert list(AuditPurge.objects.values_list("first_id", "last_id", "last_hash", "days")) == [
        (beyond.pk, beyond.pk, beyond.hash, floor)
    ]
    for statement in (
        "UPDATE retention_auditfloor SET days = 1",
        "DELETE FROM retention_auditfloor",
        "INSERT INTO audit_auditpurge (at, cutoff, days, deleted, first_id, last_id, last_hash) "
        "VALUES (now(), now(), 1, 1, 1, 1, 'x')",
    ):
        with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic(), connection.cursor() as c:
            c.execute(statement)


def test_audit_purge_calls_the_function_once_per_batch(db):
    for _ in range(5):
        old_audit_event()
    with CaptureBatches() as batches:
        result = purge("audit", batch_size=2)
    assert result.rows_deleted == 5 and batches.sizes == [2, 2, 1]
    assert batches.audit_function_calls == 3


# --- the task and its schedule ----------------------------------------------------------------------------------


def test_task_runs_through_celery(home):
    from apps.retention.tasks import retention_purge_all as task

    f.alpr_read(agency=home, plate="AAA111", read_at=days_ago(100))
    outcome = task.apply()
    assert outcome.successful(), outcome.traceback
    assert outcome.get()["alpr_reads"] == 1
    assert set(outcome.get()) == set(DataClass.values)


def test_beat_runs_the_purge_daily():
    from celery.schedules import crontab

    from rtcc_gis.celery import app

    app.loader.import_default_modules()
    assert TASK in app.tasks
    entries = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == TASK]
    assert len(entries) == 1, "CELERY_BEAT_SCHEDULE has no entry for the retention purge"
    schedule = entries[0]["schedule"]
    if isinstance(schedule, crontab):
        assert len(schedule.hour) == 1 and len(schedule.minute) == 1  # once a day
    else:
        assert float(getattr(schedule, "total_seconds", lambda: schedule)()) == 86400


# --- admin --------------------------------------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, home):
    admin = f.user(agency=home, role="agency_admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    return client


def test_policies_are_editable_in_the_admin_and_changes_audited(admin_client):
    assert admin_client.get("/admin/retention/retentionpolicy/").status_code == 200
    assert admin_client.get("/admin/retention/purgereceipt/").status_code == 200
    p = policy("alpr_reads")
    response = admin_client.post(
        f"/admin/retention/retentionpolicy/{p.pk}/change/",
        {"data_class": "alpr_reads", "days": "60", "enabled": "on", "note": "council resolution 2026-04"},
    )
    assert response.status_code == 302
    assert policy("alpr_reads").days == 60
    event = AuditEvent.objects.get(action="retention.policy_change")
    assert event.detail["before"]["days"] == 90 and event.detail["after"]["days"] == 60
    response = admin_client.post(
        f"/admin/retention/retentionpolicy/{p.pk}/change/", {"data_class": "alpr_reads", "days": "0", "note": ""}
    )
    assert response.status_code == 200 and policy("alpr_reads").days == 60  # refused: at least a day


@pytest.mark.parametrize(
    ("url", "make"),
    [
        ("/admin/incidents/incident/", lambda home: f.incident(agency=home)),
        ("/admin/alpr/alprread/", lambda home: f.alpr_read(agency=home, plate="AAA111")),
        ("/admin/sensors/gunshotdetection/", lambda home: f.gunshot(agency=home)),
        ("/admin/sensors/alert/", lambda home: f.alert(agency=home)),
    ],
)
def test_admin_legal_hold_action_asks_for_a_reason(admin_client, home, url, make):
    obj = make(home)
    selected = {"action": "legal_hold_place", "_selected_action": [obj.pk]}
    page = admin_client.post(url, selected)
    assert page.status_code == 200 and b"reason" in page.content
    assert admin_client.post(url, {**selected, "apply": "1", "reason": ""}).status_code == 200  # asks again
    obj.refresh_from_db()
    assert obj.legal_hold is False

    response = admin_client.post(url, {**selected, "apply": "1", "reason": "subpoena 42"})
    assert response.status_code == 302
    obj.refresh_from_db()
    assert obj.legal_hold is True
    assert AuditEvent.objects.get(action=LEGAL_HOLD).reason == "subpoena 42"
    assert admin_client.get(url + "?legal_hold__exact=1").status_code == 200


def test_admin_holds_a_units_positions_in_a_range(admin_client, home, unit):
    inside, outside = position(unit, 45), position(unit, 40)
    response = admin_client.post(
        "/admin/units/unit/",
        {
            "action": "unit_positions_hold",
            "_selected_action": [unit.pk],
            "apply": "1",
            "reason": "IA case 9",
            "since": (days_ago(46)).strftime("%Y-%m-%d %H:%M:%S"),
            "until": (days_ago(44)).strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    assert response.status_code == 302
    assert UnitPosition.objects.get(pk=inside.pk).legal_hold is True
    assert UnitPosition.objects.get(pk=outside.pk).legal_hold is False


# --- helpers ---------------------------------------------------------------------------------------------------------


class CaptureBatches(contextlib.AbstractContextManager):
    """Watches the SQL the purge sends: the size of each batch, and how often the audit purge function ran."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.audit_function_calls = 0

    def _wrapper(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if "audit_purge_batch(" in sql:
            self.audit_function_calls += 1
        if sql.startswith("WITH doomed AS") or sql == services.AUDIT_PURGE_SQL:
            cursor = context["cursor"]
            row = cursor.fetchone()
            self.sizes.append(row[0])
            # Give the row back to the caller.
            cursor.fetchone = lambda row=row: row
        return result

    def __enter__(self):
        self._ctx = connection.execute_wrapper(self._wrapper)
        self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
