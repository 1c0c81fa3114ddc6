"""Ingest: a payload from a source goes through its adapter; good records are written by the domain
services, bad ones land in the dead-letter table with their reason, and the source's health
counters move. One bad record never costs the good records of the same batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import DataError, transaction
from django.db.models import F
from django.utils import timezone

from apps.alpr.models import AlprSite
from apps.alpr.services import alpr_read_record
from apps.core.geo import make_point
from apps.incidents.services import (
    incident_apply,
    incident_assign_units,
    incident_sync_narrative,
    incident_sync_unit_status,
)
from apps.sensors.services import alert_raise, gunshot_record
from apps.units.services import Fix, unit_fixes_record

from .adapters.base import (
    AlertRecord,
    AlprReadRecord,
    GunshotRecord,
    IncidentRecord,
    ParseResult,
    PayloadError,
    PositionRecord,
    Rejected,
    get_adapter,
)
from .adapters.common import excerpt
from .models import DeadLetter, FeedSource, hash_token

log = logging.getLogger(__name__)
MAX_REPORTED_REJECTIONS = 50


class FeedUnavailable(Exception):
    """The source does not exist or is disabled."""


@dataclass
class IngestReport:
    source_id: int
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    # Incident records by what they did: a CAD feed resending an open call unchanged is "unchanged".
    incidents: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})

    def as_dict(self) -> dict:
        return {
            "source": self.source_id,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
            "incidents": dict(self.incidents),
            "rejections": [{"index": r.index, "reason": r.reason} for r in self.rejected[:MAX_REPORTED_REJECTIONS]],
        }


def feed_source_for_token(token: str) -> FeedSource | None:
    if not token:
        return None
    return FeedSource.objects.filter(token_hash=hash_token(token), enabled=True).select_related("agency").first()


def _storable(value: str) -> str:
    # Whatever a source sent, the reason and excerpt must fit a PostgreSQL text column (no NUL).
    return value.replace("\x00", "\\x00")[:2000]


def _record_failure(source: FeedSource, rejected: list[Rejected], *, whole_payload_error: str = "") -> None:
    DeadLetter.objects.bulk_create(
        [DeadLetter(source=source, index=r.index, reason=_storable(r.reason), raw=_storable(r.raw)) for r in rejected]
    )
    updates = {"rejected_count": F("rejected_count") + len(rejected), "updated_at": timezone.now()}
    if whole_payload_error:
        updates |= {"last_error_at": timezone.now(), "last_error": _storable(whole_payload_error)}
    FeedSource.objects.filter(pk=source.pk).update(**updates)
    for r in rejected:
        log.warning("feed %s (%s) rejected record %s: %s", source.pk, source.kind, r.index, r.reason)


def feed_ingest(*, source_id: int, payload: bytes, content_type: str = "", params: dict | None = None) -> IngestReport:
    """Parse and store one payload from a source. Raises PayloadError when nothing in it is usable
    (after recording it as a dead letter), FeedUnavailable for an unknown or disabled source."""
    source = FeedSource.objects.filter(pk=source_id).select_related("agency").first()
    if source is None or not source.enabled:
        raise FeedUnavailable(f"feed source {source_id} does not exist or is disabled")
    report = IngestReport(source_id=source.pk)
    adapter = get_adapter(source.kind)
    try:
        parsed = adapter.parse(payload, content_type=content_type, params={**source.params, **(params or {})})
    except PayloadError as exc:
        _record_failure(
            source,
            [Rejected(index=-1, reason=str(exc), raw=excerpt(payload[:2000].decode("utf-8", "replace")))],
            whole_payload_error=str(exc),
        )
        raise
    report.rejected.extend(parsed.rejected)
    # One transaction for the whole payload: a push cut off half way (the database restarting, the
    # process killed) stores nothing, and the sender's retry stores it all (records are idempotent:
    # incidents by CAD number, fixes by unit and time). Bad records still only lose themselves:
    # each is written in its own savepoint.
    with transaction.atomic():
        _store(source, parsed, report)
    return report


def _store(source: FeedSource, parsed: ParseResult, report: IngestReport) -> None:
    """Write a parsed payload's records and the source's counters (inside feed_ingest's transaction)."""
    positions = [(i, r) for i, r in enumerate(parsed.records) if isinstance(r, PositionRecord)]
    if positions:
        _write_positions(source, positions, report)
    for index, record in enumerate(parsed.records):
        if isinstance(record, PositionRecord):
            continue
        try:
            with transaction.atomic():
                created = _write(source, record, report)
        except (ValueError, TypeError, DataError) as exc:
            # DataError: the database refused a value the adapter let through; the savepoint keeps
            # the rest of the batch.
            reason = str(exc).strip().splitlines()[0] if isinstance(exc, DataError) else str(exc)
            report.rejected.append(Rejected(index=index, reason=reason, raw=excerpt(repr(record))))
            continue
        if created:
            report.accepted += 1
        else:
            report.duplicates += 1

    if report.rejected:
        _record_failure(source, report.rejected)
    FeedSource.objects.filter(pk=source.pk).update(
        accepted_count=F("accepted_count") + report.accepted,
        last_success_at=timezone.now(),
        updated_at=timezone.now(),
    )


def _write_positions(source: FeedSource, positions: list[tuple[int, PositionRecord]], report: IngestReport) -> None:
    fixes = [
        Fix(
            unit_ref=r.unit_ref,
            lon=r.lon,
            lat=r.lat,
            recorded_at=r.recorded_at,
            heading=r.heading,
            speed=r.speed,
            call_sign=r.call_sign,
            kind=r.unit_kind,
        )
        for _, r in positions
    ]
    result = unit_fixes_record(
        agency_id=source.agency_id, fixes=fixes, source=source.name, auto_create=source.auto_create_units
    )
    for fix_index in result.unknown:
        index, record = positions[fix_index]
        report.rejected.append(
            Rejected(index=index, reason=f"unknown unit {record.unit_ref!r}", raw=excerpt(repr(record)))
        )
    report.accepted += result.inserted
    report.duplicates += result.duplicates


def _write(source: FeedSource, record, report: IngestReport) -> bool:
    """Write one non-position record; returns whether it was new (False: a duplicate)."""
    agency_id = source.agency_id
    if isinstance(record, IncidentRecord):
        incident, created, changed = incident_apply(
            agency_id=agency_id,
            cad_number=record.cad_number,
            type_code=record.type_code,
            type_description=record.type_description,
            priority=record.priority,
            status=record.status,
            address=record.address,
            location=make_point(record.lon, record.lat),
            received_at=record.received_at,
            dispatched_at=record.dispatched_at,
            on_scene_at=record.on_scene_at,
            closed_at=record.closed_at,
            source=source.name[:64],
        )
        added = incident_sync_narrative(
            incident=incident, lines=[(n.entered_at, n.text, n.author) for n in record.narrative]
        )
        if record.unit_refs:
            incident_assign_units(incident=incident, call_signs=list(record.unit_refs))
        incident_sync_unit_status(incident=incident)
        outcome = "created" if created else "updated" if changed or added > 0 else "unchanged"
        report.incidents[outcome] += 1
        return created or changed or added > 0
    if isinstance(record, AlprReadRecord):
        site = None
        if record.site_ref:
            site = AlprSite.objects.filter(agency_id=agency_id, external_id=record.site_ref).first()
            if site is None:
                raise ValueError(f"unknown ALPR site {record.site_ref!r}")
        _, created = alpr_read_record(
            agency_id=agency_id,
            plate=record.plate,
            state=record.state,
            read_at=record.read_at,
            location=make_point(record.lon, record.lat),
            site=site,
            image_url=record.image_url,
        )
        return created
    if isinstance(record, GunshotRecord):
        _, created = gunshot_record(
            agency_id=agency_id,
            source=source.name,
            source_id=record.source_id,
            location=make_point(record.lon, record.lat),
            detected_at=record.detected_at,
            rounds=record.rounds,
            confidence=record.confidence,
        )
        return created
    if isinstance(record, AlertRecord):
        location = make_point(record.lon, record.lat) if record.lon is not None and record.lat is not None else None
        _, created = alert_raise(
            agency_id=agency_id,
            kind=record.kind,
            title=record.title,
            detail=record.detail,
            location=location,
            raised_at=record.raised_at,
            source=source.name,
            source_id=record.source_id,
        )
        return created
    raise TypeError(f"no writer for {type(record).__name__}")
