"""Loading an agency's own data files into incidents, cameras and zones.

The `import_layer` management command is a thin shell around `import_layer()` here. The pieces:

- readers turn a CSV (any delimiter, optionally gzipped), GeoJSON FeatureCollection or plain JSON file
  into `Record`s (column -> value, plus the GeoJSON geometry of a feature);
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
import gzip
import hashlib
import io
import itertools
import json
import math
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from collections.abc import Mapping as MappingABC
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, tzinfo
from pathlib import Path
from typing import IO, Any, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.gis.geos import GEOSException, GEOSGeometry, LinearRing, MultiPolygon, Point, Polygon
from django.core.exceptions import ValidationError
from django.db import DatabaseError, models, transaction

from apps.accounts.models import Agency
from apps.audit.models import AuditAction
from apps.audit.services import audit_record
from apps.cameras.choices import CameraStatus, OwnerKind, Sharing, StreamKind
from apps.cameras.models import Camera
from apps.cameras.services import camera_upsert
from apps.core.geo import SRID, GeoInputError, check_lon_lat, check_srid, make_point
from apps.incidents.choices import IncidentStatus
from apps.incidents.models import Incident
from apps.incidents.services import incident_upsert
from apps.zones.choices import ZoneKind
from apps.zones.models import Zone
from apps.zones.services import zone_upsert

FORMATS = ("csv", "geojson", "json")
DELIMITER_CANDIDATES = (",", ";", "\t", "|")
# A zone with more vertices than this is almost certainly the wrong file (or a hostile one).
MAX_VERTICES = 250_000
# The report keeps raw rows for an operator to read; a whole city outline per line helps no one.
MAX_RAW_CHARS = 10_000
# Dates outside this window are typos or placeholders (0001-01-01, 9999-12-31), never calls for service.
MIN_YEAR, MAX_YEAR = 1900, 2100
TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})
LON_ALIASES = ("lon", "longitude", "lng", "long")
LAT_ALIASES = ("lat", "latitude")
CRS84_NAMES = frozenset(
    {
        "URN:OGC:DEF:CRS:OGC:1.3:CRS84",
        "URN:OGC:DEF:CRS:OGC::CRS84",
        "OGC:CRS84",
        "CRS84",
        "HTTP://WWW.OPENGIS.NET/DEF/CRS/OGC/1.3/CRS84",
    }
)
EPSG_NAME = re.compile(r"(?:URN:OGC:DEF:CRS:EPSG:[0-9.]*:|EPSG:{1,2}|HTTPS?://WWW\.OPENGIS\.NET/DEF/CRS/EPSG/0/)(\d+)")


class ImportFileError(Exception):
    """The file cannot be read at all (missing, not the format it claims, refused CRS)."""


class MappingError(Exception):
    """The mapping cannot work for this layer or file; nothing is imported."""


class RowError(ValueError):
    """One row cannot be imported; the message is the reason shown to the operator."""


# ---------------------------------------------------------------------------------------------------------------------
# Layers: which fields an import may fill, and how to write a row


FieldKind = Literal["text", "int", "float", "bool", "datetime", "choice", "coordinate", "geometry"]


@dataclass(frozen=True)
class FieldSpec:
    """How to read one importable field."""

    kind: FieldKind
    required: bool = False
    max_length: int | None = None
    choices: type[models.TextChoices] | None = None
    bounds: tuple[float, float] | None = None
    # None is a meaning of its own (a camera without heading looks all around), not "use the default".
    nullable: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """An importable layer: its fields, the geometry it takes, and the service that writes a row."""

    name: str
    fields: dict[str, FieldSpec]
    geometry_types: tuple[str, ...]
    write: Callable[..., tuple[models.Model, bool]]
    # False when `write` is itself @transaction.atomic: nested in the import's transaction that already is a
    # savepoint per row, and a second one would only add two round trips per row (13k-row files notice).
    needs_savepoint: bool = True

    @property
    def is_point(self) -> bool:
        return self.geometry_types == ("Point",)


def _text(model: type[models.Model], name: str, *, required: bool = False) -> FieldSpec:
    # Lengths come from the model so that a too-long value is a row reason, not a database error.
    return FieldSpec("text", required=required, max_length=model._meta.get_field(name).max_length)


LAYERS: dict[str, LayerSpec] = {
    "incidents": LayerSpec(
        name="incidents",
        fields={
            "cad_number": _text(Incident, "cad_number", required=True),
            "type_code": _text(Incident, "type_code", required=True),
            "type_description": _text(Incident, "type_description"),
            "priority": FieldSpec("int", bounds=(1, 9)),
            "status": FieldSpec("choice", choices=IncidentStatus),
            "address": _text(Incident, "address"),
            "lon": FieldSpec("coordinate"),
            "lat": FieldSpec("coordinate"),
            "received_at": FieldSpec("datetime", required=True),
            "dispatched_at": FieldSpec("datetime"),
            "on_scene_at": FieldSpec("datetime"),
            "closed_at": FieldSpec("datetime"),
        },
        geometry_types=("Point",),
        write=incident_upsert,
        needs_savepoint=False,
    ),
    "cameras": LayerSpec(
        name="cameras",
        fields={
            "name": _text(Camera, "name", required=True),
            "external_id": _text(Camera, "external_id"),
            "owner_kind": FieldSpec("choice", choices=OwnerKind),
            "owner_name": _text(Camera, "owner_name"),
            "owner_contact": _text(Camera, "owner_contact"),
            "lon": FieldSpec("coordinate"),
            "lat": FieldSpec("coordinate"),
            "heading": FieldSpec("float", bounds=(0, 360), nullable=True),
            "fov_angle": FieldSpec("float", bounds=(1, 360)),
            "fov_range": FieldSpec("float", bounds=(1, 2000)),
            "ptz": FieldSpec("bool"),
            "status": FieldSpec("choice", choices=CameraStatus),
            "stream_url": _text(Camera, "stream_url"),
            "stream_kind": FieldSpec("choice", choices=StreamKind),
            "sharing": FieldSpec("choice", choices=Sharing),
            "active": FieldSpec("bool"),
        },
        geometry_types=("Point",),
        write=camera_upsert,
    ),
    "zones": LayerSpec(
        name="zones",
        fields={
            "code": _text(Zone, "code", required=True),
            "kind": FieldSpec("choice", required=True, choices=ZoneKind),
            "name": _text(Zone, "name"),
            "geometry": FieldSpec("geometry"),
        },
        geometry_types=("Polygon", "MultiPolygon"),
        write=zone_upsert,
    ),
}


# ---------------------------------------------------------------------------------------------------------------------
# Reading files


@dataclass(frozen=True, slots=True)
class Record:
    """One data row as read from the file, before any mapping."""

    index: int  # 1-based position among the data rows (features, objects)
    line: int | None  # first physical line of the row; CSV only
    values: dict[str, Any]
    geometry: Any = None  # the GeoJSON geometry member of a feature, None if absent or null
    raw: Any = None  # the row as read: list of cells (CSV) or the JSON object
    problem: str = ""  # set when the reader already knows the row is unusable


@dataclass
class Source:
    """An opened data file: its format, column names and a one-pass iterator over its records."""

    format: str
    columns: tuple[str, ...]
    records: Iterator[Record]
    has_geometry: bool = False
    delimiter: str = ","


def detect_format(*, path: Path) -> str:
    """The format named by the file's extension (a trailing .gz is looked through)."""
    name = path.name.lower()
    if name.endswith(".gz"):
        name = name[:-3]
    suffix = os.path.splitext(name)[1]
    if suffix in (".csv", ".tsv", ".txt"):
        return "csv"
    if suffix == ".geojson":
        return "geojson"
    if suffix == ".json":
        return "json"
    raise ImportFileError(f"cannot tell the format of {path.name!r} from its extension; pass --format csv|geojson|json")


def _open_binary(path: Path) -> IO[bytes]:
    try:
        if path.name.lower().endswith(".gz"):
            return cast(IO[bytes], gzip.open(path, "rb"))
        return open(path, "rb")
    except OSError as exc:
        raise ImportFileError(f"cannot open {path}: {exc.strerror or exc}") from None


def _guess_delimiter(first_line: str) -> str:
    # The header rarely quotes anything, so the candidate that splits it into the most columns wins;
    # csv.Sniffer guesses from the data and is easily fooled by commas inside addresses.
    best, best_count = ",", 1
    for candidate in DELIMITER_CANDIDATES:
        count = len(next(csv.reader([first_line], delimiter=candidate), []))
        if count > best_count:
            best, best_count = candidate, count
    return best


def _csv_records(reader: Any, header: list[str], path: Path) -> Iterator[Record]:
    index = 0
    previous_line = reader.line_num
    width = len(header)
    try:
        for cells in reader:
            line = previous_line + 1
            previous_line = reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            index += 1
            problem = ""
            if len(cells) > width:
                problem = f"row has {len(cells)} fields but the header has {width} (check delimiter and quoting)"
            # Short rows are common (trailing empty fields left out); the missing cells read as empty.
            values = dict(zip(header, cells, strict=False))
            yield Record(index=index, line=line, values=values, raw=cells, problem=problem)
    except (UnicodeDecodeError, csv.Error, OSError, EOFError, zlib.error) as exc:
        raise ImportFileError(f"{path.name}: cannot read past line {reader.line_num}: {exc}") from None


@contextmanager
def _open_csv(*, path: Path, delimiter: str | None, encoding: str) -> Iterator[Source]:
    binary = _open_binary(path)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    try:
        try:
            first_line = text.readline()
        except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
            raise ImportFileError(f"{path.name}: cannot read the header line: {exc}") from None
        if not first_line.strip():
            raise ImportFileError(f"{path.name}: the file is empty (a CSV needs a header line)")
        if delimiter is None:
            delimiter = "\t" if path.name.lower().removesuffix(".gz").endswith(".tsv") else _guess_delimiter(first_line)
        reader = csv.reader(itertools.chain([first_line], text), delimiter=delimiter)
        header = [name.strip() for name in next(reader)]
        if not all(header):
            raise ImportFileError(f"{path.name}: the header has an empty column name: {header}")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise ImportFileError(f"{path.name}: duplicate column names in the header: {', '.join(duplicates)}")
        yield Source(
            format="csv", columns=tuple(header), records=_csv_records(reader, header, path), delimiter=delimiter
        )
    finally:
        text.close()


def _load_json(path: Path) -> Any:
    with _open_binary(path) as binary:
        try:
            return json.load(binary)
        except json.JSONDecodeError as exc:
            raise ImportFileError(f"{path.name} is not valid JSON: {exc}") from None
        except (UnicodeDecodeError, OSError, EOFError, zlib.error) as exc:
            raise ImportFileError(f"cannot read {path.name}: {exc}") from None


def crs_srid(crs: Any) -> int:
    """The SRID named by a GeoJSON (2008) "crs" member, if it is one we accept; GeoInputError otherwise."""
    if not isinstance(crs, dict):
        raise GeoInputError("the GeoJSON crs member must be an object")
    properties: dict[str, Any] = crs["properties"] if isinstance(crs.get("properties"), dict) else {}
    if crs.get("type") == "name":
        name = str(properties.get("name", "")).strip()
        upper = name.upper()
        if upper in CRS84_NAMES:
            return SRID
        match = EPSG_NAME.fullmatch(upper)
        if match:
            return check_srid(match.group(1))
        raise GeoInputError(f"crs {name!r} is not understood; send WGS84 lon/lat (EPSG:4326)")
    if crs.get("type") == "EPSG":
        return check_srid(properties.get("code"))
    raise GeoInputError(f"crs type {crs.get('type')!r} is not supported; send WGS84 lon/lat (EPSG:4326)")


def _union_columns(objects: list[Any]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for obj in objects:
        if isinstance(obj, dict):
            seen.update(dict.fromkeys(str(key) for key in obj))
    return tuple(seen)


def _feature_records(features: list[Any]) -> Iterator[Record]:
    for index, feature in enumerate(features, start=1):
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            yield Record(index=index, line=None, values={}, raw=feature, problem="not a GeoJSON Feature")
            continue
        properties = feature.get("properties")
        values = dict(properties) if isinstance(properties, dict) else {}
        if "id" in feature:
            values.setdefault("_id", feature["id"])
        problem = ""
        if properties is not None and not isinstance(properties, dict):
            problem = "feature properties must be an object"
        elif "crs" in feature:
            try:
                crs_srid(feature["crs"])
            except GeoInputError as exc:
                problem = str(exc)
        yield Record(
            index=index, line=None, values=values, geometry=feature.get("geometry"), raw=feature, problem=problem
        )


def _object_records(objects: list[Any]) -> Iterator[Record]:
    for index, obj in enumerate(objects, start=1):
        if not isinstance(obj, dict):
            yield Record(index=index, line=None, values={}, raw=obj, problem="not a JSON object")
            continue
        yield Record(index=index, line=None, values=obj, raw=obj)


def _geojson_source(data: Any, path: Path) -> Source:
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = {"type": "FeatureCollection", "features": [data]}
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ImportFileError(f"{path.name} is not a GeoJSON FeatureCollection")
    if "crs" in data:
        try:
            crs_srid(data["crs"])
        except GeoInputError as exc:
            raise ImportFileError(f"{path.name}: {exc}") from None
    features = data.get("features")
    if not isinstance(features, list):
        raise ImportFileError(f"{path.name}: the FeatureCollection has no features list")
    properties = [f.get("properties") for f in features if isinstance(f, dict)]
    columns = _union_columns(properties)
    if any(isinstance(f, dict) and "id" in f for f in features):
        columns = (*columns, "_id")
    return Source(format="geojson", columns=columns, records=_feature_records(features), has_geometry=True)


def _json_source(data: Any, path: Path, json_path: str | None) -> Source:
    if json_path:
        for key in json_path.split("."):
            if not isinstance(data, dict) or key not in data:
                raise ImportFileError(f"{path.name}: --json-path {json_path!r} not found (no {key!r})")
            data = data[key]
    if isinstance(data, dict) and data.get("type") in ("FeatureCollection", "Feature"):
        return _geojson_source(data, path)
    if isinstance(data, dict) and data and all(isinstance(value, dict) for value in data.values()):
        # An object of objects keyed by id (a common "export" shape): the key is offered as column _id.
        objects: list[Any] = [{**value, "_id": key} if "_id" not in value else value for key, value in data.items()]
    elif isinstance(data, list):
        objects = data
    else:
        hint = "" if json_path else "; if the rows are inside an object, pass --json-path KEY"
        raise ImportFileError(f"{path.name}: expected a list of objects{hint}")
    return Source(format="json", columns=_union_columns(objects), records=_object_records(objects))


@contextmanager
def open_source(
    *,
    path: Path,
    fmt: str | None = None,
    delimiter: str | None = None,
    json_path: str | None = None,
    encoding: str = "utf-8-sig",
) -> Iterator[Source]:
    """Open a data file for one pass over its records; ImportFileError if it cannot be read."""
    if not path.is_file():
        raise ImportFileError(f"no such file: {path}")
    fmt = fmt or detect_format(path=path)
    if fmt not in FORMATS:
        raise ImportFileError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    if fmt == "csv":
        with _open_csv(path=path, delimiter=delimiter, encoding=encoding) as source:
            yield source
        return
    data = _load_json(path)
    yield _geojson_source(data, path) if fmt == "geojson" else _json_source(data, path, json_path)


# "scheme://user:password@" up to the last "@" before the host's end: a password may hold "@" or ":" unescaped
# (pasted from a VMS). Over-reaching into a neighbouring cell loses a little report text, never a credential.
URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]*@")


def without_userinfo(text: str) -> str:
    """`text` with the user name and password taken out of every URL in it (rtsp://user:pass@cam/ ->
    rtsp://cam/): a rejected camera row must not put its stream credentials in a report on disk."""
    return URL_USERINFO.sub(r"\1", text)


def raw_text(*, record: Record, delimiter: str = ",") -> str:
    """The row as it was in the file, for the rejection report, without credentials in URLs."""
    if isinstance(record.raw, list):
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="").writerow(record.raw)
        text = buffer.getvalue()
    else:
        text = json.dumps(record.raw, ensure_ascii=False, default=str)
    text = without_userinfo(text)
    return text if len(text) <= MAX_RAW_CHARS else text[:MAX_RAW_CHARS] + "…"


# ---------------------------------------------------------------------------------------------------------------------
# Mappings


@dataclass(frozen=True)
class DerivedKey:
    """A stand-in key for rows whose key column is empty: prefix + a hash of some columns."""

    prefix: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class MappingSpec:
    """A mapping as written (file and command line), not yet checked against a layer and a file."""

    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    derived_keys: dict[str, DerivedKey] = field(default_factory=dict)
    datetime_formats: tuple[str, ...] = ()
    tz: str | None = None
    layer: str | None = None
    format: str | None = None
    delimiter: str | None = None
    json_path: str | None = None
    source: str | None = None


MAPPING_KEYS = frozenset(
    {
        "layer",
        "description",
        "format",
        "delimiter",
        "json_path",
        "source",
        "fields",
        "constants",
        "values",
        "derived_keys",
        "datetime_format",
        "tz",
    }
)


def _str_or_list(value: Any, what: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(item, str) and item for item in items):
        raise MappingError(f"{what} must be a non-empty string or a list of them, got {value!r}")
    return tuple(items)


def _dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(f"{what} must be an object, got {type(value).__name__}")
    return value


def mapping_spec_from_dict(*, data: Any, origin: str = "mapping") -> MappingSpec:
    """Check the shape of a mapping document (as loaded from JSON)."""
    data = _dict(data, origin)
    unknown = sorted(set(data) - MAPPING_KEYS)
    if unknown:
        raise MappingError(f"{origin}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(MAPPING_KEYS))}")
    for key in ("layer", "format", "delimiter", "json_path", "source", "tz", "description"):
        if key in data and not isinstance(data[key], str):
            raise MappingError(f"{origin}: {key} must be a string")
    fields = {
        name: _str_or_list(columns, f"{origin}: fields.{name}")
        for name, columns in _dict(data.get("fields", {}), f"{origin}: fields").items()
    }
    values: dict[str, dict[str, Any]] = {}
    for name, table in _dict(data.get("values", {}), f"{origin}: values").items():
        table = _dict(table, f"{origin}: values.{name}")
        for target in table.values():
            if target is not None and not isinstance(target, str | int | float | bool):
                raise MappingError(f"{origin}: values.{name} must map to strings or numbers, got {target!r}")
        values[name] = table
    derived: dict[str, DerivedKey] = {}
    for name, rule in _dict(data.get("derived_keys", {}), f"{origin}: derived_keys").items():
        rule = _dict(rule, f"{origin}: derived_keys.{name}")
        if set(rule) - {"prefix", "columns"} or not isinstance(rule.get("prefix", ""), str):
            raise MappingError(f"{origin}: derived_keys.{name} takes a string prefix and a list of columns")
        derived[name] = DerivedKey(
            prefix=rule.get("prefix", ""), columns=_str_or_list(rule.get("columns"), f"{origin}: derived_keys.{name}")
        )
    formats = data.get("datetime_format")
    return MappingSpec(
        fields=fields,
        constants=dict(_dict(data.get("constants", {}), f"{origin}: constants")),
        values=values,
        derived_keys=derived,
        datetime_formats=_str_or_list(formats, f"{origin}: datetime_format") if formats is not None else (),
        tz=data.get("tz"),
        layer=data.get("layer"),
        format=data.get("format"),
        delimiter=data.get("delimiter"),
        json_path=data.get("json_path"),
        source=data.get("source"),
    )


def load_mapping_file(*, path: Path) -> MappingSpec:
    """Read a mapping JSON file; MappingError if it is missing or malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MappingError(f"mapping {path.name} is not valid JSON: {exc}") from None
    return mapping_spec_from_dict(data=data, origin=path.name)


def mapping_spec_override(
    spec: MappingSpec,
    *,
    fields: MappingABC[str, tuple[str, ...]] | None = None,
    constants: MappingABC[str, Any] | None = None,
    datetime_formats: tuple[str, ...] = (),
    tz: str | None = None,
) -> MappingSpec:
    """Apply command-line options on top of a mapping file: a column given here replaces a constant
    for the same field there and the other way round."""
    fields = dict(fields or {})
    constants = dict(constants or {})
    merged_fields = {name: cols for name, cols in spec.fields.items() if name not in constants} | fields
    merged_constants = {name: value for name, value in spec.constants.items() if name not in fields} | constants
    return replace(
        spec,
        fields=merged_fields,
        constants=merged_constants,
        datetime_formats=datetime_formats or spec.datetime_formats,
        tz=tz or spec.tz,
    )


@dataclass(frozen=True)
class Mapping:
    """A mapping checked against one layer and one file; `convert_record` applies it to rows."""

    layer: LayerSpec
    columns: dict[str, tuple[str, ...]]
    constants: dict[str, Any]  # already converted; None for a nullable field means "pass None"
    values: dict[str, dict[str, Any]]  # keys casefolded
    derived_keys: dict[str, DerivedKey]
    datetime_formats: tuple[str, ...]
    tz: tzinfo
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = [f"{name}<-{'|'.join(cols)}" for name, cols in self.columns.items()]
        parts += [f"{name}={value!r}" for name, value in self.constants.items()]
        return ", ".join(parts)


def _choice_lookup(choices: type[models.TextChoices]) -> dict[str, str]:
    lookup = {str(label).casefold(): value for value, label in choices.choices}
    lookup.update({value.casefold(): value for value in choices.values})
    return lookup


_CHOICE_LOOKUPS: dict[type[models.TextChoices], dict[str, str]] = {}


def _choice(value: str, spec: FieldSpec, name: str) -> str:
    assert spec.choices is not None
    lookup = _CHOICE_LOOKUPS.get(spec.choices)
    if lookup is None:
        lookup = _CHOICE_LOOKUPS[spec.choices] = _choice_lookup(spec.choices)
    found = lookup.get(value.casefold())
    if found is None:
        raise RowError(f"{name} {value!r} is not one of {', '.join(spec.choices.values)}")
    return found


def compile_mapping(*, spec: MappingSpec, layer: LayerSpec, columns: tuple[str, ...], has_geometry: bool) -> Mapping:
    """Check a mapping against the layer and the file's columns, and fill in same-name columns."""
    if spec.layer and spec.layer != layer.name:
        raise MappingError(f"this mapping is for the {spec.layer} layer, not {layer.name}")
    known = layer.fields
    for what, names in (
        ("fields", spec.fields),
        ("constants", spec.constants),
        ("values", spec.values),
        ("derived_keys", spec.derived_keys),
    ):
        unknown = sorted(set(names) - set(known))
        if unknown:
            raise MappingError(
                f"{what}: unknown field(s) {', '.join(unknown)} for {layer.name}; fields are {', '.join(known)}"
            )
    both = sorted(set(spec.fields) & set(spec.constants))
    if both:
        raise MappingError(f"field(s) {', '.join(both)} are given both a column and a constant")

    column_set = set(columns)
    for name, cols in spec.fields.items():
        missing = [col for col in cols if col not in column_set]
        if missing:
            raise MappingError(
                f"{name}: column(s) {', '.join(map(repr, missing))} not in the file; columns are {', '.join(columns)}"
            )
    mapped = dict(spec.fields)
    by_folded = {col.casefold(): col for col in reversed(columns)}
    for name in known:
        if name in mapped or name in spec.constants:
            continue
        aliases = LON_ALIASES if name == "lon" else LAT_ALIASES if name == "lat" else (name,)
        for alias in aliases:
            if alias in by_folded:
                mapped[name] = (by_folded[alias],)
                break

    tz_name = spec.tz or settings.TIME_ZONE
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise MappingError(f"unknown time zone {tz_name!r} (use an IANA name such as America/Los_Angeles)") from None
    for fmt in spec.datetime_formats:
        if "%" not in fmt:
            raise MappingError(f"datetime format {fmt!r} has no % directives (strptime syntax, e.g. %Y-%m-%d %H:%M)")

    values: dict[str, dict[str, Any]] = {}
    for name, table in spec.values.items():
        fspec = known[name]
        folded: dict[str, Any] = {}
        for source_value, target in table.items():
            if fspec.kind == "choice" and target is not None:
                try:
                    target = _choice(str(target), fspec, name)
                except RowError as exc:
                    raise MappingError(f"values.{name}: {exc}") from None
            folded[str(source_value).strip().casefold()] = target
        values[name] = folded

    for name, rule in spec.derived_keys.items():
        if known[name].kind != "text":
            raise MappingError(f"derived_keys: {name} is not a text field")
        missing = [col for col in rule.columns if col not in column_set]
        if missing:
            raise MappingError(f"derived_keys.{name}: column(s) {', '.join(map(repr, missing))} not in the file")

    mapping = Mapping(
        layer=layer,
        columns=mapped,
        constants={},
        values=values,
        derived_keys=dict(spec.derived_keys),
        datetime_formats=spec.datetime_formats,
        tz=tz,
    )
    constants: dict[str, Any] = {}
    for name, value in spec.constants.items():
        fspec = known[name]
        try:
            converted = _convert(name, fspec, _clean(value), mapping)
        except RowError as exc:
            raise MappingError(f"constants.{name}: {exc}") from None
        if converted is None and fspec.required:
            raise MappingError(f"constants.{name}: {name} is required and cannot be empty")
        if converted is not None or fspec.nullable:
            constants[name] = converted

    def covered(name: str) -> bool:
        return name in mapped or name in constants or name in spec.derived_keys

    for name, fspec in known.items():
        if fspec.required and not covered(name):
            raise MappingError(
                f"{name} is required for {layer.name}: map a column to it (--map {name}=COLUMN) or set a constant"
            )
    if layer.is_point and not has_geometry and not (covered("lon") and covered("lat")):
        raise MappingError(f"{layer.name} need a location: map lon and lat (--map lon=COLUMN --map lat=COLUMN)")
    if not layer.is_point and not has_geometry and not covered("geometry"):
        raise MappingError("zones need a geometry: use GeoJSON, or map a column holding GeoJSON geometry")
    warnings = []
    if layer.name == "cameras" and not covered("external_id"):
        warnings.append("no external_id column: cameras cannot be matched, so every import creates new ones")
    return replace(mapping, constants=constants, warnings=tuple(warnings))


# ---------------------------------------------------------------------------------------------------------------------
# Converting one record


def _clean(value: Any) -> Any:
    """Strip text; None for empty."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise RowError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise RowError(f"{name} must be a finite number, got {value!r}")
    return number


def parse_datetime(*, text: str, formats: tuple[str, ...], tz: tzinfo, name: str = "date") -> datetime:
    """Read a date/time with the given strptime formats, then ISO 8601; naive results are taken in `tz`.

    A naive time is localised with fold=0: in the autumn overlap it is the first (daylight) instant, and a
    time in the spring-forward gap gets the offset from before the gap. Neither is an error, as a CAD
    clock may well write them.
    """
    errors: list[str] = []
    parsed: datetime | None = None
    for fmt in formats:
        try:
            parsed = datetime.strptime(text, fmt)
            break
        except ValueError as exc:
            errors.append(str(exc))
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            errors.append(str(exc))
    if parsed is None:
        expected = " or ".join([*formats, "ISO 8601"])
        # strptime/fromisoformat say *what* is wrong (hour 24, 30 February) in some messages; keep those.
        details = [e for e in errors if not e.startswith(("time data", "unconverted data", "Invalid isoformat"))]
        detail = f": {details[-1]}" if details else ""
        raise RowError(f"{name} {text!r} is not a valid date/time (expected {expected}){detail}")
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise RowError(f"{name} {text!r} is not a plausible date (year outside {MIN_YEAR}..{MAX_YEAR})")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def _convert(name: str, spec: FieldSpec, value: Any, mapping: Mapping) -> Any:
    """One cleaned, non-empty value (or None) -> the Python value the service takes."""
    if value is None:
        return None
    if isinstance(value, dict | list) and spec.kind != "geometry":
        raise RowError(f"{name} must be a single value, got {type(value).__name__}")
    kind = spec.kind
    if kind == "text":
        text = value if isinstance(value, str) else str(value)
        if spec.max_length and len(text) > spec.max_length:
            raise RowError(f"{name} is longer than {spec.max_length} characters")
        return text
    if kind == "choice":
        return _choice(str(value), spec, name)
    if kind in ("int", "float", "coordinate"):
        number = _number(value, name)
        if kind == "int":
            if not number.is_integer():
                raise RowError(f"{name} must be a whole number, got {value!r}")
            number = int(number)
        if spec.bounds and not spec.bounds[0] <= number <= spec.bounds[1]:
            raise RowError(f"{name} {value} is outside {spec.bounds[0]:g}..{spec.bounds[1]:g}")
        return number
    if kind == "bool":
        if isinstance(value, bool):
            return value
        word = str(value).casefold()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise RowError(f"{name} must be yes/no, true/false or 1/0, got {value!r}")
    if kind == "datetime":
        if not isinstance(value, str):
            raise RowError(f"{name} must be a date/time text, got {value!r}")
        return parse_datetime(text=value, formats=mapping.datetime_formats, tz=mapping.tz, name=name)
    if kind == "geometry":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise RowError(f"{name} must be a GeoJSON geometry") from None
        return geometry_from_geojson(geometry=value, allowed=mapping.layer.geometry_types)
    raise AssertionError(f"unhandled field kind {kind}")


def _first_value(values: dict[str, Any], columns: tuple[str, ...]) -> Any:
    for column in columns:
        value = _clean(values.get(column))
        if value is not None:
            return value
    return None


def _derive(values: dict[str, Any], rule: DerivedKey) -> str | None:
    parts = [str(_clean(values.get(column)) or "") for column in rule.columns]
    if not any(parts):
        return None
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    return f"{rule.prefix}{digest}"


def _field_value(name: str, spec: FieldSpec, record: Record, mapping: Mapping) -> Any:
    columns = mapping.columns.get(name)
    value = _first_value(record.values, columns) if columns else None
    table = mapping.values.get(name)
    if table is not None and value is not None:
        key = str(value).casefold()
        if key in table:
            value = _clean(table[key])
        elif spec.kind == "choice":
            try:
                return _convert(name, spec, value, mapping)
            except RowError:
                raise RowError(f"{name} {value!r} has no translation in the mapping's values.{name}") from None
    if value is None and name in mapping.derived_keys:
        value = _derive(record.values, mapping.derived_keys[name])
    return _convert(name, spec, value, mapping)


def _position(position: Any) -> tuple[float, float]:
    if not isinstance(position, list | tuple) or not 2 <= len(position) <= 4:
        raise RowError(f"a position must be [lon, lat], got {position!r}"[:200])
    lon, lat = position[0], position[1]
    for number in (lon, lat):
        # bool is an int to Python, but true/false in a coordinate is a broken file, not 1/0.
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise RowError(f"coordinates must be numbers, got {number!r}")
    try:
        return check_lon_lat(lon, lat)
    except GeoInputError as exc:
        raise RowError(str(exc)) from None


def _ring(coordinates: Any, budget: list[int]) -> LinearRing:
    if not isinstance(coordinates, list) or len(coordinates) < 4:
        raise RowError("a polygon ring needs at least 4 positions")
    budget[0] -= len(coordinates)
    if budget[0] < 0:
        raise RowError(f"geometry has more than {MAX_VERTICES} vertices")
    points = [_position(position) for position in coordinates]
    if points[0] != points[-1]:
        raise RowError("a polygon ring must end where it starts (closed ring)")
    return LinearRing(points, srid=SRID)


def _polygon(coordinates: Any, budget: list[int]) -> Polygon:
    if not isinstance(coordinates, list) or not coordinates:
        raise RowError("a polygon needs at least one ring")
    rings = [_ring(ring, budget) for ring in coordinates]
    return Polygon(*rings, srid=SRID)


def geometry_from_geojson(*, geometry: Any, allowed: tuple[str, ...]) -> GEOSGeometry:
    """Build a Point, Polygon or MultiPolygon from a GeoJSON geometry object, number by number."""
    if not isinstance(geometry, dict):
        raise RowError("geometry must be a GeoJSON geometry object")
    kind = geometry.get("type")
    if kind not in allowed:
        raise RowError(f"geometry must be a {' or '.join(allowed)}, got {kind!r}")
    coordinates = geometry.get("coordinates")
    budget = [MAX_VERTICES]
    try:
        if kind == "Point":
            lon, lat = _position(coordinates)
            return Point(lon, lat, srid=SRID)
        if kind == "Polygon":
            return _polygon(coordinates, budget)
        if not isinstance(coordinates, list) or not coordinates:
            raise RowError("a MultiPolygon needs at least one polygon")
        return MultiPolygon(*[_polygon(polygon, budget) for polygon in coordinates], srid=SRID)
    except GEOSException as exc:
        raise RowError(f"geometry cannot be built: {exc}") from None


def _location(record: Record, mapping: Mapping) -> Point:
    if record.geometry is not None:
        point = geometry_from_geojson(geometry=record.geometry, allowed=("Point",))
        assert isinstance(point, Point)
        lon, lat = point.x, point.y
    else:
        lon = _field_value("lon", mapping.layer.fields["lon"], record, mapping)
        lat = _field_value("lat", mapping.layer.fields["lat"], record, mapping)
        if lon is None or lat is None:
            raise RowError("no location: lon/lat are empty" if mapping.columns.get("lon") else "no geometry")
    # CAD exports write 0,0 for "no fix"; a real call at Null Island is not going to happen.
    if lon == 0 and lat == 0:
        raise RowError("no location: coordinates are 0,0")
    try:
        return make_point(lon, lat)
    except GeoInputError as exc:
        raise RowError(str(exc)) from None


def convert_record(*, record: Record, mapping: Mapping) -> dict[str, Any]:
    """One record -> keyword arguments for the layer's service (without agency_id/source)."""
    if record.problem:
        raise RowError(record.problem)
    layer = mapping.layer
    kwargs: dict[str, Any] = {}
    for name, spec in layer.fields.items():
        if spec.kind in ("coordinate", "geometry"):
            continue
        if name in mapping.constants:
            kwargs[name] = mapping.constants[name]
            continue
        value = _field_value(name, spec, record, mapping)
        if value is None:
            if spec.required:
                columns = mapping.columns.get(name, ())
                where = f" (column {' / '.join(map(repr, columns))} is empty)" if columns else ""
                raise RowError(f"{name} is missing{where}")
            continue
        kwargs[name] = value
    if layer.is_point:
        kwargs["location"] = _location(record, mapping)
        return kwargs
    if record.geometry is not None:
        geom = geometry_from_geojson(geometry=record.geometry, allowed=layer.geometry_types)
    else:
        geom = _field_value("geometry", layer.fields["geometry"], record, mapping)
    if geom is None:
        raise RowError("no geometry")
    kwargs["geom"] = geom
    return kwargs


# ---------------------------------------------------------------------------------------------------------------------
# Importing


@dataclass(frozen=True)
class Rejection:
    """A row that was not imported, and why."""

    index: int
    line: int | None
    reason: str
    raw: str

    @property
    def where(self) -> str:
        return f"line {self.line}" if self.line is not None else f"record {self.index}"


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
            "seconds": round(self.seconds, 2),
            "stopped_early": self.stopped_early,
        }


def _write_row(*, layer: LayerSpec, agency_id: int, kwargs: dict[str, Any], source: str) -> bool:
    if layer.name == "incidents":
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
) -> ImportResult:
    """Import one file into one layer for one agency, in one transaction (rolled back for a dry run).

    Raises ImportFileError / MappingError before anything is written when the file or mapping is unusable;
    a file that turns out unreadable half way rolls back what was imported from it.
    """
    layer_spec = LAYERS[layer]
    started = time.monotonic()
    source = (source or spec.source or f"import:{path.name}")[: Incident._meta.get_field("source").max_length]
    with open_source(
        path=path,
        fmt=fmt or spec.format,
        delimiter=delimiter or spec.delimiter,
        json_path=json_path or spec.json_path,
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
                    created = _write_row(layer=layer_spec, agency_id=agency.pk, kwargs=kwargs, source=source)
                except RowError as exc:
                    rejection = Rejection(
                        index=record.index,
                        line=record.line,
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
                if created:
                    result.created += 1
                else:
                    result.updated += 1
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
    """The rejected rows as CSV: line (CSV files), record number, reason, the row as it was."""
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "record", "reason", "raw"])
        for rejection in result.rejected:
            writer.writerow(
                ["" if rejection.line is None else rejection.line, rejection.index, rejection.reason, rejection.raw]
            )
