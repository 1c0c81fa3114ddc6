"""Areas an agency patrols or watches: beats, sectors, districts/precincts and geofences."""

from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex

from apps.core.models import AgencyOwned

from .choices import ZoneKind


class Zone(AgencyOwned):
    """A named area (MultiPolygon). `code` is the agency's short name for it (e.g. beat "K2")."""

    kind = models.CharField(max_length=16, choices=ZoneKind.choices, db_index=True)
    code = models.CharField(max_length=32)
    name = models.CharField(max_length=200)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    geom = models.MultiPolygonField(srid=4326)
    # Codes other systems use for this area, "SCHEME:value" (e.g. "SAME:053033", "UGC:WAZ558",
    # "NUTS3:FR718", "EMMA_ID:FR035", "CAP-CP:5915022"): a CAP alert given only geocodes is placed
    # on the zones carrying them (apps.sensors.services.alert_area_for_geocodes).
    geocodes = ArrayField(models.CharField(max_length=64), default=list, blank=True)

    class Meta:
        ordering = ["kind", "code"]
        indexes = [GinIndex(fields=["geocodes"], name="zone_geocodes_gin")]
        constraints = [models.UniqueConstraint(fields=["agency", "kind", "code"], name="zone_unique_code_per_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.code}"
