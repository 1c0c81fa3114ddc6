"""The one way to write an audit event."""
from __future__ import annotations

from typing import Any

from .models import AuditEvent


def _client_ip(request) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def audit_record(
    *,
    user,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str | int = "",
    reason: str = "",
    detail: dict | None = None,
    request=None,
    agency_id: int | None = None,
) -> AuditEvent:
    """Write one audit event. `agency_id` defaults to the user's agency (give it for system acts)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or obj.pk
    authenticated = user is not None and getattr(user, "is_authenticated", False)
    return AuditEvent.objects.create(
        user=user if authenticated else None,
        username=user.get_username() if authenticated else "",
        agency_id=agency_id or (getattr(user, "agency_id", None) if authenticated else None),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        reason=reason or "",
        detail=detail or {},
        ip=_client_ip(request),
    )
