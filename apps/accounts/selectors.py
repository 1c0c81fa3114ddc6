"""What a user may see: the agencies whose records are visible to them."""
from __future__ import annotations

from django.db.models import QuerySet


def visible_agency_ids(user) -> list[int] | None:
    """Agency ids whose records the user may see; None means every agency (superuser)."""
    if not getattr(user, "is_authenticated", False):
        return []
    if user.is_superuser:
        return None
    if user.agency_id is None:
        return []
    return [user.agency_id]


def scope_to_user(qs: QuerySet, user, field: str = "agency_id") -> QuerySet:
    ids = visible_agency_ids(user)
    if ids is None:
        return qs
    return qs.filter(**{f"{field}__in": ids})
