"""Reads for retention: where each data class lives, which rows a cut-off expires, which of them are held.

Every class is described once, as a `Target`: its model and an SQL predicate over the alias `t` that picks the
rows older than the cut-off. The purge (services.py) and the counts here share these predicates, so a dry run
counts exactly what a purge would delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection, models
from django.db.models.deletion import PROTECT, RESTRICT

from apps.alpr.models import AlprRead
from apps.audit.models import AuditEvent
from apps.feeds.models import DeadLetter
from apps.incidents.choices import IncidentStatus
from apps.incidents.models import Incident
from apps.sensors.choices import AlertStatus
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import UnitPosition

from .models import DataClass, RetentionPolicy

# An SQL predicate over the alias `t` and its parameters.
Where = tuple[str, list[Any]]


def qn(name: str) -> str:
    return connection.ops.quote_name(name)


def col(model: type[models.Model], field: str) -> str:
    """`t."column"` of a model field, so the SQL follows the model if a column is ever renamed."""
    return f"t.{qn(model._meta.get_field(field).column)}"


@dataclass(frozen=True)
class Target:
    """Where the rows of one data class live, and which of them the cut-off expires."""

    data_class: str
    model: type[models.Model]
    expired: Callable[[datetime], Where]
    # A column of the last deleted row worth reporting: the audit trail's hash chain continues from it.
    anchor_column: str = ""

    @property
    def table(self) -> str:
        return qn(self.model._meta.db_table)

    @property
    def pk(self) -> str:
        return qn(self.model._meta.pk.column)


def _older(model: type[models.Model], field: str, *, also: str = ""):
    """The predicate `[<also> AND] t.field < cutoff`."""

    def where(cutoff: datetime) -> Where:
        prefix = f"{also} AND " if also else ""
        return f"{prefix}{col(model, field)} < %s", [cutoff]

    return where


def _ended_before(model: type[models.Model], status_field: str, status: str, ended: str, started: str):
    """Records in their final status whose end (or, when the end was never recorded, their start) is older than
    the cut-off: a closed incident is kept for the period counted from its closing, not from the call."""

    def where(cutoff: datetime) -> Where:
        return (
            f"{col(model, status_field)} = %s AND COALESCE({col(model, ended)}, {col(model, started)}) < %s",
            [str(status), cutoff],
        )

    return where


def _alert_ended(cutoff: datetime) -> Where:
    """Acknowledged or closed alerts whose end (acknowledgement, closing; else the raising) is older than the
    cut-off."""
    ended = f"COALESCE({col(Alert, 'closed_at')}, {col(Alert, 'acknowledged_at')}, {col(Alert, 'raised_at')})"
    return (
        f"{col(Alert, 'status')} IN (%s, %s) AND {ended} < %s",
        [str(AlertStatus.ACKNOWLEDGED), str(AlertStatus.CLOSED), cutoff],
    )


def audit_first_kept_id(cutoff: datetime) -> int:
    """The id of the oldest audit row that is not expired (or one past the last row).

    The audit trail is purged strictly as a prefix in id order, up to this row: even if the clock once stepped
    back, no expired row is deleted from *after* a kept one, so what remains is one unbroken hash chain."""
    first = AuditEvent.objects.filter(at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
    if first is not None:
        return first
    last = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return (last or 0) + 1


def _audit_prefix(cutoff: datetime) -> Where:
    return f"t.{qn('id')} < %s", [audit_first_kept_id(cutoff)]


# Keyed by the DataClass values (a test checks that every class has exactly one target).
TARGETS: dict[str, Target] = {
    t.data_class: t
    for t in (
        # A read that matched a hotlist is a hit (kept a year); every other read goes after 90 days.
        Target("alpr_reads", AlprRead, _older(AlprRead, "read_at", also=f"{col(AlprRead, 'hit')} IS NULL")),
        Target("alpr_hits", AlprRead, _older(AlprRead, "read_at", also=f"{col(AlprRead, 'hit')} IS NOT NULL")),
        Target("unit_positions", UnitPosition, _older(UnitPosition, "recorded_at")),
        Target(
            "closed_incidents",
            Incident,
            _ended_before(Incident, "status", str(IncidentStatus.CLOSED), "closed_at", "received_at"),
        ),
        Target("gunshots", GunshotDetection, _older(GunshotDetection, "detected_at")),
        # Open alerts are never purged: somebody still has to look at them. Acknowledged and closed
        # (cancelled, expired) ones go a period after they ended.
        Target("alerts", Alert, _alert_ended),
        Target("dead_letters", DeadLetter, _older(DeadLetter, "received_at")),
        Target("audit", AuditEvent, _audit_prefix, anchor_column="hash"),
    )
}


@dataclass(frozen=True)
class Dependent:
    """A foreign key from another table to a purged row, and what Django says happens to it on delete."""

    model: type[models.Model]
    column: str
    on_delete: Callable[..., Any]

    @property
    def table(self) -> str:
        return qn(self.model._meta.db_table)


def dependents(model: type[models.Model]) -> list[Dependent]:
    """Every foreign key that points at `model` (including many-to-many link tables), read from the models.

    The purge deletes with SQL, not through Django's collector, so it must do itself what `on_delete` promises;
    reading the relations at run time means a foreign key added later is honoured without touching this app."""
    found = []
    for rel in model._meta.get_fields(include_hidden=True):
        if not (rel.auto_created and not rel.concrete and (rel.one_to_many or rel.one_to_one)):
            continue
        if rel.field.target_field != model._meta.pk:
            raise NotImplementedError(f"{rel.field} points at {rel.field.target_field}, not the primary key")
        found.append(Dependent(rel.related_model, rel.field.column, rel.on_delete))
    return found


def _has_hold(model: type[models.Model]) -> bool:
    return any(f.name == "legal_hold" for f in model._meta.concrete_fields)


def held_sql(model: type[models.Model]) -> str:
    """SQL over `t`: the row is on legal hold, or a row on legal hold points at it.

    The second half matters for evidence: a held alert keeps the ALPR read or gunshot it was raised for (the
    purge would otherwise null the alert's link and the held record would lose what it is about)."""
    parts = [col(model, "legal_hold")] if _has_hold(model) else []
    pk = f"t.{qn(model._meta.pk.column)}"
    for dep in dependents(model):
        if _has_hold(dep.model):
            parts.append(
                f"EXISTS (SELECT 1 FROM {dep.table} h WHERE h.{qn(dep.column)} = {pk} AND h.{qn('legal_hold')})"
            )
    return " OR ".join(parts) or "FALSE"


def blocked_sql(model: type[models.Model]) -> str:
    """SQL over `t`: a PROTECT/RESTRICT foreign key points at the row, so it may not be deleted yet."""
    pk = f"t.{qn(model._meta.pk.column)}"
    parts = [
        f"EXISTS (SELECT 1 FROM {dep.table} b WHERE b.{qn(dep.column)} = {pk})"
        for dep in dependents(model)
        if dep.on_delete in (PROTECT, RESTRICT)
    ]
    return " OR ".join(parts) or "FALSE"


@dataclass(frozen=True)
class ExpiredCounts:
    """Rows older than the cut-off: those a purge would delete, those it keeps (held, or protected), and the
    highest expired id (the purge scans no further: past it there are only rows still within their period)."""

    purgeable: int
    held: int
    blocked: int
    last_id: int | None


def expired_counts(*, target: Target, where: Where, held_only: bool = False) -> ExpiredCounts:
    """Count the expired rows of a class in one scan (through the index on its time column). `held_only` skips
    the purgeable and blocked counts, which the purge itself does not need (it counts what it deletes)."""
    sql, params = where
    held, blocked = held_sql(target.model), blocked_sql(target.model)
    last = f"max(t.{target.pk})"
    if held_only:
        query = f"SELECT 0, count(*) FILTER (WHERE {held}), 0, {last} FROM {target.table} t WHERE {sql}"
    else:
        query = (
            f"SELECT count(*) FILTER (WHERE NOT ({held}) AND NOT ({blocked})), count(*) FILTER (WHERE {held}), "
            f"count(*) FILTER (WHERE NOT ({held}) AND ({blocked})), {last} FROM {target.table} t WHERE {sql}"
        )
    with connection.cursor() as cur:
        cur.execute(query, params)
        return ExpiredCounts(*cur.fetchone())


def retention_policies(*, data_classes: list[str] | None = None, enabled_only: bool = True) -> list[RetentionPolicy]:
    """Policies in the order the classes are declared (so runs are predictable), optionally only some classes."""
    qs = RetentionPolicy.objects.all()
    if enabled_only:
        qs = qs.filter(enabled=True)
    if data_classes is not None:
        qs = qs.filter(data_class__in=data_classes)
    order = {value: i for i, value in enumerate(DataClass.values)}
    return sorted(qs, key=lambda p: order.get(p.data_class, len(order)))
