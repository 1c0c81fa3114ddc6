"""The camera registry: agency, partner and community cameras, where they look and who may watch."""

from urllib.parse import unquote, urlsplit, urlunsplit

from django.contrib.gis.db import models
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db.models import Q

from apps.core.models import AgencyOwned

from .choices import CameraStatus, OwnerKind, Sharing, StreamKind
from .geometry import view_polygon

# A URL with a user-info part ("scheme://user:pass@host"); the database refuses it in stream_url too.
CREDENTIALS_IN_URL = r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@"


def split_stream_credentials(url: str) -> tuple[str, str, str]:
    """(url without user-info, username, password): ATAK camera packages and VMS exports carry
    `rtsp://user:pass@host/...`; the credentials are kept apart from the camera (CameraStreamSecret)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, "", ""
    userinfo, _, hostport = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=hostport)), unquote(username), unquote(password)


def validate_stream_url(value: str) -> None:
    if value.startswith("/") and not value.startswith("//"):
        return
    URLValidator(schemes=["http", "https", "rtsp", "rtsps"])(value)
    if split_stream_credentials(value)[1:] != ("", ""):
        raise ValidationError(
            "the URL carries a user name or password: give them as the stream credentials, not in the URL",
            code="credentials_in_url",
        )


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
        constraints = [
            # A camera shared "recorded, on request" is never watched live: it has nothing to stream.
            models.CheckConstraint(
                condition=~Q(sharing="on_request") | Q(stream_url=""),
                name="camera_on_request_has_no_stream_url",
                violation_error_message="stream_url: a camera shared on request only cannot have a stream URL",
            ),
            models.CheckConstraint(
                condition=~Q(stream_url__regex=CREDENTIALS_IN_URL),
                name="camera_stream_url_has_no_credentials",
                violation_error_message="stream_url: credentials belong in the stream credentials, not the URL",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.sharing == Sharing.ON_REQUEST and self.stream_url:
            raise ValidationError(
                {"stream_url": "a camera shared recorded, on request only cannot have a stream URL; clear it"}
            )

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


class CameraStreamSecret(models.Model):
    """The user name and password the proxy sends to a camera's stream, kept out of the camera row:
    never serialized, never shown in the admin (which can only replace or clear them)."""

    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, primary_key=True, related_name="stream_secret")
    username = models.CharField(max_length=200, blank=True)
    password = models.CharField(max_length=200, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"stream credentials of camera {self.camera_id}"
