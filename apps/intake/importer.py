"""Loading an agency's own data files into incidents, cameras and zones.

The `import_layer` management command is a thin shell around `import_layer()` here. The modules of
apps.intake: The pieces:

- readers turn a CSV (any delimiter, optionally gzipped), GeoJSON FeatureCollection, plain JSON or XML/KML
  file into `Record`s (column -> value, plus the geometry of a feature or placemark); the feed adapters use
  the same readers on payloads, and the same mapping (fixtures/mappings/README.md);
- a mapping (`MappingSpec`, from a JSON file and/or command-line options) says which column feeds which
  field, fixed values, value translations and how to read dates; `compile_mapping()` checks it against
  the layer and the file's columns once, so a typo fails the whole import before any row is written;
- `convert_record()` turns one record into keyword arguments for the layer's domain service, raising
  `RowError` with a reason an operator can act on;
- `import_layer()` writes each good row through the service in its own savepoint, counts, and leaves
  one audit event.

Mapping file (every key optional)::

    {
      "layer": "incidents",                      # refuse to be used for another layer
      "description": "free text",
      "format": "csv", "delimiter": ",", "json_path": "data.items", "source": "CAD export",
      "fields": {"cad_number": "Event No", "type_code": ["Call Type", "Initial Type"]},
      "constants": {"status": "closed"},
      "values": {"status": {"CLSD": "closed", "OPEN": "pending"}},
      "derived_keys": {"cad_number": {"prefix": "SFD-", "columns": ["Datetime", "Address"]}},
      "datetime_format": "%m/%d/%Y %I:%M:%S %p",  # or a list, tried in order, then ISO 8601
      "tz": "America/Los_Angeles"                 # for naive times; default settings.TIME_ZONE
    }

A field mapped to a list of columns takes the first non-empty one. A field that is neither mapped nor a
constant is read from a column of the same name if there is one (`lon`/`lat` also from `longitude`,
`latitude`, `lng`, `long`). Points come from a GeoJSON feature's geometry when it has one, else from
`lon`/`lat`. `derived_keys` builds a stable key (prefix + hash of the named columns) for rows whose key
column is empty, so that re-importing the same file updates those rows instead of duplicating them.

User text never reaches GDAL/OGR: coordinates are parsed as numbers, range-checked by apps.core.geo and
assembled into GEOS geometries here.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
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
from apps.incidents.models import Incident
from apps.intake.errors import MappingError, RowError
from apps.intake.mapping import MappingSpec, compile_mapping, convert_record
from apps.intake.readers import open_source, raw_text, without_userinfo
from apps.intake.report import Rejection
from apps.intake.specs import LAYERS, LayerSpec
from apps.zones.area import FLAG, ServiceAreas, check_policy

# ---------------------------------------------------------------------------------------------------------------------
# Importing


@dataclass
class ImportResult:
    """What one import did."""

    layer: str
    file: str
    format: str = ""
    rows: int = 0
    created: int = 0
    updated: int = 0
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
        return self.created + self.updated

    def summary(self) -> str:
        text = (
            f"{self.layer}: {self.created} created, {self.updated} updated, {len(self.rejected)} rejected "
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
        raise RowError(str(exc)) from None
    except DatabaseError as exc:
        raise RowError(f"refused by the database: {str(exc).strip().splitlines()[0]}") from None
    return created


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
            layer=layer, file=path.name, format=opened.format, dry_run=dry_run, warnings=mapping.warnings
        )
        with transaction.atomic():
            for record in opened.records:
                result.rows += 1
                try:
                    kwargs = convert_record(record=record, mapping=mapping)
                    flag = _service_area(
                        layer=layer_spec, agency_id=agency.pk, kwargs=kwargs, areas=areas, policy=policy
                    )
                    created = _write_row(layer=layer_spec, agency_id=agency.pk, kwargs=kwargs, source=source)
                except RowError as exc:
                    rejection = Rejection(
                        index=record.index,
                        line=record.line,
                        field=exc.field,
                        reason=without_userinfo(str(exc)),
                        raw=raw_text(record=record, delimiter=opened.delimiter),
                    )
                    result.rejected.append(rejection)
                    if on_reject is not None:
                        on_reject(rejection)
                    if max_errors and len(result.rejected) >= max_errors:
                        result.stopped_early = True
                        break
                    continue
                if flag:
                    raw = raw_text(record=record, delimiter=opened.delimiter)
                    result.flagged.append(
                        Rejection(index=record.index, line=record.line, field="location", reason=flag, raw=raw)
                    )
                if created:
                    result.created += 1
                else:
                    result.updated += 1
            if replace and layer_spec.retire_unlisted is not None:
                result.retired = _retire_unlisted(
                    layer=layer_spec, agency_id=agency.pk, since=started_at, result=result
                )
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
