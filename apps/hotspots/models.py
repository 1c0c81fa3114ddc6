"""Hotspot runs: one computation over an agency's incidents, its parameters and its GeoJSON result."""

from datetime import datetime, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import RunKind, RunStatus

# The compute task's hard time limit. A run still pending or running this long after it was asked for
# (or started) will never finish (its task was lost, its worker killed): it counts as failed.
RUN_TIME_LIMIT_SECONDS = 600
STALE_ERROR = f"not finished within {RUN_TIME_LIMIT_SECONDS} s (task lost or worker stopped); ask again"


def stale_runs_q(now: datetime | None = None) -> Q:
    """Runs pending or running past the compute task's time limit: they will never finish."""
    limit = (now or timezone.now()) - timedelta(seconds=RUN_TIME_LIMIT_SECONDS)
    return Q(status=RunStatus.PENDING, created_at__lt=limit) | Q(status=RunStatus.RUNNING, started_at__lt=limit)


class HotspotRun(models.Model):
    """A KDE surface, Gi* grid, period comparison or coverage-gap list for one agency.

    `params` are the validated, normalised parameters (filters included) and `params_hash` their
    digest, so an identical request reuses a recent finished run instead of computing again.
    """

    agency = models.ForeignKey("accounts.Agency", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=RunKind.choices)
    params = models.JSONField(default=dict)
    params_hash = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.PENDING, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="empty for the periodic refresh",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    incident_count = models.PositiveIntegerField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True, help_text="counts per class, timings, sizes")
    result = models.JSONField(null=True, blank=True, help_text="GeoJSON FeatureCollection")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["agency", "kind", "params_hash", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    def is_stale(self, now: datetime | None = None) -> bool:
        """Pending or running past the time limit (stale_runs_q, for this row): failed, even before the
        periodic hotspot_runs_fail_stale_task has written so."""
        limit = (now or timezone.now()) - timedelta(seconds=RUN_TIME_LIMIT_SECONDS)
        started = self.created_at if self.status == RunStatus.PENDING else self.started_at
        return self.status in (RunStatus.PENDING, RunStatus.RUNNING) and started is not None and started < limit
