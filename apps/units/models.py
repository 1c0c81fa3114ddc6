"""Field units (AVL): who they are, their status, and where they have been."""
from django.contrib.gis.db import models

from apps.core.models import AgencyOwned

from .choices import UnitKind, UnitStatus


class Unit(AgencyOwned):
    """A unit (call sign). Carries its latest position so the map never scans history to draw it."""

    call_sign = models.CharField(max_length=32)
    device_id = models.CharField(
        max_length=128, blank=True, db_index=True, help_text="AVL device / app id that reports for this unit"
    )
    kind = models.CharField(max_length=16, choices=UnitKind.choices, default=UnitKind.PATROL)
    status = models.CharField(max_length=16, choices=UnitStatus.choices, default=UnitStatus.AVAILABLE, db_index=True)
    active = models.BooleanField(default=True)
    last_location = models.PointField(srid=4326, null=True, blank=True)
    last_heading = models.FloatField(null=True, blank=True)
    last_speed = models.FloatField(null=True, blank=True, help_text="metres per second")
    last_seen = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["call_sign"]
        constraints = [models.UniqueConstraint(fields=["agency", "call_sign"], name="unit_unique_call_sign")]

    def __str__(self) -> str:
        return self.call_sign


class UnitPosition(models.Model):
    """One AVL fix of a unit."""

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="positions")
    location = models.PointField(srid=4326)
    heading = models.FloatField(null=True, blank=True)
    speed = models.FloatField(null=True, blank=True, help_text="metres per second")
    recorded_at = models.DateTimeField()
    source = models.CharField(max_length=64, blank=True)
    legal_hold = models.BooleanField(default=False, db_default=False, help_text="never purged while set")

    class Meta:
        ordering = ["-recorded_at"]
        indexes = [models.Index(fields=["unit", "-recorded_at"]), models.Index(fields=["recorded_at"])]
        constraints = [
            models.UniqueConstraint(fields=["unit", "recorded_at"], name="unitposition_one_fix_per_instant")
        ]

    def __str__(self) -> str:
        return f"{self.unit_id} @ {self.recorded_at:%H:%M:%S}"
