"""Which beat an incident is in, kept right when the beats arrive after the incidents.

An agency often loads years of CAD history before (or without) its beat map; those incidents have no beat.
Loading a beat fills it in for the incidents inside it that have none (`incident_beats_fill`, called by
zone_upsert); editing or deleting a beat in the admin recomputes the incidents it covered or covers
(`incident_beats_recompute(zone_id=...)`); and `manage.py recompute_beats --agency CODE` recomputes every
incident of an agency after beats were redrawn. Each is one UPDATE using the incidents' spatial index, not a
loop over rows, and returns the ids of the incidents whose beat changed, which the caller publishes
(`apps.incidents.bulk.incident_publish_changes`): the beat is part of what the map shows.
"""

from __future__ import annotations

from django.db import connection

from apps.zones.choices import ZoneKind

_FILL = """
UPDATE incidents_incident AS i SET beat_id = z.id, updated_at = now()
FROM zones_zone AS z
WHERE z.id = %(zone)s AND z.kind = %(kind)s AND i.agency_id = z.agency_id AND i.beat_id IS NULL
  AND ST_Covers(z.geom, i.location)
RETURNING i.id
"""

_RECOMPUTE = """
WITH found AS (
    SELECT i.id, (
        SELECT z.id FROM zones_zone AS z
        WHERE z.agency_id = i.agency_id AND z.kind = %(kind)s AND ST_Covers(z.geom, i.location)
        ORDER BY z.id LIMIT 1
    ) AS beat_id
    FROM incidents_incident AS i
    WHERE i.agency_id = %(agency)s{only}
)
UPDATE incidents_incident AS i SET beat_id = found.beat_id, updated_at = now()
FROM found
WHERE i.id = found.id AND i.beat_id IS DISTINCT FROM found.beat_id
RETURNING i.id
"""
# Only the incidents one beat concerns: those it held, and those inside its (new) shape.
_ONLY_ZONE = """
      AND (i.beat_id = %(zone)s::bigint OR i.id = ANY(%(held)s::bigint[])
           OR EXISTS (SELECT 1 FROM zones_zone AS b WHERE b.id = %(zone)s::bigint AND ST_Covers(b.geom, i.location)))"""


def incident_beats_fill(*, zone_id: int) -> list[int]:
    """Give this beat to the incidents inside it that have no beat; returns their ids. (No-op for a zone
    that is not a beat.)"""
    with connection.cursor() as cursor:
        cursor.execute(_FILL, {"zone": zone_id, "kind": ZoneKind.BEAT})
        return [row[0] for row in cursor.fetchall()]


def incident_beats_recompute(*, agency_id: int, zone_id: int | None = None, held: list[int] | None = None) -> list[int]:
    """Set the agency's incidents to the beat that covers them now (the lowest id when beats overlap, as
    on arrival; none outside every beat); returns the ids of those that changed. Every incident of the
    agency, or with `zone_id` only those that zone held or covers now, and the incidents `held` (a deleted
    beat's, whose beat the database has just cleared)."""
    sql = _RECOMPUTE.format(only=_ONLY_ZONE if zone_id is not None or held else "")
    params = {"agency": agency_id, "kind": ZoneKind.BEAT, "zone": zone_id, "held": held or []}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
