"""Reads of the audit trail (auditors and agency admins)."""

from django.db.models import QuerySet

from .models import AuditEvent


def audit_event_list(*, user) -> QuerySet[AuditEvent]:
    """Events filed under the user's own agency; superusers see every agency's.

    Deliberately not `scope_to_user`: sharing rules open an agency's records to partners, never
    its audit trail (who looked at what, and why, stays with the agency accountable for it).
    """
    qs = AuditEvent.objects.all()
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.is_superuser:
        return qs
    if user.agency_id is None:
        return qs.none()
    return qs.filter(agency_id=user.agency_id)
