"""The permission matrix: which role may do what. One table, enforced by one DRF permission class.

Views declare `required_perms = {"list": Perm.VIEW_LAYERS, ...}` keyed by action (or a single
`required_perm`); anything not declared is refused, so a new action is closed until someone opens it.

What a role may *do* is this table; whose records it may *see* is the user's agency plus what other
agencies share with it (`Layer`, apps.accounts.selectors). The two are independent: a sharing rule
never grants an action the role lacks (a partner-agency user sees shared ALPR reads only if their
role may read ALPR reads at all).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from rest_framework.permissions import BasePermission

from .choices import Role


class Perm(StrEnum):
    VIEW_LAYERS = "view_layers"  # incidents, cameras (no stream), units, zones, sensors
    VIEW_CAMERA_STREAM = "view_camera_stream"
    VIEW_ALPR_READS = "view_alpr_reads"
    SEARCH_PLATES = "search_plates"
    ACK_ALERTS = "ack_alerts"
    VIEW_AUDIT = "view_audit"
    VIEW_FEED_HEALTH = "view_feed_health"
    MANAGE_FEEDS = "manage_feeds"  # issue push tokens, read dead letters
    VIEW_ANALYTICS = "view_analytics"  # hotspots, coverage gaps, history tiles (aggregates and old records)
    VIEW_MEASURES = "view_measures"  # the center's measures of success dashboard and its CSV
    MARK_ASSIST = "mark_assist"  # record that the RTCC assisted an incident, and how
    EXPORT_LAYERS = "export_layers"  # GeoJSON/CSV/KML exports and the OGC API Features read endpoint (audited)
    PLAYBACK = "playback"  # replay units, incidents and alerts over a past window (audited as a track replay)


class Layer(StrEnum):
    """The layers an agency can share with a partner (`AgencySharing.layers`), one per kind of record.

    The live layers (apps.live.layers) use the same names.
    """

    INCIDENTS = "incidents"
    CAMERAS = "cameras"
    UNITS = "units"
    ALPR_SITES = "alpr_sites"
    ALPR_READS = "alpr_reads"  # plates and where they were seen: shared only when listed by name
    GUNSHOTS = "gunshots"
    ALERTS = "alerts"
    ZONES = "zones"


MATRIX: dict[str, frozenset[Perm]] = {
    Role.OPERATOR: frozenset(
        {
            Perm.VIEW_LAYERS,
            Perm.VIEW_CAMERA_STREAM,
            Perm.VIEW_ALPR_READS,
            Perm.SEARCH_PLATES,
            Perm.ACK_ALERTS,
            Perm.MARK_ASSIST,
            Perm.PLAYBACK,
        }
    ),
    Role.WATCH_COMMANDER: frozenset(
        {
            Perm.VIEW_LAYERS,
            Perm.VIEW_CAMERA_STREAM,
            Perm.VIEW_ALPR_READS,
            Perm.SEARCH_PLATES,
            Perm.ACK_ALERTS,
            Perm.VIEW_FEED_HEALTH,
            Perm.VIEW_ANALYTICS,
            Perm.VIEW_MEASURES,
            Perm.MARK_ASSIST,
            Perm.EXPORT_LAYERS,
            Perm.PLAYBACK,
        }
    ),
    Role.PLANNER: frozenset(
        {Perm.VIEW_LAYERS, Perm.VIEW_ANALYTICS, Perm.VIEW_MEASURES, Perm.EXPORT_LAYERS, Perm.PLAYBACK}
    ),
    Role.AGENCY_ADMIN: frozenset(
        {
            Perm.VIEW_LAYERS,
            Perm.VIEW_CAMERA_STREAM,
            Perm.VIEW_ALPR_READS,
            Perm.SEARCH_PLATES,
            Perm.VIEW_AUDIT,
            Perm.VIEW_FEED_HEALTH,
            Perm.MANAGE_FEEDS,
            Perm.VIEW_ANALYTICS,
            Perm.VIEW_MEASURES,
            Perm.EXPORT_LAYERS,
            Perm.PLAYBACK,
        }
    ),
    Role.AUDITOR: frozenset({Perm.VIEW_AUDIT}),
    # A neighbour agency's staff in a joint center: they look at the map (their own agency's layers
    # and what is shared with it) but take no sensitive look: no live video, no plate data, no
    # acknowledging the host center's alerts, no audit trail.
    Role.PARTNER: frozenset({Perm.VIEW_LAYERS}),
}


def user_has_perm(user: Any, perm: Perm) -> bool:
    """Whether the user's role grants `perm` (superusers: everything; no agency: nothing)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if user.agency_id is None:
        return False
    return perm in MATRIX.get(user.role, frozenset())


class HasRolePermission(BasePermission):
    """Authenticated, active, and the role grants what this view's action needs."""

    message = "Your role does not allow this."

    def has_permission(self, request: Any, view: Any) -> bool:
        if not getattr(request.user, "is_authenticated", False):
            return False
        perm = getattr(view, "required_perm", None)
        per_action = getattr(view, "required_perms", None)
        if per_action is not None:
            perm = per_action.get(getattr(view, "action", None), None)
        if perm is None:
            return False
        return user_has_perm(request.user, perm)
