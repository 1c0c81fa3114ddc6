"""The Celery application: Redis broker, tasks discovered from every app."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rtcc_gis.settings")

app = Celery("rtcc_gis")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
