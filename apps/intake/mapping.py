"""Mappings (which column feeds which field) and converting one record into a service's arguments."""

from __future__ import annotations

import json
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field, replace
from datetime import tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.gis.geos import Point

from apps.core.geo import GeoInputError, LonLat, check_lon_lat, make_point
from apps.intake.convert import Read, choice, clean, converter, reader
from apps.intake.errors import MappingError, RowError
from apps.intake.geometry import geometry_from_geojson, lon_lat_from_geojson
from apps.intake.readers import Record
from apps.intake.specs import FieldSpec, LayerSpec
from apps.intake.times import parse_datetime  # noqa: F401 - the feeds' mapped adapter and tests import it here
from apps.intake.vocab import LAT_ALIASES, LON_ALIASES
from apps.intake.wkt import geojson_from_wkt

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
    record_element: str | None = None
    wkt: str | None = None


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
        "record_element",
        "wkt",
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
    for key in ("layer", "format", "delimiter", "json_path", "source", "tz", "description", "record_element", "wkt"):
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
        record_element=data.get("record_element"),
        wkt=data.get("wkt"),
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
class _Step:
    """How convert_record fills one field (other than coordinates and geometry)."""

    name: str
    read: Read | None  # None: the field has no column, translation or derived key
    required: bool
    missing: str  # the reason when a required field is empty


@dataclass(frozen=True)
class Mapping:
    """A mapping checked against one layer and one file; `convert_record` applies it to rows."""

    layer: LayerSpec
    columns: dict[str, tuple[str, ...]]
    constants: dict[str, Any]  # already converted; None for a nullable field means "pass None"
    values: dict[str, dict[str, Any]]  # keys casefolded
    derived_keys: dict[str, DerivedKey]
    datetime_formats: tuple[str, ...]
    tz: tzinfo | None  # None: a time without an offset is rejected (feeds without a tz)
    warnings: tuple[str, ...] = ()
    wkt: str | None = None  # the column holding the geometry as WKT
    located: bool = True  # False: the file has nothing to place a point with; every row says so
    # Decided once from the above (apps.intake.convert), so that a row is one call per field.
    steps: tuple[_Step, ...] = field(init=False, repr=False, compare=False)
    row_constants: dict[str, Any] = field(init=False, repr=False, compare=False)
    places: dict[str, Read | None] = field(init=False, repr=False, compare=False)  # lon, lat, geometry
    used_columns: frozenset[str] = field(init=False, repr=False, compare=False)
    # A layer with a bulk writer (apps.incidents.bulk) takes its points as checked lon/lat numbers: a GEOS
    # Point per row cost more than the rest of the row's conversion.
    points_as_numbers: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        steps: list[_Step] = []
        readers: dict[str, Read | None] = {}
        for name, spec in self.layer.fields.items():
            if name in self.constants and spec.kind not in ("coordinate", "geometry"):
                continue
            rule = self.derived_keys.get(name)
            convert = converter(
                name, spec, formats=self.datetime_formats, tz=self.tz, geometry_types=self.layer.geometry_types
            )
            read = readers[name] = reader(
                name,
                spec,
                convert,
                columns=self.columns.get(name, ()),
                table=self.values.get(name),
                derived=(rule.prefix, rule.columns) if rule else None,
            )
            if spec.kind in ("coordinate", "geometry") or (read is None and not spec.required):
                continue
            columns = self.columns.get(name, ())
            where = f" (column {' / '.join(map(repr, columns))} is empty)" if columns else ""
            steps.append(_Step(name=name, read=read, required=spec.required, missing=f"{name} is missing{where}"))
        kinds = {name: spec.kind for name, spec in self.layer.fields.items()}
        constants = {name: v for name, v in self.constants.items() if kinds[name] not in ("coordinate", "geometry")}
        used = frozenset(column for columns in self.columns.values() for column in columns)
        for name, value in (
            ("steps", tuple(steps)),
            ("row_constants", constants),
            ("places", {name: readers.get(name) for name in ("lon", "lat", "geometry")}),
            ("used_columns", used),
            ("points_as_numbers", self.layer.bulk_write is not None),
        ):
            object.__setattr__(self, name, value)

    def describe(self) -> str:
        parts = [f"{name}<-{'|'.join(cols)}" for name, cols in self.columns.items()]
        parts += [f"{name}={value!r}" for name, value in self.constants.items()]
        return ", ".join(parts)


def compile_mapping(
    *,
    spec: MappingSpec,
    layer: LayerSpec,
    columns: tuple[str, ...],
    has_geometry: bool,
    default_tz: str | None = settings.TIME_ZONE,
) -> Mapping:
    """Check a mapping against the layer and the file's (or payload's) columns, and fill in same-name
    columns. `default_tz` is the zone of times without an offset when the mapping names none (None: such
    times are rejected, as a live feed must say which zone it writes)."""
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
    # A column named in another case or with stray spaces ("CAD_NUMBER ") is still that column.
    folded_columns = {col.strip().casefold(): col for col in reversed(columns)}
    spec = replace(
        spec,
        fields={
            name: tuple(col if col in column_set else folded_columns.get(col.strip().casefold(), col) for col in cols)
            for name, cols in spec.fields.items()
        },
    )
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
                same = [col for col in columns if col.casefold() == alias]
                if len(same) > 1:
                    raise MappingError(f"{name}: columns {', '.join(map(repr, same))} both match; map the one to use")
                mapped[name] = (by_folded[alias],)
                break

    if spec.wkt and spec.wkt not in column_set:
        raise MappingError(f"wkt: column {spec.wkt!r} not in the file; columns are {', '.join(columns)}")
    tz_name = spec.tz or default_tz
    tz: tzinfo | None = None
    if tz_name:
        try:
            tz = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(
                f"unknown time zone {tz_name!r} (use an IANA name such as America/Los_Angeles)"
            ) from None
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
                    target = choice(str(target), fspec, name)
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
        wkt=spec.wkt,
    )
    constants: dict[str, Any] = {}
    for name, value in spec.constants.items():
        fspec = known[name]
        try:
            converted = _convert(name, fspec, clean(value), mapping)
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
    warnings = []
    located = True
    # (A layer may place a record without coordinates by its beat: apps.incidents.bulk.)
    if (
        layer.is_point
        and not has_geometry
        and not spec.wkt
        and not (covered("lon") and covered("lat"))
        and not covered("beat_code")
    ):
        # Not a mapping error: a listing without coordinates (TfL's camera bucket) is read, and every row
        # is rejected saying so, which is what the operator needs to hear about that file.
        located = False
        warnings.append(
            f"the file has no location for {layer.name}: no lon/lat columns, geometry or wkt column "
            "(--map lon=COLUMN --map lat=COLUMN); every row will be rejected"
        )
    if layer.has_place and not layer.is_point and not has_geometry and not spec.wkt and not covered("geometry"):
        raise MappingError("zones need a geometry: use GeoJSON, map a column holding GeoJSON geometry, or a wkt column")
    if layer.name == "cameras" and not covered("external_id"):
        warnings.append("no external_id column: cameras cannot be matched, so every import creates new ones")
    return replace(mapping, constants=constants, warnings=tuple(warnings), located=located)


# ---------------------------------------------------------------------------------------------------------------------
# Converting one record


def _convert(name: str, spec: FieldSpec, value: Any, mapping: Mapping) -> Any:
    """One cleaned, non-empty value (or None) -> the Python value the service takes."""
    if value is None:
        return None
    return converter(
        name, spec, formats=mapping.datetime_formats, tz=mapping.tz, geometry_types=mapping.layer.geometry_types
    )(value)


def _coordinate(read: Read | None, name: str, record: Record) -> Any:
    if read is None:
        return None
    try:
        return read(record.values)
    except RowError as exc:
        exc.field = exc.field or name
        raise


def _location(record: Record, mapping: Mapping) -> Point | LonLat:
    if not mapping.located:
        raise RowError("no location: the file has no lon/lat columns, geometry or wkt column", field="location")
    if mapping.wkt and record.geometry is None:
        text = clean(record.values.get(mapping.wkt))
        if text is None:
            raise RowError(f"no location: column {mapping.wkt!r} is empty", field="location")
        record = replace(record, geometry=geojson_from_wkt(str(text)))
    if record.geometry is not None:
        lon, lat = lon_lat_from_geojson(geometry=record.geometry)
    else:
        lon = _coordinate(mapping.places["lon"], "lon", record)
        lat = _coordinate(mapping.places["lat"], "lat", record)
        if lon is None or lat is None:
            raise RowError("no location: lon/lat are empty" if mapping.columns.get("lon") else "no geometry")
    # CAD exports write 0,0 for "no fix"; a real call at Null Island is not going to happen.
    if lon == 0 and lat == 0:
        raise RowError("no location: coordinates are 0,0")
    try:
        if mapping.points_as_numbers:
            return LonLat(*check_lon_lat(lon, lat))
        return make_point(lon, lat)
    except GeoInputError as exc:
        raise RowError(str(exc)) from None


# ---------------------------------------------------------------------------------------------------------------------
# Unmapped columns (apps.intake.specs LayerSpec.keeps_unmapped)


def unmapped_values(*, record: Record, mapping: Mapping) -> dict[str, Any]:
    """The record's non-empty values in columns no field reads, as they came (a derived key's columns
    are kept too: they only stand in for an empty key)."""
    used = mapping.used_columns
    kept: dict[str, Any] = {}
    for column, value in record.values.items():
        if column in used:
            continue
        value = clean(value)
        if value is not None:
            kept[column] = value
    return kept


def convert_record(*, record: Record, mapping: Mapping) -> dict[str, Any]:
    """One record -> keyword arguments for the layer's service (without agency_id/source). A point layer
    with a bulk writer gets its `location` as a `LonLat` (x, y numbers), any other as a GEOS Point."""
    if record.problem:
        raise RowError(record.problem, field=record.problem_field)
    layer = mapping.layer
    values = record.values
    kwargs: dict[str, Any] = dict(mapping.row_constants)
    for step in mapping.steps:
        try:
            value = step.read(values) if step.read is not None else None
        except RowError as exc:
            exc.field = exc.field or step.name
            raise
        if value is None:
            if step.required:
                raise RowError(step.missing, field=step.name)
            continue
        kwargs[step.name] = value
    if layer.keeps_unmapped:
        kwargs["attributes"] = unmapped_values(record=record, mapping=mapping)
    if layer.is_point:
        try:
            kwargs["location"] = _location(record, mapping)
        except RowError as exc:
            if record.geometry is not None or not kwargs.get("beat_code"):
                exc.field = exc.field or "location"
                raise
            kwargs["location"] = None  # no coordinates: the writer places it on its beat
        return kwargs
    if not layer.has_place:
        return kwargs
    if mapping.wkt and record.geometry is None and clean(record.values.get(mapping.wkt)) is not None:
        record = replace(record, geometry=geojson_from_wkt(str(clean(record.values.get(mapping.wkt)))))
    if record.geometry is not None:
        geom = geometry_from_geojson(geometry=record.geometry, allowed=layer.geometry_types)
    else:
        read = mapping.places.get("geometry")
        geom = read(record.values) if read is not None else None
    if geom is None:
        raise RowError("no geometry")
    kwargs["geom"] = geom
    return kwargs
