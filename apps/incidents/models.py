"""CAD incidents (calls for service) with their narrative and assigned units."""

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator

from apps.core.models import AgencyOwned

from .choices import CallSource, IncidentStatus


class Incident(AgencyOwned):
    """A call for service as CAD knows it; `cad_number` is unique within the agency."""

    cad_number = models.CharField(max_length=64)
    # Real exports are long: SPD's call types run to 48 characters, Dallas writes "46A - CIT w/Ambulance",
    # Berkeley's published log wraps each code in a 141-character link (kept as the text it is).
    type_code = models.CharField(max_length=200, db_index=True)
    type_description = models.CharField(max_length=500, blank=True)
    priority = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(9)], help_text="1 is the most urgent"
    )
    status = models.CharField(
        max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.PENDING, db_index=True
    )
    call_source = models.CharField(
        max_length=16, choices=CallSource.choices, default=CallSource.UNKNOWN, db_default=CallSource.UNKNOWN
    )
    disposition = models.CharField(max_length=200, blank=True, default="", db_default="", help_text="clearance")
    address = models.CharField(max_length=300, blank=True)
    location = models.PointField(srid=4326)
    location_approximate = models.BooleanField(
        default=False, db_default=False, help_text="block-level or otherwise blurred by the source, not the door"
    )
    beat = models.ForeignKey("zones.Zone", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(db_index=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    on_scene_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=64, blank=True, help_text="feed or import that supplied the record")
    legal_hold = models.BooleanField(default=False, db_default=False, db_index=True, help_text="never purged while set")
    assigned_units = models.ManyToManyField("units.Unit", blank=True, related_name="incidents")
    # The call signs the source named (one row per responding unit in Dallas' export), known units or not.
    unit_call_signs = ArrayField(models.CharField(max_length=64), default=list, db_default="{}", blank=True)
    # The source's columns that no field took, kept as they came rather than lost.
    attributes = models.JSONField(default=dict, db_default={}, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "cad_number"], name="incident_unique_cad_number"),
            models.CheckConstraint(condition=models.Q(priority__gte=1, priority__lte=9), name="incident_priority_1_9"),
        ]
        indexes = [models.Index(fields=["status", "-received_at"])]

    def __str__(self) -> str:
        return f"{self.cad_number} {self.type_code}"


class NarrativeEntry(models.Model):
    """One timestamped line of the CAD narrative."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="narrative")
    entered_at = models.DateTimeField()
    author = models.CharField(max_length=100, blank=True)
    text = models.TextField()

    class Meta:
        ordering = ["entered_at", "id"]
        verbose_name_plural = "narrative entries"

    def __str__(self) -> str:
        return f"{self.entered_at:%H:%M} {self.text[:40]}"
