"""Feed ingest's side of the service area (apps.zones.area): records placed outside the source agency's
area, or at (0,0) (alerts: only at (0,0)), are rejected (a dead letter with the reason) or, when the source's params say
`"service_area": "flag"`, stored and listed as flagged in the ingest report and the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from apps.incidents.services import incident_set_attribute
from apps.sensors.services import gunshot_set_attribute
from apps.zones.area import FLAG, ServiceAreas, check_policy, null_island_reason

from .adapters.base import AlertRecord, GunshotRecord, IncidentRecord, Rejected
from .adapters.common import excerpt

log = logging.getLogger(__name__)
PARAM = "service_area"


def source_policy(params: dict[str, Any]) -> str:
    """The source's policy: its params' "service_area", reject (the default) or flag. Only the source's
    stored params count, never a push's query string (a sender cannot wave its own records through); any
    other value is logged and read as the safe one, reject."""
    try:
        return check_policy(params.get(PARAM), what=f"params {PARAM!r}")
    except ValueError as exc:
        log.warning("%s; rejecting records outside the service area", exc)
        return "reject"


def screen_service_area(*, source: Any, records: Sequence[Any], report: Any) -> set[int]:
    """Indexes of `records` refused for where they are (their rejections are added to `report`); flagged
    ones are added to `report.flagged` and stay in. One area load per payload, not a query per record."""
    policy = source_policy(source.params or {})
    areas = ServiceAreas()
    refused: set[int] = set()
    for index, record in enumerate(records):
        lon, lat = getattr(record, "lon", None), getattr(record, "lat", None)
        if lon is None or lat is None:
            continue
        if isinstance(record, AlertRecord):
            # An alert's point may stand for an area (a CAP warning's centroid) or an event next door that
            # still concerns the agency: only a (0,0) position is refused.
            reason = null_island_reason(lon, lat)
        else:
            reason = areas.get(source.agency_id).reason(lon, lat)
        if reason is None:
            continue
        # The field the reason is about, as the file importer names it.
        found = Rejected(index=index, reason=reason, raw=excerpt(repr(record)), field="location")
        if policy == FLAG:
            report.flagged.append(found)
            log.warning("feed %s (%s) flagged record %s: %s", source.pk, source.kind, index, reason)
        else:
            refused.add(index)
            report.rejected.append(found)
    return refused


def flag_stored(*, source: Any, records: Sequence[Any], report: Any) -> None:
    """After the payload is stored: put each flag on its record's attributes too, where the record has them
    (gunshot detections, incidents), so the map shows it and not only this ingest's report."""
    for flagged in report.flagged:
        record = records[flagged.index]
        if isinstance(record, GunshotRecord):
            gunshot_set_attribute(
                agency_id=source.agency_id,
                source=source.name,
                source_id=record.source_id,
                key=PARAM,
                value=flagged.reason,
            )
        elif isinstance(record, IncidentRecord):
            incident_set_attribute(
                agency_id=source.agency_id, cad_number=record.cad_number, key=PARAM, value=flagged.reason
            )
