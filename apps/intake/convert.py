"""Reading one field of a record: the value conversions of apps.intake.mapping, decided once per mapping.

`converter()` picks a field's conversion (text, choice, number, yes/no, date/time, geometry) when the
mapping is compiled, and `reader()` adds where the value comes from (columns, value translations, a
derived key), so converting a row is one call per field with no lookups by kind or name. A bulk import
converts every row of a file this way: the per-row dispatch used to cost as much as the conversions.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from django.db import models

from apps.incidents.choices import IncidentStatus
from apps.intake.errors import RowError
from apps.intake.geometry import geometry_from_geojson
from apps.intake.specs import FieldSpec
from apps.intake.times import epoch_datetime, parse_datetime
from apps.intake.vocab import STATUS_WORDS, status_key

TRUE_WORDS = frozenset({"1", "true", "t", "yes", "y", "on"})
FALSE_WORDS = frozenset({"0", "false", "f", "no", "n", "off"})
# A choice field whose source spells its values many ways reads them through one word list (apps.intake.vocab).
CHOICE_SYNONYMS: dict[type[models.TextChoices], tuple[dict[str, str], Callable[[str], str]]] = {
    IncidentStatus: (STATUS_WORDS, status_key)
}

Convert = Callable[[Any], Any]  # one cleaned, non-empty value -> the service's value (RowError if it cannot)
Read = Callable[[dict[str, Any]], Any]  # a record's values -> the field's value, or None


def choice_lookup(choices: type[models.TextChoices]) -> dict[str, str]:
    lookup = {str(label).casefold(): value for value, label in choices.choices}
    lookup.update({value.casefold(): value for value in choices.values})
    return lookup


_CHOICE_LOOKUPS: dict[type[models.TextChoices], dict[str, str]] = {}


def choice(value: str, spec: FieldSpec, name: str) -> str:
    assert spec.choices is not None
    lookup = _CHOICE_LOOKUPS.get(spec.choices)
    if lookup is None:
        lookup = _CHOICE_LOOKUPS[spec.choices] = choice_lookup(spec.choices)
    found = lookup.get(value.casefold())
    if found is None and spec.choices in CHOICE_SYNONYMS:
        words, key = CHOICE_SYNONYMS[spec.choices]
        found = words.get(key(value))
    if found is None:
        raise RowError(f"{name} {value!r} is not one of {', '.join(spec.choices.values)}", field=name)
    return found


def clean(value: Any) -> Any:
    """Strip text; None for empty."""
    if value is None:
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise RowError(f"{name} must be a number, got {value!r}")
    try:
        found = float(value)
    except (ValueError, OverflowError):  # OverflowError: an integer of hundreds of digits
        raise RowError(f"{name} must be a number, got {str(value)[:40]!r}") from None
    if not math.isfinite(found):
        raise RowError(f"{name} must be a finite number, got {value!r}")
    return found


def _not_single(name: str, value: Any) -> RowError:
    return RowError(f"{name} must be a single value, got {type(value).__name__}")


def converter(
    name: str, spec: FieldSpec, *, formats: tuple[str, ...], tz: tzinfo | None, geometry_types: tuple[str, ...]
) -> Convert:
    """The conversion of this field's cleaned, non-empty values (`formats` and `tz` read its dates and times,
    `geometry_types` are the layer's)."""
    kind = spec.kind
    if kind == "text":
        limit = spec.max_length

        def text(value: Any) -> Any:
            if not isinstance(value, str):
                if isinstance(value, dict | list):
                    raise _not_single(name, value)
                value = str(value)
            if limit and len(value) > limit:
                raise RowError(f"{name} is longer than {limit} characters")
            return value

        return text
    if kind == "choice":
        assert spec.choices is not None
        lookup = _CHOICE_LOOKUPS.get(spec.choices) or _CHOICE_LOOKUPS.setdefault(
            spec.choices, choice_lookup(spec.choices)
        )

        def one_of(value: Any) -> Any:
            if isinstance(value, dict | list):
                raise _not_single(name, value)
            word = str(value)
            return lookup.get(word.casefold()) or choice(word, spec, name)

        return one_of
    if kind in ("int", "float", "coordinate"):
        whole = kind == "int"
        bounds = spec.bounds

        def numeric(value: Any) -> Any:
            if isinstance(value, dict | list):
                raise _not_single(name, value)
            found: float | int = number(value, name)
            if whole:
                if not found.is_integer():
                    raise RowError(f"{name} must be a whole number, got {value!r}")
                found = int(found)
            if bounds and not bounds[0] <= found <= bounds[1]:
                raise RowError(f"{name} {value} is outside {bounds[0]:g}..{bounds[1]:g}")
            return found

        return numeric
    if kind == "bool":

        def yes_no(value: Any) -> Any:
            if isinstance(value, bool):
                return value
            if isinstance(value, dict | list):
                raise _not_single(name, value)
            word = str(value).casefold()
            if word in TRUE_WORDS:
                return True
            if word in FALSE_WORDS:
                return False
            raise RowError(f"{name} must be yes/no, true/false or 1/0, got {value!r}")

        return yes_no
    if kind == "datetime":

        def when(value: Any) -> Any:
            if isinstance(value, str):
                return parse_datetime(text=value, formats=formats, tz=tz, name=name)
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    seconds = float(value)
                except OverflowError:
                    raise RowError(f"{name} {str(value)[:40]}... is out of range", field=name) from None
                return epoch_datetime(value=seconds, name=name)
            if isinstance(value, dict | list):
                raise _not_single(name, value)
            raise RowError(f"{name} must be a date/time text, got {value!r}")

        return when
    if kind == "geometry":

        def shape(value: Any) -> Any:
            if isinstance(value, str):
                try:
                    value = json.loads(value)
                except json.JSONDecodeError:
                    raise RowError(f"{name} must be a GeoJSON geometry") from None
            return geometry_from_geojson(geometry=value, allowed=geometry_types)

        return shape
    raise AssertionError(f"unhandled field kind {kind}")


def derive(values: dict[str, Any], prefix: str, columns: tuple[str, ...]) -> str | None:
    """prefix + a hash of the columns' values; None when they are all empty."""
    parts = [str(clean(values.get(column)) or "") for column in columns]
    if not any(parts):
        return None
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8"), usedforsecurity=False).hexdigest()[:16]
    return f"{prefix}{digest}"


def reader(
    name: str,
    spec: FieldSpec,
    convert: Convert,
    *,
    columns: tuple[str, ...],
    table: dict[str, Any] | None,
    derived: tuple[str, tuple[str, ...]] | None,
) -> Read | None:
    """The field's value from a record's values: the first non-empty of its columns, translated by the
    mapping's `table` (keys casefolded), else the `derived` (prefix, columns) key, converted. None when the
    field has no source at all (its value would always be None)."""
    if not columns and derived is None:
        return None
    if len(columns) == 1 and table is None and derived is None:
        column = columns[0]

        def single(values: dict[str, Any]) -> Any:
            value = values.get(column)
            if isinstance(value, str):
                value = value.strip()
                if not value:
                    return None
            elif value is None:
                return None
            return convert(value)

        return single

    def read(values: dict[str, Any]) -> Any:
        value = None
        for column in columns:
            value = clean(values.get(column))
            if value is not None:
                break
        if table is not None and value is not None:
            key = str(value).casefold()
            if key in table:
                value = clean(table[key])
            elif spec.kind == "choice":
                try:
                    return convert(value)
                except RowError:
                    raise RowError(f"{name} {value!r} has no translation in the mapping's values.{name}") from None
        if value is None and derived is not None:
            value = derive(values, *derived)
        return None if value is None else convert(value)

    return read
