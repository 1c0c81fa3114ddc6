"""Reads of gunshot detections and alerts."""
from django.db.models import QuerySet

from apps.accounts.selectors import scope_to_user

from .models import Alert, GunshotDetection


def gunshot_list(*, user) -> QuerySet[GunshotDetection]:
    return scope_to_user(GunshotDetection.objects.all(), user)


def alert_list(*, user) -> QuerySet[Alert]:
    return scope_to_user(Alert.objects.select_related("acknowledged_by"), user)
