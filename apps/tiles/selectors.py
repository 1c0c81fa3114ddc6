"""Reads for the basemap."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Street

# The zoom from which each OSM highway class is drawn (unlisted classes: footways, paths, steps ...
# from STREET_DETAIL_ZOOM). A city view shows the arterials only; every alley at z10 is noise and bytes.
STREET_MIN_ZOOM = {
    "motorway": 0,
    "trunk": 0,
    "primary": 0,
    "motorway_link": 11,
    "trunk_link": 11,
    "primary_link": 11,
    "secondary": 11,
    "tertiary": 12,
    "secondary_link": 12,
    "tertiary_link": 12,
    "residential": 13,
    "unclassified": 13,
    "living_street": 13,
    "road": 13,
    "service": 15,
    "pedestrian": 15,
}
STREET_DETAIL_ZOOM = 16


def street_list(*, zoom: int = STREET_DETAIL_ZOOM) -> QuerySet[Street]:
    """The streets drawn at `zoom`: public reference data, the same for every agency."""
    qs = Street.objects.all()
    if zoom >= STREET_DETAIL_ZOOM:
        return qs
    return qs.filter(kind__in=[kind for kind, shown_from in STREET_MIN_ZOOM.items() if shown_from <= zoom])


def basemap_attribution() -> str:
    """The credit the streets' licence asks for (OpenStreetMap data is ODbL), when there are any."""
    return "Streets © OpenStreetMap contributors" if Street.objects.exists() else ""
