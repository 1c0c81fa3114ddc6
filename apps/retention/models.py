"""How long each class of data is kept, and the receipt every purge leaves behind."""

from django.core.validators import MinValueValidator
from django.db import models


class DataClass(models.TextChoices):
    ALPR_READS = "alpr_reads", "ALPR reads that are not hotlist hits"
    ALPR_HITS = "alpr_hits", "ALPR reads that were hotlist hits"
    UNIT_POSITIONS = "unit_positions", "Unit position history (AVL)"
    CLOSED_INCIDENTS = "closed_incidents", "Closed incidents"
    GUNSHOTS = "gunshots", "Gunshot detections"
    ALERTS = "alerts", "Acknowledged alerts"
    DEAD_LETTERS = "dead_letters", "Rejected feed records"
    AUDIT = "audit", "Audit trail"


class RetentionPolicy(models.Model):
    """Keep records of `data_class` for `days`; older ones are purged by the retention task."""

    data_class = models.CharField(max_length=32, choices=DataClass.choices, unique=True)
    # At least a day: a policy of 0 would purge records the moment they are written.
    days = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=300, blank=True, help_text="the policy or law this follows")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "retention policies"
        ordering = ["data_class"]

    def __str__(self) -> str:
        return f"{self.get_data_class_display()}: {self.days} days"


class PurgeReceipt(models.Model):
    """What one purge removed: the class, the cut-off, how many rows, when. Kept as evidence."""

    data_class = models.CharField(max_length=32, choices=DataClass.choices, db_index=True)
    cutoff = models.DateTimeField()
    rows_deleted = models.BigIntegerField(default=0)
    rows_held = models.BigIntegerField(default=0, help_text="older than the cut-off but on legal hold")
    batches = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    complete = models.BooleanField(
        default=False,
        help_text="every expired row not on hold was removed (else the time budget ran out: resumed next run)",
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.data_class} < {self.cutoff:%Y-%m-%d}: {self.rows_deleted} deleted"
