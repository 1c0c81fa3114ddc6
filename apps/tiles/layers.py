"""The tile layers the map can ask for: what each one draws, who may see it, and how it is scoped.

Each layer names its sources (MVT layers inside one tile) as querysets built from the domain apps'
own scoped selectors, so a tile shows exactly what the REST layer would show the same user.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import BigIntegerField, BooleanField, ExpressionWrapper, F, Func, Q, QuerySet

from apps.accounts.permissions import Perm
from apps.alpr.selectors import read_list
from apps.audit.models import AuditAction
from apps.incidents.selectors import incident_list
from apps.units.models import UnitPosition
from apps.units.selectors import unit_track_scope
from apps.zones.choices import ZoneKind
from apps.zones.selectors import zone_list

from .selectors import street_list
from .tiles import TileSource

# Dense point layers send one feature per grid cell below this zoom (see tiles.py).
AGGREGATE_BELOW = 16
# Beat outlines join the basemap's city limits and districts from this zoom.
BASEMAP_BEAT_ZOOM = 12


@dataclass(frozen=True)
class TileFilters:
    """The query parameters a history layer takes, parsed (see api/views.py)."""

    since: datetime | None = None
    until: datetime | None = None
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class TileLayer:
    """One tile layer of the registry.

    `perms`: any one of them lets a user ask (closed when empty). `scoped`: the tile depends on who
    asks (the HTTP cache must keep it private). `reason_required`/`audit_action`: a sensitive look,
    refused without a reason and recorded once per user, reason and window (not once per tile).
    `filters`: which of since/until/type the layer accepts.
    """

    name: str
    title: str
    perms: tuple[Perm, ...]
    sources: Callable[..., list[TileSource]]
    min_zoom: int = 0
    max_zoom: int = 20
    scoped: bool = True
    reason_required: bool = False
    audit_action: str | None = None
    filters: frozenset[str] = frozenset()
    max_age: int = 60


def epoch(field: str) -> Func:
    """A timestamp as whole seconds since 1970 (UTC): MVT attributes have no time type."""
    return Func(F(field), template="floor(EXTRACT(EPOCH FROM %(expressions)s))::bigint", output_field=BigIntegerField())


def _timed(qs: QuerySet, field: str, filters: TileFilters) -> QuerySet:
    if filters.since:
        qs = qs.filter(**{f"{field}__gte": filters.since})
    if filters.until:
        qs = qs.filter(**{f"{field}__lt": filters.until})
    return qs


def basemap_sources(*, user, filters: TileFilters, zoom: int) -> list[TileSource]:
    kinds = [ZoneKind.CITY, ZoneKind.DISTRICT] + ([ZoneKind.BEAT] if zoom >= BASEMAP_BEAT_ZOOM else [])
    zones = zone_list(user=user).filter(kind__in=kinds)
    return [
        TileSource(name="zones", queryset=zones, geom_field="geom", attributes={"kind": "kind", "code": "code"}),
        TileSource(
            name="streets",
            queryset=street_list(zoom=zoom),
            geom_field="geom",
            attributes={"kind": "kind", "name": "name"},
        ),
    ]


def incidents_history_sources(*, user, filters: TileFilters, zoom: int) -> list[TileSource]:
    qs = _timed(incident_list(user=user), "received_at", filters)
    if filters.types:
        qs = qs.filter(type_code__in=filters.types)
    return [
        TileSource(
            name="incidents",
            queryset=qs,
            geom_field="location",
            attributes={
                "type": "type_code",
                "priority": "priority",
                "status": "status",
                "received": epoch("received_at"),
            },
            aggregate_below=AGGREGATE_BELOW,
            aggregates={"priority": "min(priority)"},
        )
    ]


def alpr_reads_sources(*, user, filters: TileFilters, zoom: int) -> list[TileSource]:
    qs = _timed(read_list(user=user), "read_at", filters)
    return [
        TileSource(
            name="alpr_reads",
            queryset=qs,
            geom_field="location",
            attributes={
                "plate": "plate",
                "read": epoch("read_at"),
                "is_hit": ExpressionWrapper(Q(hit__isnull=False), output_field=BooleanField()),
            },
            aggregate_below=AGGREGATE_BELOW,
            aggregates={"hits": "count(*) FILTER (WHERE is_hit)::int"},
        )
    ]


def unit_positions_sources(*, user, filters: TileFilters, zoom: int) -> list[TileSource]:
    # Own agency only, as for a track replay (apps.units.selectors.unit_track_scope says why).
    qs = _timed(UnitPosition.objects.filter(unit__in=unit_track_scope(user=user)), "recorded_at", filters)
    return [
        TileSource(
            name="unit_positions",
            queryset=qs,
            geom_field="location",
            attributes={"unit_id": "unit_id", "call_sign": "unit__call_sign", "recorded": epoch("recorded_at")},
            aggregate_below=AGGREGATE_BELOW,
        )
    ]


TIME_FILTERS = frozenset({"since", "until"})

TILE_LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in (
        TileLayer(
            name="basemap",
            title="Streets and zones",
            perms=(Perm.VIEW_LAYERS,),
            sources=basemap_sources,
            max_age=300,
        ),
        TileLayer(
            name="incidents_history",
            title="Historical incidents",
            perms=(Perm.VIEW_ANALYTICS,),
            sources=incidents_history_sources,
            filters=TIME_FILTERS | {"type"},
        ),
        TileLayer(
            name="alpr_reads",
            title="ALPR reads",
            perms=(Perm.VIEW_ALPR_READS,),
            sources=alpr_reads_sources,
            reason_required=True,
            audit_action=AuditAction.HISTORY_TILES,
            filters=TIME_FILTERS,
        ),
        TileLayer(
            name="unit_positions",
            title="Unit position history",
            perms=(Perm.PLAYBACK, Perm.VIEW_ANALYTICS),
            sources=unit_positions_sources,
            reason_required=True,
            audit_action=AuditAction.UNIT_TRACK_REPLAY,
            filters=TIME_FILTERS,
        ),
    )
}
