"""The RTCC's own record of its work on incidents, from which its measures of success are computed."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from .choices import AssistKind


class IncidentAssist(models.Model):
    """An operator's mark that the RTCC assisted an incident, and how (one mark per kind).

    `agency` is the incident's agency: the mark counts in that agency's measures whoever made it.
    """

    incident = models.ForeignKey("incidents.Incident", on_delete=models.CASCADE, related_name="assists")
    agency = models.ForeignKey("accounts.Agency", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32, choices=AssistKind.choices)
    note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["incident", "kind"], name="incident_assist_unique_kind")]
        indexes = [models.Index(fields=["agency", "created_at"])]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.get_kind_display()}"
