"""Gunshot detections and the other alerts an operator must see and acknowledge."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.validators import MaxValueValidator, MinValueValidator

from apps.core.models import AgencyOwned

from .choices import AckOutcome, AlertKind, AlertStatus, GunshotKind


def rounds_text(rounds: int | None) -> str:
    """'1 round', '3 rounds', or 'unknown rounds' when the detection did not count them."""
    if rounds is None:
        return "unknown rounds"
    return f"{rounds} round{'s' if rounds != 1 else ''}"


class GunshotDetection(AgencyOwned):
    """An acoustic gunshot detection; (`source`, `source_id`) identifies it in the vendor's feed."""

    location = models.PointField(srid=4326)
    detected_at = models.DateTimeField(db_index=True)
    # None: the vendor reported shots without counting them ("Multiple Gunshots" and no count), never 1.
    rounds = models.PositiveSmallIntegerField(null=True, blank=True, default=1)
    kind = models.CharField(
        max_length=16, choices=GunshotKind.choices, blank=True, default="", help_text="the vendor's classification"
    )
    # What the source said beyond the fields above, and any flag set at intake (e.g. outside the service area).
    attributes = models.JSONField(default=dict, blank=True)
    confidence = models.FloatField(default=1.0, validators=[MinValueValidator(0), MaxValueValidator(1)])
    source = models.CharField(max_length=64)
    source_id = models.CharField(max_length=64)
    legal_hold = models.BooleanField(default=False, db_default=False, help_text="never purged while set")

    class Meta:
        ordering = ["-detected_at"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "source", "source_id"], name="gunshot_unique_source_id")
        ]

    def __str__(self) -> str:
        return f"{rounds_text(self.rounds)} @ {self.detected_at:%Y-%m-%d %H:%M:%S}"


class Alert(AgencyOwned):
    """Something that needs an operator now: a hotlist hit, a gunshot, a panic button, a sensor."""

    kind = models.CharField(max_length=16, choices=AlertKind.choices, db_index=True)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    location = models.PointField(srid=4326, null=True, blank=True, help_text="representative point")
    area = models.MultiPolygonField(srid=4326, null=True, blank=True, help_text="the area the alert covers, if any")
    area_desc = models.CharField(max_length=500, blank=True, help_text="the source's words for the area")
    raised_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.OPEN, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_note = models.TextField(blank=True)
    # Blank until acknowledged (and on alerts acknowledged before outcomes were asked for).
    ack_outcome = models.CharField(max_length=16, choices=AckOutcome.choices, blank=True, default="", db_default="")
    gunshot = models.ForeignKey(GunshotDetection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    alpr_read = models.ForeignKey("alpr.AlprRead", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    legal_hold = models.BooleanField(default=False, db_default=False, db_index=True, help_text="never purged while set")
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True, help_text="closed by the beat after this")
    closed_at = models.DateTimeField(null=True, blank=True)
    close_reason = models.CharField(max_length=200, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="feed that raised it")
    source_id = models.CharField(max_length=128, blank=True, help_text="the feed's id for it (makes ingest idempotent)")
    # Ids of the source's earlier messages this alert took the place of (a CAP Update replaces the
    # referenced alert in place): a later Cancel or Update may reference any of them.
    superseded_ids = ArrayField(models.CharField(max_length=128), default=list, blank=True)

    class Meta:
        ordering = ["-raised_at"]
        # A Cancel or Update may name an id an earlier Update replaced (apps.sensors.services._by_source_id).
        indexes = [GinIndex(fields=["superseded_ids"], name="alert_superseded_ids_gin")]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "source", "source_id"],
                condition=~models.Q(source_id=""),
                name="alert_unique_source_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title}"
