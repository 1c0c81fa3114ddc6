"""Reads of the camera registry, including the one that matters most: who can see this spot."""

from __future__ import annotations

from typing import TypedDict

from django.conf import settings
from django.contrib.gis.db.models.functions import Distance
from django.contrib.gis.geos import Point
from django.contrib.gis.measure import D
from django.db.models import BooleanField, Case, IntegerField, Q, QuerySet, Value, When

from apps.accounts.permissions import Layer, Perm, user_has_perm
from apps.accounts.selectors import scope_to_user
from apps.core.geo import metres_to_degrees

from .choices import CameraStatus, Sharing
from .models import Camera


class RankedCamera(TypedDict):
    camera: dict
    distance_m: float
    in_view: bool
    can_see: bool
    reason: str


def camera_list(*, user) -> QuerySet[Camera]:
    return scope_to_user(Camera.objects.filter(active=True), user, layer=Layer.CAMERAS)


def camera_watchable(*, user, camera_id: int) -> Camera | None:
    """The camera, if `user` may watch it live now (role, agency or sharing, live sharing, active):
    checked on every request of the stream proxy, so a revoked right refuses the grant's next request
    at once, and every RTCC_STREAM_RECHECK_SECONDS inside an open MJPEG relay, which it then ends."""
    if not user_has_perm(user, Perm.VIEW_CAMERA_STREAM):
        return None
    return (
        camera_list(user=user)
        .filter(pk=camera_id, sharing=Sharing.LIVE)
        .exclude(stream_url="")
        .select_related("stream_secret")
        .defer("view")
        .first()
    )


def camera_stream_auth(camera: Camera) -> tuple[str, str] | None:
    """The user name and password the proxy sends upstream, if the camera has any."""
    try:
        secret = camera.stream_secret
    except Camera.stream_secret.RelatedObjectDoesNotExist:
        return None
    return (secret.username, secret.password) if secret.username or secret.password else None


def _reason(cam: Camera, distance_m: float, in_view: bool) -> str:
    if in_view:
        problems = []
        if cam.status != CameraStatus.ONLINE:
            problems.append(f"camera is {cam.get_status_display().lower()}")
        if cam.sharing != Sharing.LIVE:
            problems.append("recorded footage on request only")
        where = "360° coverage" if cam.ptz or cam.heading is None or cam.fov_angle >= 360 else "in its field of view"
        if not problems:
            return f"sees the location ({where}, {distance_m:.0f} m), online, live view allowed"
        return f"location is {where} ({distance_m:.0f} m) but " + " and ".join(problems)
    if distance_m > cam.fov_range:
        return f"nearby ({distance_m:.0f} m) but beyond its {cam.fov_range:.0f} m range"
    if cam.ptz or cam.heading is None or cam.fov_angle >= 360:
        # The all-round view is stored as a polygon of straight segments, which cuts just inside
        # the range circle: a point there is at the edge of what the camera sees.
        return f"nearby ({distance_m:.0f} m) at the edge of its {cam.fov_range:.0f} m range (360° coverage)"
    return f"nearby ({distance_m:.0f} m) but pointing away (heading {cam.heading:.0f}°, {cam.fov_angle:.0f}° view)"


def cameras_seeing_point(*, user, point: Point, limit: int = 5, radius_m: float | None = None) -> list[RankedCamera]:
    """Cameras ranked for a location: those that see it, are online and may be watched live first;
    then those whose view covers it but that are offline or shared on request only; then nearby
    cameras looking elsewhere. Within each group, nearest first. Only cameras within radius_m.
    """
    radius_m = radius_m or settings.RTCC_CAMERA_SEARCH_RADIUS_M
    covers = Q(view__covers=point)
    qs = (
        camera_list(user=user)
        # Index-assisted prefilter in degrees (GiST on location), then the exact metric distance.
        .filter(location__dwithin=(point, metres_to_degrees(radius_m, point.y)))
        .annotate(distance=Distance("location", point))
        .filter(distance__lte=D(m=radius_m))
        .annotate(
            in_view=Case(When(covers, then=Value(True)), default=Value(False), output_field=BooleanField()),
            tier=Case(
                When(covers & Q(status=CameraStatus.ONLINE, sharing=Sharing.LIVE), then=Value(0)),
                When(covers, then=Value(1)),
                default=Value(2),
                output_field=IntegerField(),
            ),
        )
        .defer("view")
        .order_by("tier", "distance", "id")[:limit]
    )
    ranked: list[RankedCamera] = []
    for cam in qs:
        distance_m = round(cam.distance.m, 1)
        ranked.append(
            RankedCamera(
                camera={
                    "id": cam.pk,
                    "name": cam.name,
                    "owner_kind": cam.owner_kind,
                    "owner_name": cam.owner_name,
                    "status": cam.status,
                    "sharing": cam.sharing,
                    "stream_kind": cam.stream_kind,
                    "heading": cam.heading,
                    "location": [cam.location.x, cam.location.y],
                },
                distance_m=distance_m,
                in_view=cam.in_view,
                can_see=cam.tier == 0,
                reason=_reason(cam, distance_m, cam.in_view),
            )
        )
    return ranked
