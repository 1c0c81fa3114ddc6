"""ALPR: reader sites, plate reads, hotlists. A read that matches an active hotlist entry is a hit."""

import re

from django.contrib.gis.db import models

from apps.core.models import AgencyOwned

from .choices import SiteKind

_PLATE_JUNK = re.compile(r"[^A-Z0-9]")


def normalize_plate(text: str) -> str:
    """Plates compare without spaces, dashes or case: 'abc-1234' == 'ABC 1234'."""
    return _PLATE_JUNK.sub("", (text or "").upper())


class AlprSite(AgencyOwned):
    """A reader: a fixed camera site or a vehicle-mounted (mobile) reader."""

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=16, choices=SiteKind.choices, default=SiteKind.FIXED)
    location = models.PointField(srid=4326, null=True, blank=True, help_text="empty for mobile readers")
    direction = models.FloatField(null=True, blank=True, help_text="degrees the reader faces (its first view)")
    # Every way the site looks, as [from, to] compass sectors clockwise ([h, h]: a heading without a width);
    # empty: all round / unknown. OSM's `direction=45;225` is two views, `252-297` one sector.
    view = models.JSONField(default=list, blank=True)
    # What the source said beyond the fields above (OSM tags: operator, manufacturer), and intake flags.
    attributes = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Hotlist(AgencyOwned):
    """A list of wanted plates (stolen vehicles, AMBER alerts, warrants...)."""

    name = models.CharField(max_length=200)
    source = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HotlistEntry(models.Model):
    """One wanted plate on a hotlist."""

    hotlist = models.ForeignKey(Hotlist, on_delete=models.CASCADE, related_name="entries")
    plate = models.CharField(max_length=16, db_index=True, help_text="normalized: A-Z and 0-9 only")
    state = models.CharField(max_length=8, blank=True, help_text="empty matches any state")
    reason = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When an import last listed this plate: `import_layer hotlists --replace` retires the entries a new
    # full list no longer has (a recovered car must stop alerting).
    seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "hotlist entries"
        ordering = ["plate"]

    def __str__(self) -> str:
        return f"{self.plate} ({self.reason})"

    def save(self, *args, **kwargs):
        self.plate = normalize_plate(self.plate)
        self.state = (self.state or "").upper()
        super().save(*args, **kwargs)


class AlprRead(AgencyOwned):
    """One plate read. `hit` is the hotlist entry it matched when it was recorded, if any."""

    plate = models.CharField(max_length=16, db_index=True)
    state = models.CharField(max_length=8, blank=True)
    read_at = models.DateTimeField(db_index=True)
    location = models.PointField(srid=4326)
    site = models.ForeignKey(AlprSite, null=True, blank=True, on_delete=models.SET_NULL, related_name="reads")
    image_url = models.URLField(max_length=500, blank=True)
    hit = models.ForeignKey(HotlistEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="hits")
    legal_hold = models.BooleanField(default=False, db_default=False, db_index=True, help_text="never purged while set")
    dedup_key = models.CharField(
        max_length=64, blank=True, help_text="hash of plate, time and place: the same read sent twice is one read"
    )

    class Meta:
        ordering = ["-read_at"]
        indexes = [models.Index(fields=["plate", "-read_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "dedup_key"], condition=~models.Q(dedup_key=""), name="alprread_unique_dedup_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.plate} @ {self.read_at:%Y-%m-%d %H:%M}"
