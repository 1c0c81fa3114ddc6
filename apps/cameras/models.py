"""The camera registry: agency, partner and community cameras, where they look and who may watch."""
from django.contrib.gis.db import models
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator

from apps.core.models import AgencyOwned

from .choices import CameraStatus, OwnerKind, Sharing, StreamKind
from .geometry import view_polygon


def validate_stream_url(value: str) -> None:
    if value.startswith("/") and not value.startswith("//"):
        return
    URLValidator(schemes=["http", "https", "rtsp", "rtsps"])(value)


class Camera(AgencyOwned):
    """A camera asset. `view` is derived from location/heading/field of view on every save."""

    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=64, blank=True, help_text="the owner's id for the camera")
    owner_kind = models.CharField(max_length=16, choices=OwnerKind.choices, default=OwnerKind.AGENCY, db_index=True)
    owner_name = models.CharField(max_length=200, blank=True)
    owner_contact = models.CharField(max_length=200, blank=True)
    location = models.PointField(srid=4326)
    heading = models.FloatField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(360)],
        help_text="degrees clockwise from north; empty for 360° cameras",
    )
    fov_angle = models.FloatField(default=90, validators=[MinValueValidator(1), MaxValueValidator(360)])
    fov_range = models.FloatField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(2000)], help_text="metres"
    )
    ptz = models.BooleanField(default=False)
    view = models.PolygonField(srid=4326, editable=False)
    status = models.CharField(max_length=16, choices=CameraStatus.choices, default=CameraStatus.UNKNOWN, db_index=True)
    last_seen = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    stream_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[validate_stream_url],
        help_text="http(s)/rtsp URL, or a path on this server (starting with /)",
    )
    stream_kind = models.CharField(max_length=16, choices=StreamKind.choices, blank=True)
    sharing = models.CharField(max_length=16, choices=Sharing.choices, default=Sharing.LIVE)
    active = models.BooleanField(default=True, db_index=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["agency", "external_id"])]

    def __str__(self) -> str:
        return self.name

    def refresh_view(self) -> None:
        """Recompute the view polygon (call it before bulk_create, which skips save())."""
        self.view = view_polygon(
            self.location.x, self.location.y, self.heading, self.fov_angle, self.fov_range, self.ptz
        )

    def save(self, *args, **kwargs):
        self.refresh_view()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and "view" not in update_fields:
            kwargs["update_fields"] = {*update_fields, "view"}
        super().save(*args, **kwargs)
