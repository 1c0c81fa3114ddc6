"""Dates and times as sources write them: strptime formats, ISO 8601, epoch seconds or milliseconds."""

from __future__ import annotations

import math
from datetime import UTC, datetime, tzinfo

from apps.intake.errors import RowError

# Dates outside this window are typos or placeholders (0001-01-01, 9999-12-31), never calls for service.
MIN_YEAR, MAX_YEAR = 1900, 2100
# Epoch times: seconds (or milliseconds above this) since 1970, as numbers or digit-only text of 9+ digits.
EPOCH_MS_ABOVE = 1e11


def epoch_datetime(*, value: float, name: str = "date") -> datetime:
    """Seconds (or milliseconds) since 1970 as an aware UTC datetime."""
    if not math.isfinite(value):
        raise RowError(f"{name} {value!r} is not a finite number", field=name)
    seconds = value / 1000.0 if abs(value) > EPOCH_MS_ABOVE else value
    try:
        parsed = datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise RowError(f"{name} {value!r} is out of range", field=name) from None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise RowError(f"{name} {value!r} is not a plausible date (year outside {MIN_YEAR}..{MAX_YEAR})", field=name)
    return parsed


def parse_datetime(*, text: str, formats: tuple[str, ...], tz: tzinfo | None, name: str = "date") -> datetime:
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
    if parsed is None and text.isdigit() and len(text) >= 9:
        return epoch_datetime(value=float(text), name=name)
    if parsed is None:
        expected = " or ".join([*formats, "ISO 8601"])
        # strptime/fromisoformat say *what* is wrong (hour 24, 30 February) in some messages; keep those.
        details = [e for e in errors if not e.startswith(("time data", "unconverted data", "Invalid isoformat"))]
        detail = f": {details[-1]}" if details else ""
        raise RowError(f"{name} {text!r} is not a valid date/time (expected {expected}){detail}", field=name)
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise RowError(f"{name} {text!r} is not a plausible date (year outside {MIN_YEAR}..{MAX_YEAR})", field=name)
    if parsed.tzinfo is None:
        if tz is None:
            raise RowError(f"{name} {text!r} has no UTC offset and the mapping names no tz for such times", field=name)
        parsed = parsed.replace(tzinfo=tz)
    return parsed
