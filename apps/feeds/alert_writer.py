"""Storing an AlertRecord (CAP and the other alert feeds): raise, update in place, or close.

* ``Alert``: raised once per (source, source_id).
* ``Update``: replaces the content of the alert its ``references`` name (apps.sensors.services.
  alert_update); when none of them is known here it is raised as a new alert.
* ``Cancel``: closes the alerts it references (alert_close); a Cancel naming nothing known is refused
  with the reason (counted as a rejection: the source cancelled something we never had).
* The same id again after its alert was closed, sent after the close (a CoT emergency from a device
  whose earlier emergency was cancelled: ATAK keys both `<device>-9-1-1`): a new alert, so an operator
  sees it. Its own id gets the time (`<id>@<raised_at>`) and it keeps the plain id among its
  superseded ids, so the device's next cancel closes it. Anything sent before that close is a repeat.
* ``AlertCloseRecord`` (a CoT cancel): closes the newest live alert of that id; a cancel repeated, or
  one sent before the alert now open was raised (a late repeat of the earlier cancel), is a duplicate.

Where: the record's polygons become the alert's ``area`` (one valid MultiPolygon, overlapping areas
merged), its point the ``location``. When it gives only geocodes, the agency's zones carrying them
(Zone.geocodes) are the area and a point on it the location; when no zone carries them, the alert is
stored with no location, its area description kept, and the detail says which codes were not found.
"""

from __future__ import annotations

from datetime import UTC

from django.contrib.gis.geos import MultiPolygon, Polygon

from apps.core.geo import SRID, GeoInputError, make_point, repair_area
from apps.sensors.choices import AlertStatus
from apps.sensors.services import alert_close, alert_find_referenced, alert_raise, alert_update
from apps.zones.selectors import zones_area_for_geocodes

from .adapters.base import AlertCloseRecord, AlertRecord


def write_alert(*, agency_id: int, source: str, record: AlertRecord) -> bool:
    """Store one alert record; True when it changed something (False: a repeat)."""
    if record.msg_type == "Cancel":
        return _cancel(agency_id, source, record)
    source_id, superseded = record.source_id, ()
    known = alert_find_referenced(agency_id=agency_id, source=source, source_ids=[record.source_id])
    if known is not None:
        if not _raised_again(known, record):
            return False  # this very message was stored already
        source_id = f"{record.source_id[:100]}@{record.raised_at.astimezone(UTC):%Y%m%dT%H%M%S.%fZ}"
        superseded = (record.source_id,)
    location, area, detail = _place(agency_id, record)
    if record.msg_type == "Update":
        target = alert_find_referenced(agency_id=agency_id, source=source, source_ids=list(record.references))
        if target is not None:
            alert_update(
                alert_id=target.pk,
                source_id=record.source_id,
                kind=record.kind,
                title=record.title,
                detail=detail,
                location=location,
                area=area,
                area_desc=record.area_desc,
                expires_at=record.expires_at,
            )
            return True
    _, created = alert_raise(
        agency_id=agency_id,
        kind=record.kind,
        title=record.title,
        detail=detail,
        location=location,
        area=area,
        area_desc=record.area_desc,
        raised_at=record.raised_at,
        expires_at=record.expires_at,
        source=source,
        source_id=source_id,
        superseded_ids=superseded,
    )
    return created


def _raised_again(known, record: AlertRecord) -> bool:
    """Whether `record`, carrying the id of the alert `known`, is a new alert: the known one is closed
    and the record was sent after it closed (a repeat of the old one was sent before)."""
    return (
        record.msg_type == "Alert"
        and known.status == AlertStatus.CLOSED
        and known.closed_at is not None
        and record.raised_at > known.closed_at
    )


def close_alert(*, agency_id: int, source: str, record: AlertCloseRecord) -> bool:
    """Apply a sender's close (a CoT cancel); True when it closed an alert (False: a repeat)."""
    known = alert_find_referenced(agency_id=agency_id, source=source, source_ids=[record.source_id])
    if known is None:
        raise ValueError(f"no alert from {record.source_id!r} to close")
    if known.status == AlertStatus.CLOSED:
        return False  # closed before: a repeated cancel is a duplicate
    if known.raised_at > record.closed_at and known.superseded_ids:
        return False  # sent before this alert was raised: a late repeat of the cancel of an earlier one
    alert_close(
        agency_id=agency_id,
        source=source,
        source_id=record.source_id,
        reason=record.reason,
        closed_at=record.closed_at,
    )
    return True


def _cancel(agency_id: int, source: str, record: AlertRecord) -> bool:
    closed = [
        alert_close(
            agency_id=agency_id,
            source=source,
            source_id=ref,
            reason=f"cancelled by {record.source_id}",
            closed_at=record.raised_at,
        )
        for ref in record.references
    ]
    if any(closed):
        return True
    if alert_find_referenced(agency_id=agency_id, source=source, source_ids=list(record.references)) is not None:
        return False  # already closed: a repeated Cancel
    withdrawn = record.detail or f"Cancels {', '.join(record.references)}"
    raise ValueError(f"{withdrawn}: no alert from this source has that id")


def _place(agency_id: int, record: AlertRecord):
    """(location, area, detail) for the record: its own geometry, else its geocodes' zones, else none."""
    location = make_point(record.lon, record.lat) if record.lon is not None and record.lat is not None else None
    detail = record.detail
    area = None
    if record.area:
        try:
            polygons = [Polygon(ring, srid=SRID) for ring in record.area]
            area = repair_area(MultiPolygon(*polygons, srid=SRID).unary_union)
        except (GeoInputError, ValueError) as exc:  # GEOS refuses a ring it cannot build
            raise ValueError(f"area: {exc}") from None
    elif record.geocodes:
        area, matched = zones_area_for_geocodes(agency_id=agency_id, geocodes=list(record.geocodes))
        if area is not None:
            location = location or area.point_on_surface
            missing = [c for c in record.geocodes if c not in matched]
            if missing:
                detail = f"{detail}\n\nNo zone carries geocodes {', '.join(missing[:20])}".strip()
        else:
            detail = (
                f"{detail}\n\nNot placed: no zone of this agency carries its geocodes "
                f"{', '.join(record.geocodes[:20])}".strip()
            )
    return location, area, detail
