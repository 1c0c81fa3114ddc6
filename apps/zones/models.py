"""Areas an agency patrols or watches: beats, sectors, districts/precincts and geofences."""
from django.contrib.gis.db import models

from apps.core.models import AgencyOwned

from .choices import ZoneKind


class Zone(AgencyOwned):
    """A named area (MultiPolygon). `code` is the agency's short name for it (e.g. beat "K2")."""

    kind = models.CharField(max_length=16, choices=ZoneKind.choices, db_index=True)
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    geom = models.MultiPolygonField(srid=4326)

    class Meta:
        ordering = ["kind", "code"]
        constraints = [models.UniqueConstraint(fields=["agency", "kind", "code"], name="zone_unique_code_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code}"
