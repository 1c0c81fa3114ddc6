"""Loading an agency's own data files into its layers (incidents, cameras, zones, gunshots, ALPR sites, units,
hotlists).

The `import_layer` management command is a thin shell around `import_layer()` here. The pieces:

- readers turn a CSV (any delimiter, optionally gzipped), GeoJSON FeatureCollection, plain JSON or XML/KML
  file into `Record`s (column -> value, plus the geometry of a feature or placemark); the feed adapters use
  the same readers on payloads, and the same mapping (fixtures/mappings/README.md);
- a mapping (`MappingSpec`, from a JSON file and/or command-line options) says which column feeds which
  field, fixed values, value translations and how to read dates; `compile_mapping()` checks it against
  the layer and the file's columns once, so a typo fails the whole import before any row is written;
- `convert_record()` turns one record into keyword arguments for the layer's domain service, raising
  `RowError` with a reason an operator can act on;
- `import_layer()` writes each good row through the layer's service in its own savepoint (incidents: in
  chunks through the bulk writer, apps.incidents.bulk), checks points against the agency's service area,
  counts, and leaves one audit event.

The mapping format (fields, constants, values, derived keys, date formats, tz) is documented once, for files
and feeds alike, in fixtures/mappings/README.md.

User text never reaches GDAL/OGR: coordinates are parsed as numbers, range-checked by apps.core.geo and
assembled into GEOS geometries (apps.intake.mapping, apps.intake.geometry).
"""

from __future__ import annotations

import csv
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from django.contrib.gis.geos import GEOSException
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.accounts.models import Agency
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.incidents.bulk import incident_publish_changes
from apps.incidents.models import Incident
from apps.intake.errors import MappingError, RowError
from apps.intake.mapping import Mapping, MappingSpec, compile_mapping, convert_record
from apps.intake.readers import Record, open_source, raw_text, without_userinfo
from apps.intake.report import Rejection
from apps.intake.specs import LAYERS, LayerSpec
from apps.live.publish import publish_reload
from apps.zones.area import FLAG, ServiceAreas, check_policy

# ---------------------------------------------------------------------------------------------------------------------
# Importing

# Rows per bulk statement: big enough that round trips stop mattering, small enough that a chunk the
# database refuses is cheap to retry row by row.
CHUNK_ROWS = 1000


@dataclass
class ImportResult:
    """What one import did."""

    layer: str
    file: str
    format: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
    # Rows that matched what was already stored (nothing written). None for layers whose writer cannot tell
    # (all but incidents and gunshots): their "updated" counts rows written again whether or not anything changed.
    unchanged: int | None = 0
    rejected: list[Rejection] = field(default_factory=list)
    # Imported, but outside the agency's service area (--outside-area flag): the reason is on the record too.
    flagged: list[Rejection] = field(default_factory=list)
    retired: int | None = None  # --replace: entries the full list no longer has; None: nothing retired
    seconds: float = 0.0
    dry_run: bool = False
    stopped_early: bool = False
    warnings: tuple[str, ...] = ()

    @property
    def accepted(self) -> int:
        return self.created + self.updated + (self.unchanged or 0)

    def summary(self) -> str:
        if self.unchanged is None:
            same = f"{self.updated} updated or unchanged"
        else:
            same = f"{self.updated} updated, {self.unchanged} unchanged"
        text = (
            f"{self.layer}: {self.created} created, {same}, {len(self.rejected)} rejected "
            f"(of {self.rows} rows) in {self.seconds:.1f}s"
        )
        if self.flagged:
            text += f"; {len(self.flagged)} flagged outside the service area"
        if self.retired is not None:
            text += f"; {self.retired} retired (no longer on the list)"
        if self.stopped_early:
            text += f"; stopped after {len(self.rejected)} bad rows (--max-errors), the rest was not read"
        if self.dry_run:
            text += "; dry run, nothing was written"
        return text

    def detail(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "rejected": len(self.rejected),
            "flagged": len(self.flagged),
            "retired": self.retired,
            "seconds": round(self.seconds, 2),
            "stopped_early": self.stopped_early,
        }


def _service_area(
    *, layer: LayerSpec, agency_id: int, kwargs: dict[str, Any], areas: ServiceAreas, policy: str
) -> str | None:
    """Refuse (RowError) a row placed outside the agency's service area, or return the flag to report."""
    location = kwargs.get("location") if layer.is_point else None
    reason = areas.check(agency_id, location) if location is not None else None
    if reason is None:
        return None
    if policy != FLAG:
        raise RowError(reason)
    if layer.takes_attributes:
        kwargs["attributes"] = {**kwargs.get("attributes", {}), "service_area": reason}
    return reason


def _retire_unlisted(*, layer: LayerSpec, agency_id: int, since: datetime, result: ImportResult) -> int | None:
    # A rejected row may be a plate still wanted, and a list read only in part is not the full list:
    # either way nothing is retired, and the operator is told why.
    if result.rejected or result.stopped_early:
        result.warnings = (
            *result.warnings,
            f"--replace: {len(result.rejected)} rejected row(s), so nothing was retired; fix them and import again",
        )
        return None
    assert layer.retire_unlisted is not None
    return layer.retire_unlisted(agency_id=agency_id, since=since)


_LEADING_NAME = re.compile(r"[a-z_]+")


def _field_named(layer: LayerSpec, reason: str) -> str:
    """The field a service's refusal is about, when it starts with the field's name ("direction '370': ...",
    "plate must have ...", "type 'x' is not one of ..."): the report's field column, as for a mapping's."""
    match = _LEADING_NAME.match(reason)
    return match.group(0) if match and match.group(0) in layer.fields else ""


def _write_row(*, layer: LayerSpec, agency_id: int, kwargs: dict[str, Any], source: str) -> bool:
    if layer.name == "incidents" or layer.takes_source:
        kwargs["source"] = source
    try:
        # A savepoint per row: a row the database refuses rolls back alone and the import goes on.
        if layer.needs_savepoint:
            with transaction.atomic():
                _, created = layer.write(agency_id=agency_id, **kwargs)
        else:
            _, created = layer.write(agency_id=agency_id, **kwargs)
    except ValidationError as exc:
        raise RowError("; ".join(exc.messages)) from None
    except (ValueError, TypeError, OverflowError, GEOSException) as exc:
        raise RowError(str(exc), field=_field_named(layer, str(exc))) from None
    except DatabaseError as exc:
        raise RowError(f"refused by the database: {str(exc).strip().splitlines()[0]}") from None
    return created


Converted = tuple[Record, dict[str, Any] | None, RowError | None]  # (record, service kwargs or None, why not)


def _convert_all(records: Iterable[Record], mapping: Mapping) -> Iterator[Converted]:
    for record in records:
        try:
            yield record, convert_record(record=record, mapping=mapping), None
        except RowError as exc:
            yield record, None, exc


@contextmanager
def _converted(*, records: Iterable[Record], mapping: Mapping, ahead: bool) -> Iterator[Iterator[Converted]]:
    """The records converted, in order. With `ahead`, a thread reads and converts the next chunks while
    this one waits for the database to write the current chunk (no database access in that thread; the
    GIL is free while the database works). A reader error reaches the caller where it happened."""
    if not ahead:
        yield _convert_all(records, mapping)
        return
    chunks: queue.Queue[list[Converted] | BaseException | None] = queue.Queue(maxsize=2)
    stop = threading.Event()

    def put(item: list[Converted] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                chunks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        chunk: list[Converted] = []
        try:
            for item in _convert_all(records, mapping):
                chunk.append(item)
                if len(chunk) >= CHUNK_ROWS:
                    if not put(chunk):
                        return
                    chunk = []
            if chunk and not put(chunk):
                return
            put(None)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the importing thread)
            put(exc)

    def consume() -> Iterator[Converted]:
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield from item

    worker = threading.Thread(target=produce, name="import-convert", daemon=True)
    worker.start()
    try:
        yield consume()
    finally:
        stop.set()  # the caller stopped early (--max-errors, an error): the thread gives up its next put
        worker.join()


class _Bulk:
    """Rows of a layer with a bulk writer, gathered into chunks and written one statement per chunk."""

    def __init__(
        self,
        *,
        layer: LayerSpec,
        agency_id: int,
        source: str,
        result: ImportResult,
        reject: Callable[[Record, str, str], bool],
        flagged: Callable[[Record, str], None],
    ) -> None:
        self.layer = layer
        self.enabled = layer.bulk_write is not None
        self.agency_id = agency_id
        self.source = source
        self.result = result
        self.reject = reject
        self.flagged = flagged
        self.records: list[Record] = []
        self.rows: list[dict[str, Any]] = []
        self.flags: dict[int, str] = {}  # position in the chunk -> service-area flag
        self.changed_ids: list[int] = []

    def add(self, record: Record, kwargs: dict[str, Any], flag: str | None) -> bool:
        """Queue a converted row (and its flag, reported once the row is written); True when --max-errors
        says stop."""
        if flag:
            self.flags[len(self.rows)] = flag
        self.records.append(record)
        self.rows.append(kwargs)
        return len(self.rows) >= CHUNK_ROWS and self.flush()

    def flush(self) -> bool:
        if not self.rows:
            return False
        assert self.layer.bulk_write is not None
        outcome = self.layer.bulk_write(agency_id=self.agency_id, rows=self.rows, source=self.source)
        records, self.records, self.rows = self.records, [], []
        flags, self.flags = self.flags, {}
        self.result.created += outcome.created
        self.result.updated += outcome.updated
        self.result.unchanged = (self.result.unchanged or 0) + outcome.unchanged
        self.changed_ids.extend(outcome.changed_ids)
        stop = False
        for position, refused in sorted(outcome.rejected.items()):
            stop = self.reject(records[position], refused.reason, refused.field) or stop
        # A row the writer refused was not imported: it is rejected, not also "imported with a flag".
        for position, flag in flags.items():
            if position not in outcome.rejected:
                self.flagged(records[position], flag)
        return stop

    def publish(self) -> None:
        if self.enabled and self.layer.name == "incidents":
            # One event per incident for a small import; one reload (a resync on the maps) for a bulk one.
            incident_publish_changes(agency_id=self.agency_id, ids=self.changed_ids)
        elif self.layer.reloads and (self.result.created or self.result.updated):
            # Rows whose service publishes nothing itself (cameras; zones, whose beats move incidents).
            publish_reload(layer=self.layer.reloads, agency_id=self.agency_id)


def import_layer(
    *,
    layer: str,
    path: Path,
    agency: Agency,
    spec: MappingSpec,
    fmt: str | None = None,
    delimiter: str | None = None,
    json_path: str | None = None,
    encoding: str = "utf-8-sig",
    source: str = "",
    dry_run: bool = False,
    max_errors: int | None = None,
    on_reject: Callable[[Rejection], None] | None = None,
    outside_area: str = "reject",
    replace: bool = False,
) -> ImportResult:
    """Import one file into one layer for one agency, in one transaction (rolled back for a dry run).

    Raises ImportFileError / MappingError before anything is written when the file or mapping is unusable;
    a file that turns out unreadable half way rolls back what was imported from it.
    """
    layer_spec = LAYERS[layer]
    policy = check_policy(outside_area, what="--outside-area")
    if replace and layer_spec.retire_unlisted is None:
        full_lists = ", ".join(name for name, spec in LAYERS.items() if spec.retire_unlisted)
        raise MappingError(f"--replace is only for layers imported as full lists ({full_lists})")
    started_at = timezone.now()
    areas = ServiceAreas()
    started = time.monotonic()
    source = (source or spec.source or f"import:{path.name}")[: Incident._meta.get_field("source").max_length]
    with open_source(
        path=path,
        fmt=fmt or spec.format,
        delimiter=delimiter or spec.delimiter,
        json_path=json_path or spec.json_path,
        record_element=spec.record_element,
        encoding=encoding,
    ) as opened:
        mapping = compile_mapping(spec=spec, layer=layer_spec, columns=opened.columns, has_geometry=opened.has_geometry)
        result = ImportResult(
            layer=layer,
            file=path.name,
            format=opened.format,
            dry_run=dry_run,
            warnings=mapping.warnings,
            unchanged=0 if layer_spec.counts_unchanged else None,
        )
        with transaction.atomic():

            def reject(record: Record, reason: str, field: str = "") -> bool:
                """Record a rejection; True when --max-errors says stop."""
                rejection = Rejection(
                    index=record.index,
                    line=record.line,
                    field=field,
                    reason=without_userinfo(reason),
                    raw=raw_text(record=record, delimiter=opened.delimiter),
                )
                result.rejected.append(rejection)
                if on_reject is not None:
                    on_reject(rejection)
                if max_errors and len(result.rejected) >= max_errors:
                    result.stopped_early = True
                return result.stopped_early

            def flagged(record: Record, flag: str) -> None:
                raw = raw_text(record=record, delimiter=opened.delimiter)
                result.flagged.append(
                    Rejection(index=record.index, line=record.line, field="location", reason=flag, raw=raw)
                )

            bulk = _Bulk(
                layer=layer_spec, agency_id=agency.pk, source=source, result=result, reject=reject, flagged=flagged
            )
            read_all = False
            with _converted(records=opened.records, mapping=mapping, ahead=bulk.enabled) as converted:
                for record, kwargs, problem in converted:
                    result.rows += 1
                    try:
                        if kwargs is None:
                            raise problem or RowError("unreadable row")
                        flag = _service_area(
                            layer=layer_spec, agency_id=agency.pk, kwargs=kwargs, areas=areas, policy=policy
                        )
                        if bulk.enabled:
                            if bulk.add(record, kwargs, flag):
                                break
                            continue
                        created = _write_row(layer=layer_spec, agency_id=agency.pk, kwargs=kwargs, source=source)
                    except RowError as exc:
                        if reject(record, str(exc), exc.field):
                            break
                        continue
                    if flag:
                        flagged(record, flag)
                    if created:
                        result.created += 1
                    elif layer_spec.insert_only:
                        result.unchanged = (result.unchanged or 0) + 1
                    else:
                        result.updated += 1
                else:
                    read_all = True
            # Rows read before a --max-errors stop are imported, as they would be one by one.
            bulk.flush()
            if read_all:
                # The last chunk's refusals (the bulk writer's come when it writes) may reach --max-errors
                # once every row was read: the import did not stop early, nothing is left unread.
                result.stopped_early = False
            bulk.publish()
            if replace and layer_spec.retire_unlisted is not None:
                result.retired = _retire_unlisted(
                    layer=layer_spec, agency_id=agency.pk, since=started_at, result=result
                )
            result.rejected.sort(key=lambda r: r.index)
            result.seconds = time.monotonic() - started
            if dry_run:
                transaction.set_rollback(True)
            else:
                audit_record(
                    user=None,
                    action=AuditAction.IMPORT,
                    object_type=layer,
                    agency_id=agency.pk,
                    detail={**result.detail(), "agency": agency.code, "source": source, "mapping": mapping.describe()},
                )
    return result


def write_report(*, path: Path, result: ImportResult) -> None:
    """The rejected rows as CSV: line (CSV files), record number, field, reason, the row as it was; then the
    rows imported with a flag (reason starting "flagged:")."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "record", "field", "reason", "raw"])
        for rejection in result.rejected:
            writer.writerow(
                [
                    "" if rejection.line is None else rejection.line,
                    rejection.index,
                    rejection.field,
                    rejection.reason,
                    rejection.raw,
                ]
            )
        for flagged in result.flagged:
            line = "" if flagged.line is None else flagged.line
            writer.writerow([line, flagged.index, flagged.field, f"flagged: {flagged.reason}", flagged.raw])
