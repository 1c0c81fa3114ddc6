"""Periodic camera housekeeping."""
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from .choices import CameraStatus
from .models import Camera


@shared_task(time_limit=120)
def cameras_mark_silent_unknown() -> int:
    """A camera 'online' but not heard from for a long time is no longer known to be online."""
    cutoff = timezone.now() - timedelta(seconds=settings.RTCC_CAMERA_SILENT_SECONDS)
    return Camera.objects.filter(status=CameraStatus.ONLINE, last_seen__lt=cutoff).update(
        status=CameraStatus.UNKNOWN, updated_at=timezone.now()
    )
