"""Ingest: a payload from a source goes through its adapter; good records are written by the domain
services, bad ones land in the dead-letter table with their reason, and the source's health
counters move. One bad record never costs the good records of the same batch.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from django.db import DataError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.alpr.models import AlprSite
from apps.alpr.services import alpr_read_record
from apps.cameras.models import Camera
from apps.cameras.services import camera_publish, camera_upsert
from apps.core.geo import make_point
from apps.incidents.services import (
    incident_apply,
    incident_assign_units,
    incident_sync_narrative,
    incident_sync_unit_status,
)
from apps.sensors.services import gunshot_record
from apps.units.services import AMBIGUOUS, Fix, unit_fixes_record

from .adapters.base import (
    AlertCloseRecord,
    AlertRecord,
    AlprReadRecord,
    CameraRecord,
    GunshotRecord,
    IncidentRecord,
    MisconfiguredError,
    ParseResult,
    PayloadError,
    PositionRecord,
    Rejected,
    get_adapter,
)
from .adapters.common import excerpt
from .alert_writer import close_alert, write_alert
from .area import flag_stored, screen_service_area
from .models import DeadLetter, FeedSource, hash_token

log = logging.getLogger(__name__)
MAX_REPORTED_REJECTIONS = 50
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE for a unique constraint


class FeedUnavailable(Exception):
    """The source does not exist or is disabled."""


@dataclass
class IngestReport:
    source_id: int
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    units_created: int = 0  # units this payload introduced (auto-create)
    units_updated: int = 0  # existing units it moved
    ambiguous: int = 0  # records refused (and in `rejected`) because their unit id named several units
    ignored: dict[str, int] = field(default_factory=dict)  # what was deliberately not ingested, by type
    flagged: list[Rejected] = field(default_factory=list)  # stored, but outside the service area
    # Incident records by what they did: a CAD feed resending an open call unchanged is "unchanged".
    incidents: dict[str, int] = field(default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0})

    def as_dict(self) -> dict:
        return {
            "source": self.source_id,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": len(self.rejected),
            "units": {"created": self.units_created, "updated": self.units_updated, "ambiguous": self.ambiguous},
            "ignored": sum(self.ignored.values()),
            "ignored_types": dict(self.ignored),
            "rejections": [_reply(r) for r in self.rejected[:MAX_REPORTED_REJECTIONS]],
            "flagged": [_reply(r) for r in self.flagged[:MAX_REPORTED_REJECTIONS]],
            "incidents": dict(self.incidents),
        }


def _reply(rejected: Rejected) -> dict:
    return {k: printable(v) if isinstance(v, str) else v for k, v in rejected.as_dict().items()}


def feed_source_for_token(token: str) -> FeedSource | None:
    if not token:
        return None
    return FeedSource.objects.filter(token_hash=hash_token(token), enabled=True).select_related("agency").first()


_UNDECODED = re.compile("[\udc80-\udcff]")


def printable(value: str) -> str:
    """Text quoting what a source sent, safe to store and to send back as JSON: a byte the readers could
    not decode (kept by surrogateescape as a lone surrogate, which UTF-8 cannot encode) is written \\x80."""
    value = _UNDECODED.sub(lambda m: f"\\x{ord(m.group()) - 0xDC00:02x}", value)
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _storable(value: str) -> str:
    # Whatever a source sent, the reason and excerpt must fit a PostgreSQL text column (UTF-8, no NUL).
    return printable(value).replace("\x00", "\\x00")[:2000]


def _record_failure(
    source: FeedSource, rejected: list[Rejected], *, whole_payload_error: str = "", misconfigured: bool = False
) -> None:
    DeadLetter.objects.bulk_create(
        [
            DeadLetter(
                source=source,
                index=r.index,
                line=r.line,
                field=_storable(r.field)[:100],
                reason=_storable(r.reason),
                raw=_storable(r.raw),
            )
            for r in rejected
        ]
    )
    updates = {"rejected_count": F("rejected_count") + len(rejected), "updated_at": timezone.now()}
    if whole_payload_error:
        updates |= {"last_error_at": timezone.now(), "last_error": _storable(whole_payload_error)}
    if misconfigured:
        updates["misconfigured_reason"] = _storable(whole_payload_error)
    FeedSource.objects.filter(pk=source.pk).update(**updates)
    for r in rejected:
        where = f"{r.index} ({r.field})" if r.field else r.index
        log.warning("feed %s (%s) rejected record %s: %s", source.pk, source.kind, where, printable(r.reason))


def feed_record_rejections(*, source: FeedSource, rejected: list[Rejected]) -> None:
    """Record rejections found outside an adapter (a CAP index link the poller refused) like any other."""
    _record_failure(source, rejected)


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
        exc.args = (printable(str(exc)),)  # the reply and the dead letter quote it
        _record_failure(
            source,
            [Rejected(index=-1, reason=str(exc), raw=excerpt(payload[:2000].decode("utf-8", "replace")))],
            whole_payload_error=str(exc),
            misconfigured=isinstance(exc, MisconfiguredError),
        )
        raise
    report.rejected.extend(parsed.rejected)
    report.ignored.update(parsed.ignored)
    # One transaction for the whole payload: a push cut off half way (the database restarting, the
    # process killed) stores nothing, and the sender's retry stores it all (records are idempotent:
    # incidents by CAD number, fixes by unit and time). Bad records still only lose themselves:
    # each is written in its own savepoint.
    with transaction.atomic():
        _store(source, parsed, report)
    return report


def _store(source: FeedSource, parsed: ParseResult, report: IngestReport) -> None:
    """Write a parsed payload's records and the source's counters (inside feed_ingest's transaction)."""
    outside = screen_service_area(source=source, records=parsed.records, report=report)
    positions = [(i, r) for i, r in enumerate(parsed.records) if isinstance(r, PositionRecord) and i not in outside]
    if positions:
        _write_positions(source, positions, report)
    for index, record in enumerate(parsed.records):
        if isinstance(record, PositionRecord) or index in outside:
            continue
        try:
            with transaction.atomic():
                created = _write(source, record, report)
        except IntegrityError as exc:
            if getattr(exc.__cause__, "sqlstate", "") == UNIQUE_VIOLATION:
                # Another push of the same record (a sender's retry racing its first try) committed it
                # after our look-up: it is stored, once. The savepoint keeps the rest of the batch.
                report.duplicates += 1
                continue
            reason = f"refused by the database: {str(exc).strip().splitlines()[0]}"
            report.rejected.append(Rejected(index=index, reason=reason, raw=excerpt(repr(record))))
            continue
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

    report.ambiguous = sum(1 for r in report.rejected if r.reason.startswith(AMBIGUOUS))
    # Flagged means stored outside the area: a flagged record refused for another reason is only rejected.
    refused = {r.index for r in report.rejected}
    report.flagged = [r for r in report.flagged if r.index not in refused]
    flag_stored(source=source, records=parsed.records, report=report)
    if report.rejected:
        _record_failure(source, report.rejected)
    counters = {
        "accepted_count": F("accepted_count") + report.accepted,
        "units_created_count": F("units_created_count") + report.units_created,
        "units_updated_count": F("units_updated_count") + report.units_updated,
        "ambiguous_count": F("ambiguous_count") + report.ambiguous,
        "ignored_count": F("ignored_count") + sum(report.ignored.values()),
        "misconfigured_reason": "",
        "updated_at": timezone.now(),
    }
    if report.rejected and not (report.accepted or report.duplicates):
        # Every record refused: the source is failing, not healthy (an empty payload is neither).
        reason = f"all {len(report.rejected)} records rejected; first: {report.rejected[0].reason}"
        counters |= {"last_error_at": timezone.now(), "last_error": _storable(reason)}
    else:
        counters["last_success_at"] = timezone.now()
    FeedSource.objects.filter(pk=source.pk).update(**counters)


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
        agency_id=source.agency_id,
        fixes=fixes,
        source=source.name,
        namespace=feed_namespace(source),
        mode=source.unit_ids,
        auto_create=source.auto_create_units,
    )
    for fix_index in result.unknown:
        index, record = positions[fix_index]
        reason = result.refused.get(record.unit_ref, f"unknown unit {record.unit_ref!r}")
        report.rejected.append(Rejected(index=index, reason=reason, raw=excerpt(repr(record))))
    report.accepted += result.inserted
    report.duplicates += result.duplicates
    report.units_created += len(result.created)
    report.units_updated += result.updated


def feed_namespace(source: FeedSource) -> str:
    """The namespace of a source's unit ids (apps.units UnitIdentity): its ids are its own."""
    return f"feed:{source.pk}"


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
            location=None if record.lon is None or record.lat is None else make_point(record.lon, record.lat),
            received_at=record.received_at,
            dispatched_at=record.dispatched_at,
            on_scene_at=record.on_scene_at,
            closed_at=record.closed_at,
            source=source.name[:64],
            call_source=record.call_source,
            disposition=record.disposition,
            location_approximate=record.location_approximate,
            beat_code=record.beat_code,
            attributes=dict(record.attributes or {}),
            unit_call_signs=list(record.unit_refs),  # as the CAD names them, known units or not
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
        return write_alert(agency_id=agency_id, source=source.name, record=record)
    if isinstance(record, AlertCloseRecord):
        return close_alert(agency_id=agency_id, source=source.name, record=record)
    if isinstance(record, CameraRecord):
        return _write_camera(source, record)
    raise TypeError(f"no writer for {type(record).__name__}")


def _write_camera(source: FeedSource, record: CameraRecord) -> bool:
    """Place or update a camera a feed reports; True when it is new or changed (False: a resend that
    changes nothing, a duplicate). Owner and sharing come from the source's params (`camera_owner_kind`,
    `camera_owner_name`, `camera_sharing`). What the record does not carry is kept from the camera as it
    is (a sensor point without `__video` keeps the stream a feed list gave; status, PTZ, contact and an
    admin's deactivation stay); a feed-list entry (no location) only updates a camera already placed."""
    params = source.params or {}
    existing = Camera.objects.filter(agency_id=source.agency_id, external_id=record.external_id).first()
    placed = record.lon is not None and record.lat is not None
    if not placed and existing is None:
        raise ValueError(
            f"feed {record.external_id!r} has no location and no camera with that id was placed by a sensor point"
        )

    def given(value, name: str, default):
        if value is not None:
            return value
        return getattr(existing, name) if existing is not None else default

    values = {
        "agency_id": source.agency_id,
        "name": record.name,
        "external_id": record.external_id,
        "location": make_point(record.lon, record.lat) if placed else existing.location,
        "heading": given(record.heading, "heading", None),
        "fov_angle": given(record.fov_angle, "fov_angle", 90),
        "fov_range": given(record.fov_range, "fov_range", 60),
        "owner_kind": params.get("camera_owner_kind", "agency"),
        "owner_name": str(params.get("camera_owner_name", source.name))[:200],
        "sharing": params.get("camera_sharing", "live"),
    }
    stream_url = record.stream_url
    if existing is not None:
        values |= {
            "owner_contact": existing.owner_contact,
            "ptz": existing.ptz,
            "status": existing.status,
            "active": existing.active,
            "stream_kind": existing.stream_kind,
        }
        stream_url = stream_url or existing.stream_url
    before = _camera_state(existing)
    try:
        camera, created = camera_upsert(**values, stream_url=stream_url)
    except ValueError as exc:
        if not stream_url or not str(exc).startswith("stream_url"):
            raise
        # The camera and its view cone are still worth having; the stream waits for a URL we may open.
        log.warning("feed %s: camera %r kept without its stream: %s", source.pk, record.external_id, exc)
        camera, created = camera_upsert(**values)
    if not created and _camera_state(camera) == before:
        return False
    camera_publish(camera=camera)  # on the operators' maps now, not at their next reload (off them if retired)
    return True


def _camera_state(camera: Camera | None) -> tuple | None:
    if camera is None:
        return None
    fields = ("name", "heading", "fov_angle", "fov_range", "owner_kind", "owner_name", "sharing", "stream_url")
    return (camera.location.coords if camera.location else None, *(getattr(camera, f) for f in fields))
