"""The feeds' side of the one intake pipeline: a FeedSource's mapping, the shared readers on a payload,
and `convert_record` per record, exactly as `manage.py import_layer` does for a file.

A source's ``params`` carry its mapping in the mapping-file format (fixtures/mappings/README.md)::

    {"mapping": {"fields": {"cad_number": "Event No", ...}, "tz": "America/Los_Angeles", ...}}
    {"mapping": "spd_911_2016"}        # a named file in fixtures/mappings/

plus what is specific to the adapter's protocol (``encoding`` of a CSV payload). Older top-level words
are read as aliases and documented as such: ``fields`` (mapping.fields), ``timezone`` (mapping.tz),
``delimiter`` (mapping.delimiter) and ``statuses`` (mapping.values.status); migration
feeds/0003 rewrote the stored sources to the mapping form.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from apps.intake.errors import ImportFileError, MappingError, RowError
from apps.intake.mapping import Mapping, MappingSpec, compile_mapping, mapping_spec_from_dict, parse_datetime
from apps.intake.readers import Record, open_source, raw_text, without_userinfo
from apps.intake.specs import LAYERS
from apps.intake.vocab import LAT_ALIASES, LON_ALIASES

from .base import PayloadError, Rejected, check_payload_size
from .common import RecordError

MAPPINGS_DIR = Path(settings.BASE_DIR) / "fixtures" / "mappings"
MAPPING_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,80}")
# Older top-level params words and where they live in a mapping.
ALIASES = {"fields": "fields", "timezone": "tz", "delimiter": "delimiter"}


def named_mapping(name: str) -> dict[str, Any]:
    """The mapping document of fixtures/mappings/<name>.json (name with or without .json)."""
    if not MAPPING_NAME.fullmatch(name) or ".." in name:
        raise PayloadError(f"params 'mapping' {name[:80]!r} is not a mapping file name")
    path = MAPPINGS_DIR / (name if name.endswith(".json") else f"{name}.json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PayloadError(f"params 'mapping': no mapping file {path.name} in fixtures/mappings") from None
    except (OSError, ValueError) as exc:
        raise PayloadError(f"params 'mapping': {path.name} cannot be read: {exc}") from None


def mapping_document(params: dict | None) -> dict[str, Any]:
    """The source's mapping as one document: params['mapping'] (inline or named) with the aliases folded in."""
    params = params or {}
    given = params.get("mapping")
    if given is None:
        document: dict[str, Any] = {}
    elif isinstance(given, str):
        document = named_mapping(given)
    elif isinstance(given, dict):
        document = json.loads(json.dumps(given))  # a deep copy: the source's params stay as stored
    else:
        raise PayloadError("params 'mapping' must be a mapping object or the name of a mapping file")
    for alias, key in ALIASES.items():
        if params.get(alias) not in (None, "", {}):
            if key in document:
                raise PayloadError(f"params {alias!r} and mapping.{key} both given; keep mapping.{key}")
            document[key] = params[alias]
    if params.get("statuses"):
        values = document.setdefault("values", {})
        if not isinstance(values, dict):
            raise PayloadError("params 'mapping' values must be an object")
        if not isinstance(params["statuses"], dict):
            raise PayloadError("params 'statuses' must be an object mapping a source word to a status")
        values["status"] = {**params["statuses"], **(values.get("status") or {})}
    return document


def feed_mapping_spec(params: dict | None, *, extra_fields: tuple[str, ...] = ()) -> tuple[MappingSpec, dict]:
    """The source's MappingSpec, and the columns of the adapter's own fields (`extra_fields`, e.g. a CAD
    feed's `units`) taken out of `fields` before the layer checks them."""
    document = mapping_document(params)
    try:
        spec = mapping_spec_from_dict(data=document, origin="params 'mapping'")
    except MappingError as exc:
        raise PayloadError(str(exc)) from None
    extras = {name: spec.fields[name] for name in extra_fields if name in spec.fields}
    fields = {name: cols for name, cols in spec.fields.items() if name not in extras}
    return replace(spec, fields=fields), extras


def extra_columns(extras: dict, names: tuple[str, ...], columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Columns of the adapter's own fields: mapped ones (checked), else a column of the same name."""
    by_folded = {column.casefold(): column for column in reversed(columns)}
    found: dict[str, tuple[str, ...]] = {}
    for name in names:
        if name in extras:
            missing = [col for col in extras[name] if col not in columns]
            if missing:
                raise PayloadError(f"{name}: column(s) {', '.join(map(repr, missing))} not in the payload")
            found[name] = extras[name]
        elif name in by_folded:
            found[name] = (by_folded[name],)
    return found


@contextmanager
def mapped_payload(
    payload: bytes,
    *,
    fmt: str,
    spec: MappingSpec,
    layer: str,
    encoding: str = "utf-8-sig",
    json_path: str | None = None,
) -> Iterator[tuple[Mapping, Any]]:
    """Open a payload with the shared readers and compile the mapping against it; PayloadError for a payload
    or mapping nothing can be read with. Yields (mapping, opened source)."""
    check_payload_size(payload)
    try:
        with open_source(
            data=payload,
            fmt=fmt,
            delimiter=spec.delimiter,
            json_path=spec.json_path or json_path,
            record_element=spec.record_element,
            encoding=encoding,
        ) as opened:
            mapping = compile_mapping(
                spec=spec,
                layer=LAYERS[layer],
                columns=opened.columns,
                has_geometry=opened.has_geometry,
                default_tz=None,
            )
            if not mapping.located:
                raise PayloadError(mapping.warnings[-1])
            yield mapping, opened
    except (ImportFileError, MappingError) as exc:
        raise PayloadError(str(exc)) from None


def rejection(record: Record, exc: RowError | ValueError, *, delimiter: str = ",") -> Rejected:
    """The feed's rejection for a record: 0-based index in the payload, its line, field and reason."""
    return Rejected(
        index=record.index - 1,
        reason=without_userinfo(str(exc)),
        raw=raw_text(record=record, delimiter=delimiter)[:2000],
        field=getattr(exc, "field", ""),
        line=record.line,
    )


def _lookup(item: dict, column: str) -> Any:
    """A key of the record, or a dotted path into nested objects ("position.lat") when there is no such key."""
    if column in item:
        return item[column]
    value: Any = item
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def object_mapping(
    params: dict | None, *, fields: tuple[str, ...], times: tuple[str, ...] = ()
) -> Callable[[Any], Any] | None:
    """For the JSON adapters with a fixed record shape (alert_json, gunshot_json, alpr_json): the source's
    mapping as a function that renames a vendor's record into the adapter's own keys, applying `fields`,
    `constants`, `values`, and `datetime_format`/`tz` for the time fields; None without a mapping.
    The adapter's own checks then run on the renamed record as on a native one."""
    if (params or {}).get("mapping") is None:
        return None
    spec, _ = feed_mapping_spec(params)
    known = set(fields)
    for what, names in (("fields", spec.fields), ("constants", spec.constants), ("values", spec.values)):
        unknown = sorted(set(names) - known)
        if unknown:
            raise PayloadError(f"mapping {what}: unknown field(s) {', '.join(unknown)}; fields are {', '.join(fields)}")
    try:
        tz = ZoneInfo(spec.tz) if spec.tz else None
    except (ZoneInfoNotFoundError, ValueError):
        raise PayloadError(f"unknown time zone {spec.tz!r} (use an IANA name such as America/Los_Angeles)") from None
    tables = {name: {str(k).strip().casefold(): v for k, v in table.items()} for name, table in spec.values.items()}

    def rename(item: Any) -> Any:
        if not isinstance(item, dict):
            return item
        out = dict(item)
        for name, columns in spec.fields.items():
            out[name] = next((v for v in (_lookup(item, c) for c in columns) if v not in (None, "")), None)
        out.update(spec.constants)
        for name, table in tables.items():
            value = out.get(name)
            if value is not None and str(value).strip().casefold() in table:
                out[name] = table[str(value).strip().casefold()]
        for name in times:
            value = out.get(name)
            if isinstance(value, str) and value.strip() and (spec.datetime_formats or tz):
                try:
                    out[name] = parse_datetime(
                        text=value.strip(), formats=spec.datetime_formats, tz=tz, name=name
                    ).isoformat()
                except RowError as exc:
                    raise RecordError(str(exc), field=name) from None
        return out

    return rename


def payload_items(payload: bytes, params: dict | None, *, key: str, what: str) -> list:
    """The record list of a JSON payload: under the mapping's `json_path` when it names one, else a
    top-level list or the list under the adapter's own `key`."""
    from .common import json_list, load_json

    data = load_json(payload)
    given = (params or {}).get("mapping")
    path = mapping_document(params).get("json_path") if given is not None else None
    if path:
        for part in str(path).split("."):
            if not isinstance(data, dict) or part not in data:
                raise PayloadError(f"mapping json_path {path!r} not found in the payload (no {part!r})")
            data = data[part]
        if not isinstance(data, list):
            raise PayloadError(f"mapping json_path {path!r} is not a list of {what}")
        return data
    return json_list(data, key, what)


def renamed(build: Callable[[Any], Any], rename: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """`build` applied to each record after the source's mapping renamed it (as is without a mapping)."""
    if rename is None:
        return build
    return lambda item: build(rename(item))


def check_source_params(*, kind: str, params: dict | None) -> None:
    """Check a source's mapping when the source is saved, before any payload arrives: PayloadError naming
    what cannot work (an unknown field, a bad time zone or status word, a missing mapping file). Columns are
    checked against each payload's header when it comes."""
    if not isinstance(params, dict):
        raise PayloadError("params must be an object")
    if kind in ("cad_csv", "cad_json"):
        if kind == "cad_json" and params.get("mapping") is None:
            from .common import status_words

            status_words(params)
            return
        from .cad_csv import FEED_FIELDS

        spec, _ = feed_mapping_spec(params, extra_fields=FEED_FIELDS)
        layer = LAYERS["incidents"]
        # Every column the mapping names, and every same-name or alias column a payload may bring.
        names = [col for cols in spec.fields.values() for col in cols]
        names += [col for rule in spec.derived_keys.values() for col in rule.columns]
        names += [*layer.fields, *LON_ALIASES, *LAT_ALIASES, *([spec.wkt] if spec.wkt else [])]
        try:
            compile_mapping(
                spec=spec, layer=layer, columns=tuple(dict.fromkeys(names)), has_geometry=False, default_tz=None
            )
        except MappingError as exc:
            raise PayloadError(str(exc)) from None
        return
    if kind in ("alert_json", "gunshot_json", "alpr_json") and params.get("mapping") is not None:
        module = importlib.import_module(f"apps.feeds.adapters.{kind}")
        object_mapping(params, fields=module.FIELDS)
