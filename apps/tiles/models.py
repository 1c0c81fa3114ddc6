"""Basemap streets: the street network the map draws under the operational layers, from our own database."""

from django.contrib.gis.db import models


class Street(models.Model):
    """One OpenStreetMap way with a highway tag. Public reference data, shared by every agency (like
    the map's tiles would be), so it has no owning agency; re-importing a file replaces its ways."""

    osm_id = models.BigIntegerField(unique=True)
    name = models.CharField(max_length=200, blank=True)
    kind = models.CharField(max_length=32, db_index=True, help_text="OSM highway class: motorway, residential ...")
    geom = models.LineStringField(srid=4326)  # spatial_index=True (GiST) is GeoDjango's default
    source = models.CharField(max_length=200, blank=True, help_text="file the way was imported from")

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.name or self.osm_id}"
