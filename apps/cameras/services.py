"""Writes to the camera registry."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from apps.core.publish import delete_published, publish, publish_reload

from .choices import CameraStatus, OwnerKind, Sharing, StreamDisplay, StreamKind
from .grants import grant_mint
from .models import Camera, CameraStreamSecret, split_stream_credentials, validate_stream_url


def _check_choice(value: str, choices, name: str) -> str:
    if value not in choices.values:
        raise ValueError(f"{name} must be one of {', '.join(choices.values)}, got {value!r}")
    return value


def camera_upsert(
    *,
    agency_id: int,
    name: str,
    location: Point,
    external_id: str = "",
    owner_kind: str = OwnerKind.AGENCY,
    owner_name: str = "",
    owner_contact: str = "",
    heading: float | None = None,
    fov_angle: float = 90,
    fov_range: float = 60,
    ptz: bool = False,
    status: str = CameraStatus.UNKNOWN,
    stream_url: str = "",
    stream_kind: str = "",
    sharing: str = Sharing.LIVE,
    active: bool = True,
) -> tuple[Camera, bool]:
    """Create a camera, or update the one with the same external id (when given) in the agency."""
    if not name:
        raise ValueError("name is required")
    _check_choice(owner_kind, OwnerKind, "owner_kind")
    _check_choice(status, CameraStatus, "status")
    _check_choice(sharing, Sharing, "sharing")
    if stream_kind:
        _check_choice(stream_kind, StreamKind, "stream_kind")
    if heading is not None and not 0 <= heading <= 360:
        raise ValueError(f"heading must be 0..360 degrees, got {heading}")
    if not 1 <= fov_angle <= 360:
        raise ValueError(f"fov_angle must be 1..360 degrees, got {fov_angle}")
    if not 1 <= fov_range <= 2000:
        raise ValueError(f"fov_range must be 1..2000 metres, got {fov_range}")
    credentials = None
    if stream_url:
        if sharing == Sharing.ON_REQUEST:
            raise ValueError("stream_url: a camera shared recorded, on request only cannot have a stream URL")
        # ATAK camera packages carry rtsp://user:pass@host/...: the credentials are kept apart.
        stream_url, *userinfo = split_stream_credentials(stream_url)
        credentials = tuple(userinfo) if any(userinfo) else None
        # save() does not run field validators; the message never repeats the URL (it may carry a secret).
        try:
            validate_stream_url(stream_url)
        except ValidationError:
            raise ValueError("stream_url must be an http(s)/rtsp URL or a path on this server") from None
    values = {
        "name": name,
        "location": location,
        "owner_kind": owner_kind,
        "owner_name": owner_name,
        "owner_contact": owner_contact,
        "heading": heading,
        "fov_angle": fov_angle,
        "fov_range": fov_range,
        "ptz": ptz,
        "status": status,
        "stream_url": stream_url,
        "stream_kind": stream_kind,
        "sharing": sharing,
        "active": active,
    }
    camera = None
    if external_id:
        camera = Camera.objects.filter(agency_id=agency_id, external_id=external_id).first()
    created = camera is None
    if created:
        camera = Camera(agency_id=agency_id, external_id=external_id)
    for field, value in values.items():
        setattr(camera, field, value)
    with transaction.atomic():
        camera.save()
        if credentials:
            camera_stream_secret_set(camera=camera, username=credentials[0], password=credentials[1])
    return camera, created


def camera_stream_secret_set(*, camera: Camera, username: str, password: str) -> None:
    """Replace the credentials the proxy sends to the camera's stream (both empty: clear them)."""
    if not username and not password:
        CameraStreamSecret.objects.filter(camera=camera).delete()
        return
    CameraStreamSecret.objects.update_or_create(camera=camera, defaults={"username": username, "password": password})


def camera_publish(*, camera: Camera, previous_agency_id: int | None = None) -> None:
    """Put the camera on the maps as it now is: an active camera is upserted, a retired one removed (the
    layer lists active cameras only). Moved to another agency, it leaves the old agency's maps too."""
    if previous_agency_id is not None and previous_agency_id != camera.agency_id:
        publish(layer="cameras", removed_id=camera.pk, agency_id=previous_agency_id)
    if camera.active:
        publish(layer="cameras", instance=camera)
    else:
        publish(layer="cameras", removed_id=camera.pk, agency_id=camera.agency_id)


@transaction.atomic
def camera_save(*, camera: Camera, credentials: tuple[str, str] | None = None) -> Camera:
    """Save a camera edited as a whole (the admin's form has set and validated its fields), store or clear
    its stream `credentials` ((user, password); ("", "") clears; None leaves them), and push it to the maps
    (moved to another agency, off the old agency's maps)."""
    previous_agency_id = Camera.objects.filter(pk=camera.pk).values_list("agency_id", flat=True).first()
    camera.save()
    if credentials is not None:
        camera_stream_secret_set(camera=camera, username=credentials[0], password=credentials[1])
    camera_publish(camera=camera, previous_agency_id=previous_agency_id)
    return camera


@transaction.atomic
def cameras_delete(*, cameras: QuerySet[Camera]) -> int:
    """Delete these cameras and take them off the maps; returns how many were deleted."""
    return delete_published(layer="cameras", queryset=cameras)


def camera_set_status(*, camera: Camera, status: str, seen_at: datetime | None = None) -> Camera:
    _check_choice(status, CameraStatus, "status")
    camera.status = status
    if status == CameraStatus.ONLINE:
        camera.last_seen = seen_at or timezone.now()
    camera.save(update_fields=["status", "last_seen", "updated_at"])
    publish(layer="cameras", instance=camera)
    return camera


# Up to this many cameras changed at once reach the maps one by one; above, one reload per agency.
LIVE_ROWS_MAX = 50


@transaction.atomic
def cameras_mark_silent_unknown(*, cutoff: datetime) -> int:
    """Cameras 'online' but not heard from since `cutoff` become 'unknown' (no longer known to be online),
    and the maps are told: each changed camera, or one reload of the layer per agency when there are many.
    Returns how many changed."""
    silent = (
        Camera.objects.select_for_update(of=("self",))
        .filter(status=CameraStatus.ONLINE, last_seen__lt=cutoff)
        .values_list("pk", flat=True)
    )
    ids = list(silent)
    if not ids:
        return 0
    Camera.objects.filter(pk__in=ids).update(status=CameraStatus.UNKNOWN, updated_at=timezone.now())
    shown = Camera.objects.filter(pk__in=ids, active=True)  # a retired camera is on no map
    if len(ids) > LIVE_ROWS_MAX:
        for agency_id in shown.values_list("agency_id", flat=True).distinct().order_by("agency_id"):
            publish_reload(layer="cameras", agency_id=agency_id)
    else:
        for camera in shown.order_by("pk"):
            publish(layer="cameras", instance=camera)
    return len(ids)


class StreamRefused(Exception):
    """The stream may not be opened; the message says why (shown to the operator)."""


def camera_stream_open(
    *,
    camera: Camera,
    user,
    reason: str = "",
    incident_id: int | None = None,
    display: str = StreamDisplay.DOCK,
    renewal: bool = False,
    request=None,
    look=None,
) -> dict:
    """Open a camera's stream for live viewing, and leave an audit record of who looked, why and
    where: a wall shows the picture to a whole room, for hours, which an auditor reads differently.

    What the browser gets is a proxy URL on this server carrying a short-lived grant bound to that
    record, never the camera's own address. A player renews an expiring grant by opening again
    (`renewal`), which is audited too. `look` is the API's audited read (apps.audit.reads), which then
    writes the event; without one (the demo) the event is written here."""
    from apps.audit.models import AuditAction
    from apps.audit.services import audit_record

    if camera.sharing != Sharing.LIVE:
        raise StreamRefused("this camera's owner shares recorded footage on request only; no live view")
    if not camera.stream_url:
        raise StreamRefused("this camera has no stream configured")
    _check_choice(display, StreamDisplay, "display")
    if not reason.strip() and incident_id is None:
        raise ValueError("give a reason or the incident you are working")
    detail = {"incident": incident_id, "stream_kind": camera.stream_kind, "status": camera.status, "display": display}
    if renewal:
        detail["renewal"] = True
    if look is not None:
        event = look.record(obj=camera, detail=detail)
    else:
        event = audit_record(
            user=user,
            action=AuditAction.CAMERA_STREAM_OPEN,
            obj=camera,
            reason=reason.strip(),
            detail=detail,
            request=request,
        )
    grant = grant_mint(user_id=user.pk, camera_id=camera.pk, event_id=event.pk)
    # RTSP does not play in a browser (the agency's video gateway does): there is nothing to relay.
    name = PROXY_ENTRY.get(camera.stream_kind)
    url = reverse("camera-stream", kwargs={"token": grant.token, "name": name}) if name else ""
    return {
        "url": url,
        "stream_kind": camera.stream_kind,
        "status": camera.status,
        "expires_at": datetime.fromtimestamp(grant.expires, tz=UTC),
    }


# The proxy path that serves each kind of stream (apps.cameras.api.proxy).
PROXY_ENTRY = {StreamKind.HLS: "index.m3u8", StreamKind.MJPEG: "mjpeg", StreamKind.SNAPSHOT: "snapshot"}
