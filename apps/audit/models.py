"""Append-only audit trail: who looked at or did what, to which object, when and why."""
from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    CAMERA_STREAM_OPEN = "camera.stream_open", "Opened a camera stream"
    PLATE_SEARCH = "alpr.plate_search", "Searched plates"
    ALPR_READ_QUERY = "alpr.read_query", "Queried ALPR reads"
    ALERT_ACK = "alert.acknowledge", "Acknowledged an alert"
    AUDIT_QUERY = "audit.query", "Read the audit trail"
    IMPORT = "data.import", "Imported data"


class AuditEvent(models.Model):
    """One audited act. Rows are never updated or deleted (a database trigger refuses it)."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    username = models.CharField(max_length=150, blank=True)
    agency = models.ForeignKey("accounts.Agency", null=True, blank=True, on_delete=models.PROTECT)
    action = models.CharField(max_length=64, choices=AuditAction.choices, db_index=True)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False, help_text="hash of the previous event")
    hash = models.CharField(max_length=64, blank=True, editable=False, help_text="SHA-256 over this event + prev_hash")

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.username} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")
