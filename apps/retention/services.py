"""Writes for retention: the batched purge of expired data, its receipts, and legal holds.

The purge deletes with SQL in batches (`DELETE ... WHERE ctid = ANY(ARRAY(SELECT ... ORDER BY id LIMIT n))`, see
`batch_sql`), each batch its own short transaction: a row the live map or an operator touches is never locked for
longer than one batch, and a purge stopped by its time budget (or a crash) keeps what it did and carries on from
there the next run.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import OperationalError, connection, models, transaction
from django.db.models import F
from django.db.models.deletion import CASCADE, DO_NOTHING, PROTECT, RESTRICT, SET_NULL
from django.utils import timezone

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.units.models import Unit, UnitPosition

from .models import DataClass, PurgeReceipt, RetentionPolicy
from .selectors import TARGETS, Target, blocked_sql, dependents, expired_counts, held_sql, qn, retention_policies

log = logging.getLogger(__name__)

RETENTION_PURGE = str(AuditAction.RETENTION_PURGE)
LEGAL_HOLD = str(AuditAction.LEGAL_HOLD)
POLICY_CHANGE = str(AuditAction.RETENTION_POLICY_CHANGE)

DEFAULT_BATCH_SIZE = 5000
DEFAULT_BUDGET_SECONDS = 900
# A batch that cannot get its locks quickly (a migration holds the table, an operator is acknowledging the alert
# whose link we null) gives up rather than queueing every writer of the table behind it, and is tried again a
# little later; after LOCK_RETRIES the class stops with the error on its receipt and the next run carries on.
LOCK_TIMEOUT = "5s"
LOCK_RETRIES = 3
LOCK_NOT_AVAILABLE = "55P03"


class RetentionError(Exception):
    """The purge cannot honour a model's `on_delete` with SQL (a new kind of foreign key needs handling here)."""


def batch_size_default() -> int:
    return int(getattr(settings, "RTCC_RETENTION_BATCH_SIZE", DEFAULT_BATCH_SIZE))


def budget_default() -> float:
    return float(getattr(settings, "RTCC_RETENTION_BUDGET_SECONDS", DEFAULT_BUDGET_SECONDS))


@dataclass
class PurgeResult:
    """What one class's purge did (or, in a dry run, would do)."""

    data_class: str
    cutoff: datetime
    dry_run: bool = False
    rows_deleted: int = 0
    rows_held: int = 0
    rows_blocked: int = 0  # expired, not held, but a PROTECT foreign key still points at them
    would_delete: int = 0  # dry run only
    batches: int = 0
    complete: bool = False
    error: str = ""
    receipt_id: int | None = None
    seconds: float = 0.0
    longest_batch_seconds: float = 0.0
    last_deleted_id: int | None = None
    last_deleted_anchor: str | None = None  # audit class: the hash of the last deleted row


# --- the SQL of one batch ----------------------------------------------------------------------------------


def _dependent_ctes(model: type[models.Model], source: str, names: Iterator[int], depth: int = 0) -> Iterator[str]:
    """CTEs doing what each foreign key's `on_delete` promises for the rows of `source` (a CTE of ids):
    CASCADE deletes the referencing rows (and, recursively, theirs), SET_NULL unlinks them."""
    for dep in dependents(model):
        name = f"dep{next(names)}"
        fk, table = qn(dep.column), dep.table
        if dep.on_delete is CASCADE:
            child_pk = qn(dep.model._meta.pk.column)
            yield f"{name} AS (DELETE FROM {table} WHERE {fk} IN (SELECT id FROM {source}) RETURNING {child_pk} AS id)"
            yield from _dependent_ctes(dep.model, name, names, depth + 1)
        elif dep.on_delete is SET_NULL:
            yield f"{name} AS (UPDATE {table} SET {fk} = NULL WHERE {fk} IN (SELECT id FROM {source}))"
        elif dep.on_delete is DO_NOTHING:
            continue  # the model left it to the database's own constraint
        elif dep.on_delete in (PROTECT, RESTRICT) and depth == 0:
            continue  # such rows are never chosen (blocked_sql)
        else:
            raise RetentionError(
                f"{dep.model._meta.label}.{dep.column} -> {model._meta.label}: on_delete={dep.on_delete.__name__} "
                "is not handled by the retention purge"
            )


@dataclass(frozen=True)
class Batch:
    """What one batch statement did: rows chosen (the next `batch_size` expired ones), rows deleted (fewer if
    some changed meanwhile), the last id chosen (where the next batch starts), and the last deleted row's anchor."""

    chosen: int
    last_chosen_id: int | None
    deleted: int
    last_deleted_id: int | None
    anchor: str | None


def batch_sql(target: Target, where_sql: str, batch_size: int) -> str:
    """One batch as one statement, `DELETE ... WHERE ctid = ANY(ARRAY(SELECT ... ORDER BY id LIMIT n))`:

    - choose the next `batch_size` expired rows that are not held after the last id and up to the highest
      expired id (keyset: each batch starts where the previous ended, never rescanning the dead index entries it
      left, and the last one stops at the end of the expired range instead of walking every newer row);
    - delete them by their physical address (a TID scan: about 4x faster than looking each id up again, see
      bench/retention.py) and re-test the predicate and the holds in the DELETE itself: a row somebody changes
      while we work (an operator placing a hold) is waited for, then re-checked in its new version by PostgreSQL,
      so a hold committed a moment earlier always wins. No row is locked before the delete, so there is
      nothing to skip and no double write;
    - honour foreign keys for the rows actually deleted (`gone`), never for rows merely chosen.

    Parameters: the predicate's, the last id, the highest expired id, the predicate's again. Returns one row:
    see `Batch`."""
    model = target.model
    keep = f"NOT ({held_sql(model)}) AND NOT ({blocked_sql(model)})"
    anchor = f"t.{qn(target.anchor_column)}::text" if target.anchor_column else "NULL::text"
    ctes = [
        f"doomed AS (SELECT t.{target.pk} AS id, t.ctid AS tid FROM {target.table} t "
        f"WHERE ({where_sql}) AND t.{target.pk} > %s AND t.{target.pk} <= %s AND {keep} "
        f"ORDER BY t.{target.pk} LIMIT {int(batch_size)})",
        f"gone AS (DELETE FROM {target.table} t WHERE t.ctid = ANY(ARRAY(SELECT tid FROM doomed)) "
        f"AND ({where_sql}) AND {keep} RETURNING t.{target.pk} AS id, {anchor} AS anchor)",
        *_dependent_ctes(model, "gone", itertools.count(1)),
    ]
    return (
        "WITH " + ",\n".join(ctes) + "\nSELECT (SELECT count(*) FROM doomed), (SELECT max(id) FROM doomed), "
        "count(*), max(id), (array_agg(anchor ORDER BY id DESC))[1] FROM gone"
    )


# The audit trail's one door (retention migrations 0004, 0005): the app role may not DELETE audit rows; this SECURITY
# DEFINER function deletes the oldest expired ones by its own checks (the policy's period, never below the owner's
# floor; the database clock) and records each batch in the purge ledger (AuditPurge), which the app cannot write.
AUDIT_PURGE_SQL = "SELECT deleted, last_id, last_hash FROM audit_purge_batch(%s)"


def audit_cutoff() -> datetime:
    """The cut-off the audit purge function applies: its period (the policy's, never below the owner's floor,
    `audit_purge_days()`) before the database clock."""
    with connection.cursor() as cur:
        cur.execute("SELECT now() - make_interval(days => audit_purge_days())")
        row = cur.fetchone()
    return row[0] if row and row[0] is not None else timezone.now()


def _run_batch(target: Target, sql: str, params: list, receipt_id: int, batch_size: int) -> Batch:
    """One batch in its own transaction, its receipt counters updated in the same one: the receipt never claims
    a row that was not deleted, nor misses one that was."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('lock_timeout', %s, true)", [LOCK_TIMEOUT])
        if target.data_class == DataClass.AUDIT:
            cur.execute(AUDIT_PURGE_SQL, [batch_size])
            deleted, last_id, anchor = cur.fetchone()
            batch = Batch(deleted, last_id, deleted, last_id, anchor)
        else:
            cur.execute(sql, params)
            batch = Batch(*cur.fetchone())
        if batch.deleted:
            PurgeReceipt.objects.filter(pk=receipt_id).update(
                rows_deleted=F("rows_deleted") + batch.deleted, batches=F("batches") + 1
            )
    return batch


def _run_batch_retrying(target: Target, sql: str, params: list, receipt_id: int, batch_size: int) -> Batch:
    for attempt in range(1, LOCK_RETRIES + 1):
        try:
            return _run_batch(target, sql, params, receipt_id, batch_size)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", None) != LOCK_NOT_AVAILABLE or attempt == LOCK_RETRIES:
                raise
            log.info("retention %s: lock timeout, batch retried (%d)", target.data_class, attempt)
            time.sleep(attempt)
    raise AssertionError("unreachable")


class _ClassLock:
    """A session advisory lock per class: the daily task and a hand-run `retention_purge` never purge the same
    class at once (they would wait on each other's rows and split the counts between two receipts)."""

    def __init__(self, data_class: str) -> None:
        self.key = f"rtcc.retention.{data_class}"
        self.held = False

    def __enter__(self) -> bool:
        with connection.cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [self.key])
            self.held = bool(cur.fetchone()[0])
        return self.held

    def __exit__(self, *exc: object) -> None:
        if self.held:
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [self.key])


# --- the purge -----------------------------------------------------------------------------------------------


def retention_purge(
    *,
    policy: RetentionPolicy,
    now: datetime | None = None,
    batch_size: int | None = None,
    deadline: float | None = None,
    dry_run: bool = False,
) -> PurgeResult:
    """Purge one class: delete its rows older than `now - policy.days` that are not on legal hold, in batches,
    until none are left or `deadline` (a `time.monotonic()` value) has passed. At least one batch always runs,
    so even a starved run makes progress.

    Leaves a PurgeReceipt (created before the first batch, so a killed worker still leaves evidence of the attempt)
    and one audit event. A dry run only counts, and writes nothing."""
    started = time.monotonic()
    now = now or timezone.now()
    batch_size = batch_size or batch_size_default()
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    target = TARGETS[policy.data_class]
    cutoff = now - timedelta(days=policy.days)
    if policy.data_class == DataClass.AUDIT:
        # The database function decides by its own clock; a later `now` cannot purge audit events sooner.
        cutoff = min(cutoff, audit_cutoff())
    result = PurgeResult(data_class=policy.data_class, cutoff=cutoff, dry_run=dry_run)

    if dry_run:
        counts = expired_counts(target=target, where=target.expired(cutoff))
        result.would_delete, result.rows_held, result.rows_blocked = counts.purgeable, counts.held, counts.blocked
        result.complete = True
        result.seconds = time.monotonic() - started
        return result

    with _ClassLock(policy.data_class) as locked:
        if not locked:
            result.error = "another purge of this class is running"
            log.warning("retention %s: %s; skipped", policy.data_class, result.error)
            return result
        receipt = PurgeReceipt.objects.create(data_class=policy.data_class, cutoff=cutoff, started_at=timezone.now())
        result.receipt_id = receipt.pk
        try:
            where_sql, where_params = target.expired(cutoff)
            # Outside any batch: this scan of the expired rows locks nothing.
            counts = expired_counts(target=target, where=(where_sql, where_params), held_only=True)
            result.rows_held = counts.held
            sql = batch_sql(target, where_sql, batch_size)
            last_id, upto = 0, counts.last_id
            result.complete = upto is None  # nothing has expired
            while upto is not None:
                t0 = time.monotonic()
                params = [*where_params, last_id, upto, *where_params]
                batch = _run_batch_retrying(target, sql, params, receipt.pk, batch_size)
                result.longest_batch_seconds = max(result.longest_batch_seconds, time.monotonic() - t0)
                if batch.deleted:
                    result.batches += 1
                    result.rows_deleted += batch.deleted
                    result.last_deleted_id, result.last_deleted_anchor = batch.last_deleted_id, batch.anchor
                if batch.chosen < batch_size:
                    result.complete = True
                    break
                last_id = batch.last_chosen_id or last_id
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except Exception as exc:  # recorded on the receipt; the other classes still run
            log.exception("retention %s: purge failed", policy.data_class)
            result.error = f"{type(exc).__name__}: {exc}"
            _finish(policy, receipt, result)
            if isinstance(exc, SoftTimeLimitExceeded):
                raise  # the worker is about to be killed: stop the whole run, this receipt is written
        else:
            _finish(policy, receipt, result)
    result.seconds = time.monotonic() - started
    return result


def _finish(policy: RetentionPolicy, receipt: PurgeReceipt, result: PurgeResult) -> None:
    """Close the receipt and write the purge's audit event, together."""
    detail = {
        "data_class": policy.data_class,
        "days": policy.days,
        "cutoff": result.cutoff.isoformat(),
        "rows_deleted": result.rows_deleted,
        "rows_held": result.rows_held,
        "batches": result.batches,
        "complete": result.complete,
        "receipt": receipt.pk,
    }
    if result.error:
        detail["error"] = result.error
    if policy.data_class == DataClass.AUDIT and result.last_deleted_id is not None:
        # Where the remaining hash chain now starts: the first kept row's prev_hash is this hash.
        detail["last_deleted_id"] = result.last_deleted_id
        detail["last_deleted_hash"] = result.last_deleted_anchor
    with transaction.atomic():
        # rows_deleted and batches were counted by the batches themselves (F() updates); only close it here.
        PurgeReceipt.objects.filter(pk=receipt.pk).update(
            rows_held=result.rows_held,
            finished_at=timezone.now(),
            complete=result.complete,
            error=result.error,
        )
        audit_record(
            user=None,
            action=RETENTION_PURGE,
            object_type=PurgeReceipt._meta.label_lower,
            object_id=receipt.pk,
            reason=policy.note,
            detail=detail,
        )


def retention_purge_all(
    *,
    data_classes: list[str] | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    budget_seconds: float | None = None,
    now: datetime | None = None,
) -> list[PurgeResult]:
    """Purge every enabled class (or the given ones) within one time budget.

    Each class may use its fair share of what is left (the remaining time over the classes still to run), so a
    huge backlog in one class cannot starve the others; time a class does not need passes on to the next."""
    budget = budget_default() if budget_seconds is None else budget_seconds
    end = time.monotonic() + budget
    policies = retention_policies(data_classes=data_classes)
    results = []
    for i, policy in enumerate(policies):
        share = max(0.0, end - time.monotonic()) / (len(policies) - i)
        results.append(
            retention_purge(
                policy=policy, now=now, batch_size=batch_size, deadline=time.monotonic() + share, dry_run=dry_run
            )
        )
    for r in results:
        log.info("retention %s", {k: v for k, v in asdict(r).items() if k != "last_deleted_anchor"})
    return results


# --- policies --------------------------------------------------------------------------------------------------


def retention_policy_update(*, policy: RetentionPolicy, user, days: int, enabled: bool, note: str) -> RetentionPolicy:
    """Change a class's retention period; audited, since a shorter period destroys records at the next run."""
    if days < 1:
        raise ValidationError({"days": "keep records at least one day"})
    with transaction.atomic():
        # "before" from the database: an admin form has already written the new values onto `policy`.
        before = RetentionPolicy.objects.select_for_update().filter(pk=policy.pk).values("days", "enabled").get()
        policy.days, policy.enabled, policy.note = days, enabled, note
        policy.save()
        audit_record(
            user=user,
            action=POLICY_CHANGE,
            obj=policy,
            detail={"data_class": policy.data_class, "before": before, "after": {"days": days, "enabled": enabled}},
        )
    return policy


# --- legal hold ------------------------------------------------------------------------------------------------


def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "a legal hold needs a reason (case number, request, order)"})
    return reason


def legal_hold_set(*, obj: models.Model, on: bool, user, reason: str) -> bool:
    """Place (`on=True`) or release a legal hold on one record; a held record is never purged. Audited with its
    reason, whether or not it changed anything. Returns whether the flag changed.

    Raises `obj.DoesNotExist` if the record is gone (e.g. purged while the form was open)."""
    reason = _require_reason(reason)
    model = type(obj)
    if not any(f.name == "legal_hold" for f in model._meta.concrete_fields):
        raise TypeError(f"{model._meta.label} cannot be put on legal hold")
    with transaction.atomic():
        # Locking the row orders us against a purge batch deleting it: either the batch commits first (the row is
        # gone and we say so) or we do (the batch's DELETE waits for us, then re-checks the row and keeps it).
        current = list(
            model._default_manager.select_for_update().filter(pk=obj.pk).values_list("legal_hold", flat=True)
        )
        if not current:
            raise model.DoesNotExist(f"{model._meta.label} {obj.pk} no longer exists")
        changed = current[0] != on
        if changed:
            model._default_manager.filter(pk=obj.pk).update(legal_hold=on)
        audit_record(
            user=user,
            action=LEGAL_HOLD,
            obj=obj,
            reason=reason,
            detail={"on": on, "changed": changed},
            agency_id=getattr(obj, "agency_id", None),
        )
    obj.legal_hold = on  # type: ignore[attr-defined]
    return changed


def positions_hold(*, unit: Unit, since: datetime, until: datetime, reason: str, user, on: bool = True) -> int:
    """Place (or release) a legal hold on a unit's position history between `since` and `until` (inclusive).
    Audited once with the range and the number of fixes. Returns that number."""
    reason = _require_reason(reason)
    if since > until:
        raise ValidationError({"until": "the end of the range is before its start"})
    with transaction.atomic():
        rows = UnitPosition.objects.filter(unit=unit, recorded_at__gte=since, recorded_at__lte=until).update(
            legal_hold=on
        )
        audit_record(
            user=user,
            action=LEGAL_HOLD,
            obj=unit,
            reason=reason,
            detail={
                "on": on,
                "positions": rows,
                "since": since.isoformat(),
                "until": until.isoformat(),
            },
            agency_id=unit.agency_id,
        )
    return rows
