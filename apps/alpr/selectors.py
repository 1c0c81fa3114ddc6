"""Reads of ALPR data: sites, reads, and the hotlist match used on ingest."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from apps.accounts.permissions import Layer
from apps.accounts.selectors import scope_to_user

from .models import AlprRead, AlprSite, HotlistEntry, normalize_plate


def site_list(*, user) -> QuerySet[AlprSite]:
    return scope_to_user(AlprSite.objects.filter(active=True), user, layer=Layer.ALPR_SITES)


def read_list(*, user) -> QuerySet[AlprRead]:
    # Its own layer: sharing the sites (where readers stand) never shares the plates they read.
    return scope_to_user(AlprRead.objects.select_related("site", "hit__hotlist"), user, layer=Layer.ALPR_READS)


def plate_pattern_filter(qs: QuerySet[AlprRead], pattern: str) -> QuerySet[AlprRead]:
    """Exact plate, or a partial one with `*` wildcards (witnesses often recall part of a plate)."""
    cleaned = "".join(ch for ch in pattern.upper() if ch.isalnum() or ch == "*")
    if "*" not in cleaned:
        return qs.filter(plate=normalize_plate(cleaned))
    regex = "^" + ".*".join(normalize_plate(part) for part in cleaned.split("*")) + "$"
    return qs.filter(plate__regex=regex)


def hotlist_match(*, agency_id: int, plate: str, state: str, at: datetime) -> HotlistEntry | None:
    """The active entry (on an active hotlist of the agency) matching the plate, if any."""
    return (
        HotlistEntry.objects.filter(
            hotlist__agency_id=agency_id, hotlist__active=True, active=True, plate=normalize_plate(plate)
        )
        .filter(Q(state="") | Q(state=(state or "").upper()))
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=at))
        .select_related("hotlist")
        .order_by("id")
        .first()
    )


# Fewer characters than this is a trawl through every plate, not a search for one.
PLATE_SEARCH_MIN_CHARS = 2


def plate_search(*, user, pattern: str) -> QuerySet[AlprRead]:
    """Reads the user may see whose plate matches `pattern` (exact, or `*` wildcards), newest first.

    ValueError when the pattern has fewer than PLATE_SEARCH_MIN_CHARS letters or digits. Looking is
    accountable: the caller requires a reason and writes the audit event.
    """
    if sum(ch.isalnum() for ch in pattern) < PLATE_SEARCH_MIN_CHARS:
        raise ValueError(f"give at least {PLATE_SEARCH_MIN_CHARS} letters or digits")
    return plate_pattern_filter(read_list(user=user), pattern).order_by("-read_at", "-id")
