"""Periodic camera housekeeping."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import CameraStatus
from .models import Camera


# soft < hard: without its own soft limit the global one (240 s) is above 120 s and Celery refuses to send it.
@shared_task(soft_time_limit=100, time_limit=120)
def cameras_mark_silent_unknown() -> int:
    """A camera 'online' but not heard from for a long time is no longer known to be online."""
    cutoff = timezone.now() - timedelta(seconds=settings.RTCC_CAMERA_SILENT_SECONDS)
    return Camera.objects.filter(status=CameraStatus.ONLINE, last_seen__lt=cutoff).update(
        status=CameraStatus.UNKNOWN, updated_at=timezone.now()
    )


@shared_task(time_limit=600, soft_time_limit=570)
def cameras_check_health(limit: int = 500) -> dict:
    """Mark cameras online/offline from whether their http(s) stream or snapshot URL answers.

    Cameras checked longest ago go first, `limit` per run, so a large registry is covered over a few
    runs. RTSP needs the agency's gateway and server-path URLs are our own: those are left alone.
    """
    from .selectors import camera_stream_auth
    from .services import camera_set_status
    from .upstream import probe

    cameras = (
        Camera.objects.filter(active=True)
        .filter(stream_url__regex=r"^https?://")
        .select_related("stream_secret")
        .order_by(models.F("last_checked_at").asc(nulls_first=True))[:limit]
    )
    counts = {"online": 0, "offline": 0}
    for camera in cameras:
        # Through the proxy's fetch path: checked addresses, same-origin redirects only (the stored credentials
        # never follow a redirect to another host), no proxy variables from the environment.
        ok = probe(camera.stream_url, camera_stream_auth(camera), settings.RTCC_CAMERA_CHECK_TIMEOUT)
        status = CameraStatus.ONLINE if ok else CameraStatus.OFFLINE
        now = timezone.now()
        seen = {"last_seen": now} if ok else {}
        Camera.objects.filter(pk=camera.pk).update(last_checked_at=now, **seen)
        if camera.status != status:  # only a change is pushed to the maps
            camera_set_status(camera=camera, status=status, seen_at=now)
        counts[status] += 1
    return counts
