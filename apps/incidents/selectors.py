"""Reads of incidents, scoped to what the user may see."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.accounts.permissions import Layer
from apps.accounts.selectors import scope_to_user
from apps.units.models import Unit

from .models import Incident


def incident_list(*, user) -> QuerySet[Incident]:
    return scope_to_user(Incident.objects.select_related("beat"), user, layer=Layer.INCIDENTS)


def incident_detail_queryset(*, user) -> QuerySet[Incident]:
    return incident_list(user=user).prefetch_related(
        "narrative", Prefetch("assigned_units", queryset=Unit.objects.only("id", "call_sign"))
    )
