"""Writes to alerts: acknowledgment (audited)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.live.publish import publish

from .choices import AckOutcome, AlertStatus, GunshotKind
from .models import Alert, GunshotDetection, rounds_text


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


def alert_is_recent(at) -> bool:
    """Whether a record made at `at` is recent enough to alert when it arrives by import: history loaded
    from a file (last year's detections) must not ring the alert queue. RTCC_IMPORT_ALERT_WINDOW_SECONDS."""
    window = timedelta(seconds=settings.RTCC_IMPORT_ALERT_WINDOW_SECONDS)
    return at >= timezone.now() - window


def gunshot_record(
    *,
    agency_id: int,
    source: str,
    source_id: str,
    location,
    detected_at,
    rounds: int | None = 1,
    confidence: float = 1.0,
    kind: str = "",
    attributes: dict | None = None,
    raise_alert: bool = True,
) -> tuple[GunshotDetection, bool]:
    """Store a detection once per (source, source_id) and raise its alert (unless `raise_alert` is False:
    an import of history). `rounds=None`: shots were heard but not counted."""
    if not source_id:
        raise ValueError("a gunshot detection needs the source's id")
    if rounds is not None and not 1 <= int(rounds) <= 200:
        raise ValueError(f"rounds must be 1..200, got {rounds}")
    if not 0 <= float(confidence) <= 1:
        raise ValueError(f"confidence must be 0..1, got {confidence}")
    if kind and kind not in GunshotKind.values:
        raise ValueError(f"kind must be one of {', '.join(GunshotKind.values)}, got {kind!r}")
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
            rounds=None if rounds is None else int(rounds),
            confidence=float(confidence),
            kind=kind,
            attributes=attributes or {},
        )
        publish(layer="gunshots", instance=shot)
        if raise_alert:
            alert_raise(
                agency_id=agency_id,
                kind="gunshot",
                title=f"Gunshots detected: {rounds_text(shot.rounds)}",
                detail=f"{source} #{source_id}, confidence {shot.confidence:.0%}",
                location=location,
                raised_at=detected_at,
                gunshot=shot,
            )
    return shot, True


def _gunshot_kind(text: str) -> str:
    # "Single_Gunshot" (DC until 2020), "Single Gunshot" (DC since), "single": one kind.
    word = " ".join(text.replace("_", " ").split()).casefold()
    for value, label in GunshotKind.choices:
        if word in (value, str(label).casefold()):
            return value
    labels = ", ".join(str(label) for label in GunshotKind.labels)
    raise ValueError(f"type {text!r} is not one of {labels}")


def gunshot_import(
    *,
    agency_id: int,
    source: str,
    source_id: str,
    location,
    detected_at,
    type: str = "",  # noqa: A002 - the vendor's column name
    rounds: int | None = None,
    confidence: float | None = None,
    attributes: dict | None = None,
) -> tuple[GunshotDetection, bool]:
    """A detection from a file (a ShotSpotter export). Rounds come from the file's count when it has one;
    a "Single Gunshot" is one round; otherwise (multiple, firecracker-or-gunshot, no type) they stay
    unknown, never 1. Only a detection newer than RTCC_IMPORT_ALERT_WINDOW_SECONDS raises an alert."""
    kind = _gunshot_kind(type) if type else ""
    if rounds is None and kind == GunshotKind.SINGLE:
        rounds = 1
    return gunshot_record(
        agency_id=agency_id,
        source=source,
        source_id=source_id,
        location=location,
        detected_at=detected_at,
        rounds=rounds,
        confidence=1.0 if confidence is None else confidence,
        kind=kind,
        attributes=attributes,
        raise_alert=alert_is_recent(detected_at),
    )
