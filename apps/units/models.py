"""Field units (AVL): who they are, their status, and where they have been."""

from django.contrib.gis.db import models

from apps.core.models import AgencyOwned

from .choices import UnitKind, UnitStatus


class Unit(AgencyOwned):
    """A unit (call sign). Carries its latest position so the map never scans history to draw it."""

    call_sign = models.CharField(max_length=32)
    device_id = models.CharField(
        max_length=128,
        blank=True,
        db_index=True,
        help_text="AVL device / app id that reports for this unit on any source of the agency (set by an admin)",
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
        constraints = [models.UniqueConstraint(fields=["unit", "recorded_at"], name="unitposition_one_fix_per_instant")]

    def __str__(self) -> str:
        return f"{self.unit_id} @ {self.recorded_at:%H:%M:%S}"


class UnitIdentity(models.Model):
    """How one source names a unit: (namespace, external id) -> unit, unique.

    `namespace` is the source that uses the id (`feed:<FeedSource id>`), so the same id on two sources
    (two transit feeds that both have a vehicle 1717) names two units, never one. Rows are made when a
    source introduces a unit (auto-create) or by an admin; a unit's own `device_id` is the agency-wide
    statement an admin makes and is read after these.
    """

    unit = models.ForeignKey(Unit, on_delete=models.CASCADE, related_name="identities")
    namespace = models.CharField(max_length=64, help_text="the source using this id, e.g. feed:12")
    external_id = models.CharField(max_length=128, help_text="the id the source sends for the unit")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["namespace", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["namespace", "external_id"], name="unitidentity_unique_per_source")
        ]

    def __str__(self) -> str:
        return f"{self.namespace}:{self.external_id} -> {self.unit_id}"
