"""The map's search box: incidents by CAD number or address, units by call sign, cameras by name or
owner id, zones by code or name, and plate reads (see `plate_reads`).

Each kind reads through its own app's scoped selector, so a search never shows a record the map
would not: the user's agency plus what other agencies share with it, layer by layer. Matching is
case-insensitive on a few short columns, best first: the whole value, then a prefix, then (from
SUBSTRING_MIN_CHARS characters on) anywhere in it; within a tier the most recent or the shortest
label comes first. Two characters only match the start of a value: anywhere-in-it needs trigrams,
and a two-character pattern has none, so it would scan every row for little use.

Incidents grow without bound (every call for years), so they are searched tier by tier, each tier a
small query that the indexes of this app's migration 0001 answer (pg_trgm for "anywhere in it",
text_pattern_ops for whole value and prefix); the other kinds are a few thousand rows per agency
and are ranked in one query.
"""

from __future__ import annotations

from typing import TypedDict

from django.contrib.gis.db.models.functions import Envelope, PointOnSurface
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Length

from apps.alpr.selectors import plate_search
from apps.cameras.selectors import camera_list
from apps.incidents.selectors import incident_list
from apps.units.selectors import unit_list
from apps.zones.selectors import zone_list

KINDS = ("incident", "unit", "camera", "zone")
QUERY_MIN_CHARS = 2
SUBSTRING_MIN_CHARS = 3
QUERY_MAX_CHARS = 100
DEFAULT_LIMIT = 8
MAX_LIMIT = 25
PLATE_DEFAULT_LIMIT = 50
PLATE_MAX_LIMIT = 200


class SearchResult(TypedDict):
    kind: str
    id: int
    label: str
    sublabel: str
    point: list[float] | None  # [lon, lat] to fly to; None when the record has no position
    bbox: list[float] | None  # [minlon, minlat, maxlon, maxlat] for areas


class SearchGroup(TypedDict):
    kind: str
    results: list[SearchResult]


def _any(fields: tuple[str, ...], lookup: str, q: str) -> Q:
    condition = Q()
    for name in fields:
        condition |= Q(**{f"{name}__{lookup}": q})
    return condition


def _widest_lookup(q: str) -> str:
    return "icontains" if len(q) >= SUBSTRING_MIN_CHARS else "istartswith"


def _matching(qs: QuerySet, q: str, fields: tuple[str, ...]) -> QuerySet:
    """Rows matching `q` in any of `fields`, annotated with `search_rank` (0 whole value, 1 prefix,
    2 inside) for the caller to order by."""
    rank = Case(
        When(_any(fields, "iexact", q), then=Value(0)),
        When(_any(fields, "istartswith", q), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    return qs.filter(_any(fields, _widest_lookup(q), q)).annotate(search_rank=rank)


def _by_tiers(qs: QuerySet, q: str, fields: tuple[str, ...], order: tuple[str, ...], limit: int) -> list:
    """Up to `limit` rows: whole-value matches, then prefixes, then matches anywhere, each tier in
    `order`. A tier is only asked for what the better ones left, so a common word ("pike st") costs
    a walk down the `order` index until enough are found, not a sort of every match."""
    found: list = []
    lookups = ["iexact", "istartswith"] + (["icontains"] if len(q) >= SUBSTRING_MIN_CHARS else [])
    for lookup in lookups:
        tier = qs.filter(_any(fields, lookup, q))
        if found:
            tier = tier.exclude(pk__in=[row.pk for row in found])
        found.extend(tier.order_by(*order)[: limit - len(found)])
        if len(found) >= limit:
            break
    return found


def _point(geom) -> list[float] | None:
    return [round(geom.x, 6), round(geom.y, 6)] if geom is not None else None


def _join(*parts) -> str:
    return " · ".join(str(p) for p in parts if p)


def search_incidents(*, user, q: str, limit: int) -> list[SearchResult]:
    qs = incident_list(user=user).defer("beat__geom")  # the beat's code is shown, not its outline
    rows = _by_tiers(qs, q, ("cad_number", "address"), ("-received_at", "-id"), limit)
    return [
        SearchResult(
            kind="incident",
            id=i.pk,
            label=i.cad_number,
            sublabel=_join(
                i.type_code, i.address, i.beat.code if i.beat else "", i.get_status_display(), f"P{i.priority}"
            ),
            point=_point(i.location),
            bbox=None,
        )
        for i in rows
    ]


def search_units(*, user, q: str, limit: int) -> list[SearchResult]:
    qs = _matching(unit_list(user=user), q, ("call_sign",)).order_by(
        "search_rank", Length("call_sign"), "call_sign", "id"
    )[:limit]
    return [
        SearchResult(
            kind="unit",
            id=u.pk,
            label=u.call_sign,
            sublabel=_join(u.get_kind_display(), u.get_status_display(), "" if u.last_location else "no position"),
            point=_point(u.last_location),
            bbox=None,
        )
        for u in qs
    ]


def search_cameras(*, user, q: str, limit: int) -> list[SearchResult]:
    qs = (
        _matching(camera_list(user=user), q, ("name", "external_id"))
        .defer("view")
        .order_by("search_rank", Length("name"), "name", "id")[:limit]
    )
    return [
        SearchResult(
            kind="camera",
            id=c.pk,
            label=c.name,
            sublabel=_join(c.get_owner_kind_display(), c.owner_name, c.external_id, c.get_status_display()),
            point=_point(c.location),
            bbox=None,
        )
        for c in qs
    ]


def search_zones(*, user, q: str, limit: int) -> list[SearchResult]:
    # The outline itself can be large; only its box and a point inside it leave the database.
    qs = (
        _matching(zone_list(user=user), q, ("code", "name"))
        .annotate(box=Envelope("geom"), inside=PointOnSurface("geom"))
        .defer("geom")
        .order_by("search_rank", Length("code"), "kind", "code", "id")[:limit]
    )
    results = []
    for z in qs:
        xmin, ymin, xmax, ymax = z.box.extent
        results.append(
            SearchResult(
                kind="zone",
                id=z.pk,
                label=f"{z.get_kind_display()} {z.code}",
                sublabel=z.name,
                point=_point(z.inside),
                bbox=[round(v, 6) for v in (xmin, ymin, xmax, ymax)],
            )
        )
    return results


_SEARCHES = {
    "incident": search_incidents,
    "unit": search_units,
    "camera": search_cameras,
    "zone": search_zones,
}


def search(*, user, q: str, kinds: tuple[str, ...] = KINDS, limit: int = DEFAULT_LIMIT) -> list[SearchGroup]:
    """Up to `limit` results of each kind in `kinds` (in the order given) that the user may see."""
    return [SearchGroup(kind=kind, results=_SEARCHES[kind](user=user, q=q, limit=limit)) for kind in kinds]


class PlateRead(TypedDict):
    kind: str
    id: int
    label: str
    sublabel: str
    plate: str
    state: str
    read_at: object
    site: str | None
    hit: dict | None
    point: list[float] | None
    bbox: None


class PlateReads(TypedDict):
    count: int
    truncated: bool
    results: list[PlateRead]


def plate_reads(*, user, pattern: str, limit: int = PLATE_DEFAULT_LIMIT) -> PlateReads:
    """The newest `limit` reads the user may see of a plate (apps.alpr's plate search and its rules;
    ValueError on a pattern too short). The caller requires a reason and records the search."""
    qs = plate_search(user=user, pattern=pattern)
    rows = list(qs[: limit + 1])
    truncated = len(rows) > limit
    rows = rows[:limit]
    count = qs.count() if truncated else len(rows)
    return PlateReads(
        count=count,
        truncated=truncated,
        results=[
            PlateRead(
                kind="plate",
                id=r.pk,
                label=_join(r.plate, r.state),
                sublabel=_join(r.site.name if r.site else "mobile reader", r.hit.reason if r.hit else ""),
                plate=r.plate,
                state=r.state,
                read_at=r.read_at,
                site=r.site.name if r.site else None,
                hit={"reason": r.hit.reason, "hotlist": r.hit.hotlist.name} if r.hit else None,
                point=_point(r.location),
                bbox=None,
            )
            for r in rows
        ],
    )
