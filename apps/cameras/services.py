"""Writes to the camera registry."""
from __future__ import annotations

from datetime import datetime

from django.contrib.gis.geos import Point
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.live.publish import publish

from .choices import CameraStatus, OwnerKind, Sharing, StreamDisplay, StreamKind
from .models import Camera, validate_stream_url


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
    if stream_url:
        # The map hands this URL to operators' browsers; save() does not run field validators.
        try:
            validate_stream_url(stream_url)
        except ValidationError:
            raise ValueError(
                f"stream_url must be an http(s)/rtsp URL or a path on this server, got {stream_url!r}"
            ) from None
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
    camera.save()
    return camera, created


def camera_set_status(*, camera: Camera, status: str, seen_at: datetime | None = None) -> Camera:
    _check_choice(status, CameraStatus, "status")
    camera.status = status
    if status == CameraStatus.ONLINE:
        camera.last_seen = seen_at or timezone.now()
    camera.save(update_fields=["status", "last_seen", "updated_at"])
    publish(layer="cameras", instance=camera)
    return camera


class StreamRefused(Exception):
    """The stream may not be opened; the message says why (shown to the operator)."""


def camera_stream_open(
    *,
    camera: Camera,
    user,
    reason: str = "",
    incident_id: int | None = None,
    display: str = StreamDisplay.DOCK,
    request=None,
) -> dict:
    """Hand out a camera's stream for live viewing, and leave an audit record of who looked, why and
    where: a wall shows the picture to a whole room, for hours, which an auditor reads differently."""
    from apps.audit.models import AuditAction
    from apps.audit.services import audit_record

    if camera.sharing != Sharing.LIVE:
        raise StreamRefused("this camera's owner shares recorded footage on request only; no live view")
    if not camera.stream_url:
        raise StreamRefused("this camera has no stream configured")
    _check_choice(display, StreamDisplay, "display")
    if not reason.strip() and incident_id is None:
        raise ValueError("give a reason or the incident you are working")
    audit_record(
        user=user,
        action=AuditAction.CAMERA_STREAM_OPEN,
        obj=camera,
        reason=reason.strip(),
        detail={
            "incident": incident_id,
            "stream_kind": camera.stream_kind,
            "status": camera.status,
            "display": display,
        },
        request=request,
    )
    return {"stream_url": camera.stream_url, "stream_kind": camera.stream_kind, "status": camera.status}
