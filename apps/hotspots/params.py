"""What a hotspot run may be asked for: the one place its parameters are checked and normalised.

Filters (all optional): `types` (incident type codes), `start`/`end` (dates, both included, in the
agency's time zone; default the last 28 days up to today), `hour_start`/`hour_end` (0-23, both
included; a window wraps midnight when start > end, e.g. 22-3), `days` (ISO weekdays, 1 = Monday).
Grid: `resolution` (H3, 7-10), `permutations` (0 or 99-9999), `inference` ("normal": class from the
analytical z-score, the default; "permutation": from esda's p_sim). KDE: `bandwidth_m`, `cell_m`.
Compare: `compare_start`/`compare_end` (period B; default the same dates a year earlier).
Gaps: `min_confidence` (90/95/99), `covered_threshold` (share of a cell the cameras must see for it
to count as covered, 0-1).

A normalised dict is stable (sorted lists, every default filled in), so identical questions hash
alike and reuse one cached run.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from django.core.exceptions import ValidationError

from apps.core.params import ParamError, check_date, check_int

from .choices import RunKind

DEFAULT_DAYS = 28
MAX_RANGE_DAYS = 3 * 366
RESOLUTIONS = (7, 10)
DEFAULT_RESOLUTION = 8
DEFAULT_PERMUTATIONS = 999
PERMUTATION_RANGE = (99, 9999)
BANDWIDTH_RANGE = (50, 3000)
DEFAULT_BANDWIDTH = 300
CELL_RANGE = (25, 1000)
DEFAULT_CELL = 100
CONFIDENCES = (90, 95, 99)
DEFAULT_COVERED = 0.5
SEED = 20240601  # fixed: the same data and parameters give the same p_sim

_FILTER_KEYS = {"types", "start", "end", "hour_start", "hour_end", "days"}
_KIND_KEYS = {
    RunKind.KDE: {"bandwidth_m", "cell_m"},
    RunKind.GISTAR: {"resolution", "permutations", "inference"},
    RunKind.COMPARE: {"resolution", "permutations", "inference", "compare_start", "compare_end"},
    RunKind.GAPS: {"resolution", "permutations", "inference", "min_confidence", "covered_threshold"},
}


def _int(raw: Any, name: str, low: int, high: int, errors: dict) -> int | None:
    # A whole float (8.0) is accepted as JSON clients write it; 1e400 (inf), nan and "²" are not.
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if not isinstance(raw, int | str) or isinstance(raw, bool):
        errors[name] = f"must be an integer between {low} and {high}, got {raw!r}"
        return None
    try:
        return check_int(name, raw, low=low, high=high)
    except ParamError as exc:
        errors[name] = exc.reason
        return None


def _date(raw: Any, name: str, errors: dict) -> date | None:
    try:
        return check_date(name, raw)
    except ParamError as exc:
        errors[name] = exc.reason
        return None


def _period(raw: dict, start_key: str, end_key: str, default: tuple[date, date], errors: dict):
    start = _date(raw[start_key], start_key, errors) if raw.get(start_key) not in (None, "") else default[0]
    end = _date(raw[end_key], end_key, errors) if raw.get(end_key) not in (None, "") else default[1]
    if start is None or end is None:
        return None, None
    if end < start:
        errors[end_key] = f"must not be before {start_key} ({start.isoformat()})"
    elif (end - start).days + 1 > MAX_RANGE_DAYS:
        errors[end_key] = f"the period is longer than {MAX_RANGE_DAYS} days"
    return start, end


def hours_in_window(hour_start: int | None, hour_end: int | None) -> list[int] | None:
    """The hours of day a window covers (both ends included, wrapping midnight); None: all day."""
    if hour_start is None or hour_end is None:
        return None
    if hour_start <= hour_end:
        return list(range(hour_start, hour_end + 1))
    return list(range(hour_start, 24)) + list(range(0, hour_end + 1))


def normalise(kind: str, raw: Any, *, known_types: set[str], today: date) -> dict:
    """The validated, complete parameters of a run; ValidationError naming each bad parameter."""
    if kind not in RunKind.values:
        raise ValidationError({"kind": [f"unknown kind {kind!r}; use {', '.join(RunKind.values)}"]})
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ValidationError({"params": ["must be an object"]})
    errors: dict[str, str] = {}
    allowed = _FILTER_KEYS | _KIND_KEYS[RunKind(kind)]
    for key in sorted(set(raw) - allowed):
        errors[key] = f"not a parameter of a {kind} run (allowed: {', '.join(sorted(allowed))})"

    out: dict[str, Any] = {}
    types = raw.get("types") or []
    if isinstance(types, str):
        types = [t for t in types.split(",") if t]
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
        errors["types"] = "must be a list of incident type codes"
        types = []
    unknown = sorted(set(types) - known_types)
    if unknown:
        errors["types"] = f"no incidents of type {', '.join(unknown)} in this agency"
    out["types"] = sorted(set(types))

    start, end = _period(raw, "start", "end", (today - timedelta(days=DEFAULT_DAYS - 1), today), errors)
    out["start"] = start.isoformat() if start else None
    out["end"] = end.isoformat() if end else None

    has_start, has_end = raw.get("hour_start") is not None, raw.get("hour_end") is not None
    if has_start != has_end:
        errors["hour_end" if has_start else "hour_start"] = "give both hour_start and hour_end, or neither"
    out["hour_start"] = _int(raw["hour_start"], "hour_start", 0, 23, errors) if has_start else None
    out["hour_end"] = _int(raw["hour_end"], "hour_end", 0, 23, errors) if has_end else None

    days = raw.get("days") or []
    if not isinstance(days, list):
        errors["days"] = "must be a list of ISO weekdays (1 = Monday .. 7 = Sunday)"
        days = []
    checked = {_int(d, "days", 1, 7, errors) for d in days}
    out["days"] = sorted(d for d in checked if d is not None)

    kind_keys = _KIND_KEYS[RunKind(kind)]
    if "resolution" in kind_keys:
        out["resolution"] = _int(raw.get("resolution", DEFAULT_RESOLUTION), "resolution", *RESOLUTIONS, errors)
        perms = raw.get("permutations", DEFAULT_PERMUTATIONS)
        out["permutations"] = 0 if perms in (0, "0") else _int(perms, "permutations", *PERMUTATION_RANGE, errors)
        inference = raw.get("inference", "normal")
        if inference not in ("normal", "permutation"):
            errors["inference"] = "must be 'normal' or 'permutation'"
        elif inference == "permutation" and out["permutations"] == 0:
            errors["inference"] = "permutation inference needs permutations > 0"
        out["inference"] = inference
    if "bandwidth_m" in kind_keys:
        out["bandwidth_m"] = _int(raw.get("bandwidth_m", DEFAULT_BANDWIDTH), "bandwidth_m", *BANDWIDTH_RANGE, errors)
        out["cell_m"] = _int(raw.get("cell_m", DEFAULT_CELL), "cell_m", *CELL_RANGE, errors)
    if "compare_start" in kind_keys and start and end:
        default_b = (_year_before(start), _year_before(end))
        b_start, b_end = _period(raw, "compare_start", "compare_end", default_b, errors)
        out["compare_start"] = b_start.isoformat() if b_start else None
        out["compare_end"] = b_end.isoformat() if b_end else None
    if "min_confidence" in kind_keys:
        level = _int(raw.get("min_confidence", 95), "min_confidence", 90, 99, errors)
        if level is not None and level not in CONFIDENCES:
            errors["min_confidence"] = "must be 90, 95 or 99"
        out["min_confidence"] = level
        try:
            threshold = float(raw.get("covered_threshold", DEFAULT_COVERED))
            if not 0 < threshold <= 1:
                raise ValueError
            out["covered_threshold"] = threshold
        except (TypeError, ValueError, OverflowError):  # OverflowError: a 400-digit JSON integer
            errors["covered_threshold"] = "must be a number in (0, 1]"
    if errors:
        raise ValidationError({k: [v] for k, v in errors.items()})
    return out


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def params_hash(kind: str, params: dict) -> str:
    return hashlib.sha256(json.dumps([kind, params], sort_keys=True).encode()).hexdigest()
