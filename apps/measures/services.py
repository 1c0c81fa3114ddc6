"""Writes: an operator marks an incident as assisted by the RTCC (audited)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.incidents.models import Incident

from .choices import AssistKind
from .models import IncidentAssist

NOTE_MAX_CHARS = 2000


@transaction.atomic
def incident_assist_create(*, incident: Incident, user, kind: str, note: str = "", request=None) -> IncidentAssist:
    """Record that the RTCC assisted `incident` in the way `kind` says; one mark per kind and incident.

    The caller has checked that the user may see the incident. Bad input raises ValidationError
    with the reason per field.
    """
    note = note.strip()
    if kind not in AssistKind.values:
        raise ValidationError({"kind": f"unknown kind {kind!r}; use {', '.join(AssistKind.values)}"})
    if len(note) > NOTE_MAX_CHARS:
        raise ValidationError({"note": f"at most {NOTE_MAX_CHARS} characters"})
    # Lock the incident so two operators marking the same kind at once get one mark and one refusal.
    Incident.objects.select_for_update().filter(pk=incident.pk).values_list("pk").first()
    if IncidentAssist.objects.filter(incident=incident, kind=kind).exists():
        raise ValidationError({"kind": f"incident {incident.cad_number} is already marked {AssistKind(kind).label!r}"})
    assist = IncidentAssist.objects.create(
        incident=incident, agency_id=incident.agency_id, kind=kind, note=note, created_by=user
    )
    audit_record(
        user=user,
        action=AuditAction.INCIDENT_ASSIST,
        obj=incident,
        reason=note,
        detail={"assist": assist.pk, "kind": kind},
        request=request,
        agency_id=incident.agency_id if user.agency_id is None else None,
    )
    return assist
