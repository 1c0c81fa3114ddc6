"""Append-only audit trail: who looked at or did what, to which object, when and why."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditAction(models.TextChoices):
    CAMERA_STREAM_OPEN = "camera.stream_open", "Opened a camera stream"
    PLATE_SEARCH = "alpr.plate_search", "Searched plates"
    ALPR_READ_QUERY = "alpr.read_query", "Queried ALPR reads"
    UNIT_TRACK_REPLAY = "unit.track_replay", "Replayed a unit's track"
    ALERT_ACK = "alert.acknowledge", "Acknowledged an alert"
    AUDIT_QUERY = "audit.query", "Read the audit trail"
    IMPORT = "data.import", "Imported data"
    EXPORT = "data.export", "Exported data"
    PERMISSION_CHANGE = "accounts.permission_change", "Changed a user's or group's permissions"
    SHARING_CHANGE = "accounts.sharing_change", "Changed an agency sharing rule"
    LOGIN = "auth.login", "Signed in"
    LOGIN_FAILED = "auth.login_failed", "Failed to sign in"
    LOGOUT = "auth.logout", "Signed out"
    RETENTION_PURGE = "retention.purge", "Purged data past its retention period"
    RETENTION_POLICY_CHANGE = "retention.policy_change", "Changed a retention policy"
    LEGAL_HOLD = "legal_hold.change", "Placed or lifted a legal hold"
    PLAYBACK = "playback.replay", "Replayed units, incidents and alerts over a past window"
    HISTORY_TILES = "history.tiles", "Viewed historical records as map tiles"
    INCIDENT_ASSIST = "incident.assist", "Marked an incident as assisted by the RTCC"
    SEARCH = "search.query", "Searched records"


class AuditEvent(models.Model):
    """One audited act, linked to the one before it by a SHA-256 hash chain (see `apps.audit.chain`).

    Rows are never updated. They are deleted only by the retention purge, oldest first (a database
    trigger refuses anything else). Write them only with `apps.audit.services.audit_record`, which
    takes the chain lock, fixes `id` and `at`, and computes the hash before the insert.
    """

    # Set by audit_record from the database clock after the chain lock is taken, so time order and
    # id order agree; it is part of the hash, hence not auto_now_add (that would overwrite it).
    at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
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
        if not self.hash:
            # An unchained row would break verification for everything after it.
            raise ValueError("write audit events with apps.audit.services.audit_record (it chains them)")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit events are append-only")


class AuditPurge(models.Model):
    """One batch of the audit retention purge, written only by the database function `audit_purge_batch`
    (retention migration 0005), which owns this table's only write: the app role may read it, never write it.

    So a purge cannot be claimed by an INSERT into the trail: verification (`audit_chain_verify`, the signed
    checkpoints) accepts a vanished start of the trail only where a row here says the purge removed it."""

    at = models.DateTimeField(help_text="when the function ran (the database clock)")
    cutoff = models.DateTimeField(help_text="every row it removed was older than this")
    days = models.PositiveIntegerField(help_text="the period it applied: the policy's, never below the floor")
    deleted = models.BigIntegerField()
    first_id = models.BigIntegerField(help_text="the oldest audit event it removed")
    last_id = models.BigIntegerField(help_text="the newest audit event it removed: the remaining trail starts after")
    last_hash = models.CharField(max_length=64, help_text="that event's hash: the first remaining event's prev_hash")

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"audit purge {self.at:%Y-%m-%d %H:%M}: events {self.first_id}..{self.last_id}"
