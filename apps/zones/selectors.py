"""Reads of zones, including the point-in-zone lookup used when records arrive."""

from __future__ import annotations

from django.contrib.gis.geos import MultiPolygon, Point
from django.db.models import QuerySet

from apps.accounts.permissions import Layer
from apps.accounts.selectors import scope_to_user

from .models import Zone


def zone_list(*, user) -> QuerySet[Zone]:
    return scope_to_user(Zone.objects.all(), user, layer=Layer.ZONES)


def zone_containing(*, agency_id: int, point: Point, kind: str) -> Zone | None:
    # Ingest names the agency a record belongs to: its own beats, never a partner's.
    return Zone.objects.filter(agency_id=agency_id, kind=kind, geom__covers=point).order_by("id").first()


def zones_area_for_geocodes(*, agency_id: int, geocodes: list[str]) -> tuple[MultiPolygon | None, list[str]]:
    """The union of the agency's zones carrying any of `geocodes` ("SCHEME:value", see Zone.geocodes;
    SAME and FIPS6 county codes stand for each other) and the codes that matched; (None, []) when no
    zone carries one."""
    if not geocodes:
        return None, []
    # The same county is "SAME:053033" in CAP 1.2 / IPAWS and "FIPS6:053033" in NWS CAP 1.1.
    alias = {code: _county_alias(code) for code in geocodes}
    wanted = {*geocodes, *filter(None, alias.values())}
    zones = list(Zone.objects.filter(agency_id=agency_id, geocodes__overlap=sorted(wanted)).only("geom", "geocodes"))
    if not zones:
        return None, []
    # Zones are valid (MultiPolygon, repaired on write), so their union is a Polygon or MultiPolygon.
    union = MultiPolygon(*[polygon for zone in zones for polygon in zone.geom], srid=zones[0].geom.srid).unary_union
    if not isinstance(union, MultiPolygon):
        union = MultiPolygon(union, srid=union.srid)
    carried = {code for zone in zones for code in zone.geocodes}
    matched = sorted(code for code in geocodes if code in carried or alias[code] in carried)
    return union, matched


def _county_alias(code: str) -> str | None:
    scheme, _, value = code.partition(":")
    other = {"SAME": "FIPS6", "FIPS6": "SAME"}.get(scheme)
    return f"{other}:{value}" if other and len(value) == 6 and value.isdigit() else None
