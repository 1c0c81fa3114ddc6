"""Writes to alerts: acknowledgment (audited)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.live.publish import publish

from .choices import AckOutcome, AlertStatus
from .models import Alert, GunshotDetection


class AlreadyAcknowledged(Exception):
    """Someone acknowledged the alert first."""


@transaction.atomic
def alert_acknowledge(*, alert_id: int, user, note: str = "", outcome: str = "", request=None) -> Alert:
    """Acknowledge the alert, with what the operator found (`outcome`: confirmed, false positive, unknown)."""
    if outcome and outcome not in AckOutcome.values:
        raise ValueError(f"unknown outcome {outcome!r}; use {', '.join(AckOutcome.values)}")
    alert = Alert.objects.select_for_update().get(pk=alert_id)
    if alert.status == AlertStatus.ACKNOWLEDGED:
        raise AlreadyAcknowledged(
            f"already acknowledged by {alert.acknowledged_by} at {alert.acknowledged_at:%Y-%m-%d %H:%M:%S}"
        )
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by = user
    alert.acknowledged_at = timezone.now()
    alert.ack_note = note.strip()
    alert.ack_outcome = outcome
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "ack_note", "ack_outcome", "updated_at"])
    publish(layer="alerts", instance=alert)
    audit_record(
        user=user,
        action=AuditAction.ALERT_ACK,
        obj=alert,
        reason=alert.ack_note,
        detail={"kind": alert.kind, "outcome": outcome},
        request=request,
    )
    return alert


def alert_raise(
    *,
    agency_id: int,
    kind: str,
    title: str,
    raised_at,
    location=None,
    detail: str = "",
    source: str = "",
    source_id: str = "",
    gunshot=None,
    alpr_read=None,
) -> tuple[Alert, bool]:
    """Raise an alert; the same (source, source_id) twice is the same alert (returns created=False)."""
    from .choices import AlertKind

    if kind not in AlertKind.values:
        raise ValueError(f"alert kind must be one of {', '.join(AlertKind.values)}, got {kind!r}")
    if not title.strip():
        raise ValueError("alert title is empty")
    if source_id:
        existing = Alert.objects.filter(agency_id=agency_id, source=source, source_id=source_id).first()
        if existing is not None:
            return existing, False
    with transaction.atomic():
        alert = Alert.objects.create(
            agency_id=agency_id,
            kind=kind,
            title=title.strip()[:200],
            detail=detail,
            location=location,
            raised_at=raised_at,
            source=source[:64],
            source_id=source_id[:128],
            gunshot=gunshot,
            alpr_read=alpr_read,
        )
        publish(layer="alerts", instance=alert)
    return alert, True


# issue 11: shared with the cap branch; the lead keeps one at merge
@transaction.atomic
def alert_close(*, agency_id: int, source: str, source_id: str, reason: str, closed_at=None) -> Alert | None:
    """Close the alert a feed raised as (source, source_id); None when there is none. Closing twice is a no-op."""
    alert = (
        Alert.objects.select_for_update()
        .filter(agency_id=agency_id, source=source[:64], source_id=source_id[:128])
        .first()
    )
    if alert is None or alert.status == AlertStatus.CLOSED:
        return alert
    alert.status = AlertStatus.CLOSED
    alert.closed_at = closed_at or timezone.now()
    alert.close_reason = reason
    alert.save(update_fields=["status", "closed_at", "close_reason", "updated_at"])
    # A closed alert leaves every live map and queue (the live layer has no "closed" event of its own).
    publish(layer="alerts", removed_id=alert.pk, agency_id=alert.agency_id)
    return alert


def gunshot_record(
    *, agency_id: int, source: str, source_id: str, location, detected_at, rounds: int = 1, confidence: float = 1.0
) -> tuple[GunshotDetection, bool]:
    """Store a detection once per (source, source_id) and raise its alert."""
    if not source_id:
        raise ValueError("a gunshot detection needs the source's id")
    if not 1 <= int(rounds) <= 200:
        raise ValueError(f"rounds must be 1..200, got {rounds}")
    if not 0 <= float(confidence) <= 1:
        raise ValueError(f"confidence must be 0..1, got {confidence}")
    existing = GunshotDetection.objects.filter(agency_id=agency_id, source=source, source_id=source_id).first()
    if existing is not None:
        return existing, False
    with transaction.atomic():
        shot = GunshotDetection.objects.create(
            agency_id=agency_id,
            source=source[:64],
            source_id=source_id[:64],
            location=location,
            detected_at=detected_at,
            rounds=int(rounds),
            confidence=float(confidence),
        )
        publish(layer="gunshots", instance=shot)
        alert_raise(
            agency_id=agency_id,
            kind="gunshot",
            title=f"Gunshots detected: {shot.rounds} round{'s' if shot.rounds != 1 else ''}",
            detail=f"{source} #{source_id}, confidence {shot.confidence:.0%}",
            location=location,
            raised_at=detected_at,
            gunshot=shot,
        )
    return shot, True
