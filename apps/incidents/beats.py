"""Which beat an incident is in, kept right when the beats arrive after the incidents.

An agency often loads years of CAD history before (or without) its beat map; those incidents have no beat.
Loading a beat fills it in for the incidents inside it that have none (`incident_beats_fill`, called by
zone_upsert), and `manage.py recompute_beats --agency CODE` recomputes every incident of an agency after
beats were redrawn. Both are one UPDATE using the incidents' spatial index, not a loop over rows.
"""

from __future__ import annotations

from django.db import connection

from apps.zones.choices import ZoneKind

_FILL = """
UPDATE incidents_incident AS i SET beat_id = z.id, updated_at = now()
FROM zones_zone AS z
WHERE z.id = %(zone)s AND z.kind = %(kind)s AND i.agency_id = z.agency_id AND i.beat_id IS NULL
  AND ST_Covers(z.geom, i.location)
"""

_RECOMPUTE = """
WITH found AS (
    SELECT i.id, (
        SELECT z.id FROM zones_zone AS z
        WHERE z.agency_id = i.agency_id AND z.kind = %(kind)s AND ST_Covers(z.geom, i.location)
        ORDER BY z.id LIMIT 1
    ) AS beat_id
    FROM incidents_incident AS i
    WHERE i.agency_id = %(agency)s
)
UPDATE incidents_incident AS i SET beat_id = found.beat_id, updated_at = now()
FROM found
WHERE i.id = found.id AND i.beat_id IS DISTINCT FROM found.beat_id
"""


def incident_beats_fill(*, zone_id: int) -> int:
    """Give this beat to the incidents inside it that have no beat; returns how many. (No-op for a zone
    that is not a beat.)"""
    with connection.cursor() as cursor:
        cursor.execute(_FILL, {"zone": zone_id, "kind": ZoneKind.BEAT})
        return cursor.rowcount


def incident_beats_recompute(*, agency_id: int) -> int:
    """Set every incident of the agency to the beat that covers it now (the lowest id when beats
    overlap, as on arrival; none outside every beat); returns how many changed."""
    with connection.cursor() as cursor:
        cursor.execute(_RECOMPUTE, {"agency": agency_id, "kind": ZoneKind.BEAT})
        return cursor.rowcount
