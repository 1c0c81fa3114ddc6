"""Writes to alerts: raising, acknowledgment (audited), a source's update or close, and expiry."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.core.publish import publish

from .choices import ALERT_LIVE_STATUSES, AckOutcome, AlertStatus, GunshotKind
from .models import Alert, GunshotDetection, rounds_text


class AlreadyAcknowledged(Exception):
    """Someone acknowledged the alert first."""


@transaction.atomic
def alert_acknowledge(*, alert_id: int, user, note: str = "", outcome: str = "", request=None) -> Alert:
    """Acknowledge the alert, with what the operator found (`outcome`: confirmed, false positive, unknown)."""
    if outcome and outcome not in AckOutcome.values:
        raise ValueError(f"unknown outcome {outcome!r}; use {', '.join(AckOutcome.values)}")
    alert = Alert.objects.select_for_update().get(pk=alert_id)
    if alert.status == AlertStatus.CLOSED:
        raise AlreadyAcknowledged(f"closed at {alert.closed_at:%Y-%m-%d %H:%M:%S}: {alert.close_reason}")
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
    area=None,
    area_desc: str = "",
    expires_at=None,
    superseded_ids: Sequence[str] = (),
) -> tuple[Alert, bool]:
    """Raise an alert; the same (source, source_id) twice is the same alert (returns created=False).

    `area` (a MultiPolygon) is where it applies, beside its representative point `location`. An alert
    whose `expires_at` has passed when it arrives is stored closed ("expired before it arrived"):
    kept for the record, never put in front of an operator. `superseded_ids`: other ids of the source
    that name this alert (a Cancel naming one of them finds it)."""
    from .choices import AlertKind

    if kind not in AlertKind.values:
        raise ValueError(f"alert kind must be one of {', '.join(AlertKind.values)}, got {kind!r}")
    if not title.strip():
        raise ValueError("alert title is empty")
    if source_id:
        existing = _by_source_id(agency_id, source, [source_id]).first()
        if existing is not None:
            return existing, False
    now = timezone.now()
    expired = expires_at is not None and expires_at <= now
    with transaction.atomic():
        alert = Alert.objects.create(
            agency_id=agency_id,
            kind=kind,
            title=title.strip()[:200],
            detail=detail,
            location=location,
            area=area,
            area_desc=area_desc[:500],
            raised_at=raised_at,
            expires_at=expires_at,
            source=source[:64],
            source_id=source_id[:128],
            gunshot=gunshot,
            alpr_read=alpr_read,
            superseded_ids=[i[:128] for i in superseded_ids],
            status=AlertStatus.CLOSED if expired else AlertStatus.OPEN,
            closed_at=now if expired else None,
            close_reason=f"expired at {_utc(expires_at)} before it arrived" if expired else "",
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
    # Looked up as stored (truncated), or a long source name never finds its own detections.
    existing = GunshotDetection.objects.filter(
        agency_id=agency_id, source=source[:64], source_id=source_id[:64]
    ).first()
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


def gunshot_set_attribute(*, agency_id: int, source: str, source_id: str, key: str, value) -> GunshotDetection | None:
    """Set one of a detection's `attributes` (a feed's service-area flag); None when there is no such
    detection. Nothing is written when it already has that value."""
    shot = GunshotDetection.objects.filter(agency_id=agency_id, source=source[:64], source_id=source_id[:64]).first()
    if shot is not None and shot.attributes.get(key) != value:
        shot.attributes = {**shot.attributes, key: value}
        shot.save(update_fields=["attributes", "updated_at"])
    return shot


def _utc(when) -> str:
    return f"{when.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _by_source_id(agency_id: int, source: str, source_ids: list[str]):
    """Alerts of a source known by any of these ids: their own, or one an Update replaced. Matched as
    they are stored (source and ids truncated), so a feed with a long name finds its own alerts."""
    source_ids = [i[:128] for i in source_ids]
    return Alert.objects.filter(
        Q(source_id__in=source_ids) | Q(superseded_ids__overlap=source_ids), agency_id=agency_id, source=source[:64]
    ).exclude(source_id="")


def alert_find_referenced(*, agency_id: int, source: str, source_ids: list[str]) -> Alert | None:
    """The newest alert of `source` any of `source_ids` names (CAP <references>), or None."""
    return _by_source_id(agency_id, source, list(source_ids)).order_by("-raised_at", "-id").first()


@transaction.atomic
def alert_update(
    *,
    alert_id: int,
    source_id: str,
    kind: str,
    title: str,
    detail: str = "",
    location=None,
    area=None,
    area_desc: str = "",
    expires_at=None,
) -> Alert:
    """A source's Update: replace the alert's content in place (same row, same status) and take the
    update's id, remembering the old one (a later Cancel may name either). Publishes the change."""
    alert = Alert.objects.select_for_update().get(pk=alert_id)
    if source_id and source_id != alert.source_id:
        if alert.source_id and alert.source_id not in alert.superseded_ids:
            alert.superseded_ids = [*alert.superseded_ids, alert.source_id]
        alert.source_id = source_id[:128]
    alert.kind = kind
    alert.title = title.strip()[:200] or alert.title
    alert.detail = detail
    alert.location = location
    alert.area = area
    alert.area_desc = area_desc[:500]
    alert.expires_at = expires_at
    alert.save()
    if alert.status != AlertStatus.CLOSED and expires_at is not None and expires_at <= timezone.now():
        return _close(alert, reason=f"expired at {_utc(expires_at)}", closed_at=timezone.now())
    publish(layer="alerts", instance=alert)
    return alert


def _close(alert: Alert, *, reason: str, closed_at) -> Alert:
    alert.status = AlertStatus.CLOSED
    alert.closed_at = closed_at
    alert.close_reason = reason.strip()[:200]
    alert.save(update_fields=["status", "closed_at", "close_reason", "updated_at"])
    publish(layer="alerts", instance=alert)
    return alert


@transaction.atomic
def alert_close(*, agency_id: int, source: str, source_id: str, reason: str, closed_at=None) -> Alert | None:
    """Close the open or acknowledged alert this source raised as source_id; None when there is none;
    publishes the change live. (A CAP Cancel, an ATAK emergency cancel.) `source_id` may also be an id
    an Update replaced."""
    if not source_id:
        return None
    alert = (
        _by_source_id(agency_id, source, [source_id])
        .filter(status__in=ALERT_LIVE_STATUSES)
        .select_for_update()
        .order_by("-raised_at", "-id")
        .first()
    )
    if alert is None:
        return None
    return _close(alert, reason=reason or "closed by its source", closed_at=closed_at or timezone.now())


def alerts_close_expired(*, now=None, batch: int = 500) -> int:
    """Close every open or acknowledged alert whose `expires_at` has passed (the beat runs this)."""
    now = now or timezone.now()
    closed = 0
    while True:
        with transaction.atomic():
            due = list(
                Alert.objects.select_for_update(skip_locked=True)
                .filter(status__in=ALERT_LIVE_STATUSES, expires_at__lte=now)
                .order_by("expires_at")[:batch]
            )
            for alert in due:
                _close(alert, reason=f"expired at {_utc(alert.expires_at)}", closed_at=now)
        closed += len(due)
        if len(due) < batch:
            return closed


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
