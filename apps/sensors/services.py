"""Writes to alerts: acknowledgment (audited)."""
from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditAction
from apps.audit.services import audit_record

from .choices import AlertStatus
from .models import Alert


class AlreadyAcknowledged(Exception):
    """Someone acknowledged the alert first."""


@transaction.atomic
def alert_acknowledge(*, alert_id: int, user, note: str = "", request=None) -> Alert:
    alert = Alert.objects.select_for_update().get(pk=alert_id)
    if alert.status == AlertStatus.ACKNOWLEDGED:
        raise AlreadyAcknowledged(
            f"already acknowledged by {alert.acknowledged_by} at {alert.acknowledged_at:%Y-%m-%d %H:%M:%S}"
        )
    alert.status = AlertStatus.ACKNOWLEDGED
    alert.acknowledged_by = user
    alert.acknowledged_at = timezone.now()
    alert.ack_note = note.strip()
    alert.save(update_fields=["status", "acknowledged_by", "acknowledged_at", "ack_note", "updated_at"])
    audit_record(user=user, action=AuditAction.ALERT_ACK, obj=alert, reason=alert.ack_note, request=request)
    return alert
