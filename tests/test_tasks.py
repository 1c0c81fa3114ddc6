"""Periodic tasks (run directly here; Celery beat schedules them in the demo and production)."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from apps.cameras.tasks import cameras_mark_silent_unknown

from . import factories as f


def test_silent_cameras_become_unknown(home):
    now = timezone.now()
    fresh = f.camera(agency=home, status="online", last_seen=now)
    silent = f.camera(
        agency=home, status="online", last_seen=now - timedelta(seconds=settings.RTCC_CAMERA_SILENT_SECONDS + 60)
    )
    offline = f.camera(agency=home, status="offline")
    assert cameras_mark_silent_unknown() == 1
    for cam in (fresh, silent, offline):
        cam.refresh_from_db()
    assert (fresh.status, silent.status, offline.status) == ("online", "unknown", "offline")


def test_beat_schedule_names_real_tasks():
    from rtcc_gis.celery import app

    app.loader.import_default_modules()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        assert entry["task"] in app.tasks
