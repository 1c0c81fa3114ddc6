"""Periodic camera housekeeping."""

import time
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
    from .services import cameras_mark_silent_unknown as mark

    return mark(cutoff=timezone.now() - timedelta(seconds=settings.RTCC_CAMERA_SILENT_SECONDS))


# Beat sends this every 120 s. A run stops starting probes after its budget, so with many slow or
# unreachable cameras one run ends before the next is due instead of piling up on the workers (and
# hitting the soft limit mid-probe, an ERROR in the worker's log). The limits leave room for the last
# probe started within the budget (HEAD then GET, each within RTCC_CAMERA_CHECK_TIMEOUT).
CHECK_BUDGET_SECONDS = 75.0
CHECK_SOFT_LIMIT = 110


@shared_task(soft_time_limit=CHECK_SOFT_LIMIT, time_limit=118)
def cameras_check_health(limit: int = 500, budget_seconds: float = CHECK_BUDGET_SECONDS) -> dict:
    """Mark cameras online/offline from whether their http(s) stream or snapshot URL answers.

    Cameras checked longest ago go first, `limit` per run and no new probe after `budget_seconds`, so a
    large or slow registry is covered over a few runs (`deferred` says how many wait for the next).
    RTSP needs the agency's gateway and server-path URLs are our own: those are left alone.
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
    counts = {"online": 0, "offline": 0, "deferred": 0}
    timeout = settings.RTCC_CAMERA_CHECK_TIMEOUT
    # The last probe may take two requests of `timeout` each and must end before the soft limit.
    deadline = time.monotonic() + min(budget_seconds, CHECK_SOFT_LIMIT - 5 - 2 * timeout)
    for index, camera in enumerate(cameras):
        if index and time.monotonic() >= deadline:  # the first camera is always checked: runs make progress
            counts["deferred"] += 1
            continue
        # Through the proxy's fetch path: checked addresses, same-origin redirects only (the stored credentials
        # never follow a redirect to another host), no proxy variables from the environment.
        ok = probe(camera.stream_url, camera_stream_auth(camera), timeout)
        status = CameraStatus.ONLINE if ok else CameraStatus.OFFLINE
        now = timezone.now()
        seen = {"last_seen": now} if ok else {}
        Camera.objects.filter(pk=camera.pk).update(last_checked_at=now, **seen)
        if camera.status != status:  # only a change is pushed to the maps
            camera_set_status(camera=camera, status=status, seen_at=now)
        counts[status] += 1
    return counts
