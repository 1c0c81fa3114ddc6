"""Reads of gunshot detections and alerts."""

from django.db.models import Q, QuerySet

from apps.accounts.permissions import Layer
from apps.accounts.selectors import agency_scope_q, scope_to_user

from .choices import AlertKind
from .models import Alert, GunshotDetection


def gunshot_list(*, user) -> QuerySet[GunshotDetection]:
    return scope_to_user(GunshotDetection.objects.all(), user, layer=Layer.GUNSHOTS)


def alert_list(*, user) -> QuerySet[Alert]:
    qs = scope_to_user(Alert.objects.select_related("acknowledged_by"), user, layer=Layer.ALERTS)
    reads = agency_scope_q(user, layer=Layer.ALPR_READS)
    if reads is not None:
        # A hotlist hit names the plate that was read, so another agency's hits are ALPR data: they
        # cross only where the reads layer is shared too (apps.live.streams.layers_needed, the same
        # rule for live messages).
        qs = qs.filter(~Q(kind=AlertKind.HOTLIST_HIT) | reads)
    return qs
