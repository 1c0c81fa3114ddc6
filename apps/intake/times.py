"""Dates and times as sources write them: strptime formats, ISO 8601, epoch seconds or milliseconds."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from functools import lru_cache

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


# strptime's own patterns (CPython's _strptime.TimeRE) for the directives CAD exports use, with \d spelled
# [0-9]: on ASCII text the same regex, so the same match. Any other directive leaves the format to strptime.
_DIRECTIVES = {
    "Y": r"(?P<Y>[0-9][0-9][0-9][0-9])",
    "m": r"(?P<m>1[0-2]|0[1-9]|[1-9])",
    "d": r"(?P<d>3[0-1]|[1-2][0-9]|0[1-9]|[1-9]| [1-9])",
    "H": r"(?P<H>2[0-3]|[0-1][0-9]|[0-9])",
    "I": r"(?P<I>1[0-2]|0[1-9]|[1-9])",
    "M": r"(?P<M>[0-5][0-9]|[0-9])",
    "S": r"(?P<S>6[0-1]|[0-5][0-9]|[0-9])",
    "f": r"(?P<f>[0-9]{1,6})",
    "p": r"(?P<p>am|pm)",
}
# A format's fast reader: the datetime, NO_MATCH (strptime would say "time data ... does not match" or
# "unconverted data remains", messages parse_datetime never shows), or None (ask strptime for its reason).
NO_MATCH = False
FastReader = Callable[[str], datetime | bool | None]


def _am_pm() -> tuple[str, str]:
    # What strptime's %p matches in this locale (_strptime.LocaleTime: 1 am and 10 pm, lower-cased).
    return (
        time.strftime("%p", (1999, 3, 17, 1, 44, 55, 2, 76, 0)).lower(),
        time.strftime("%p", (1999, 3, 17, 22, 44, 55, 2, 76, 0)).lower(),
    )


@lru_cache(maxsize=64)
def fast_reader(fmt: str) -> FastReader | None:
    """A reader giving exactly what datetime.strptime(text, fmt) gives for ASCII text, without strptime's
    per-call locale checks and lock (a few microseconds a row, a large part of a bulk import); None when
    `fmt` uses a directive it does not know (the caller then uses strptime)."""
    parts: list[str] = []
    used: set[str] = set()
    rest = re.sub(r"\s+", " ", fmt)  # strptime reads any run of whitespace in a format as \s+
    while rest:
        if rest[0] == "%":
            directive = rest[1:2]
            if directive not in _DIRECTIVES or directive in used:
                return None
            used.add(directive)
            parts.append(_DIRECTIVES[directive])
            rest = rest[2:]
        else:
            parts.append(r"\s+" if rest[0] == " " else re.escape(rest[0]))
            rest = rest[1:]
    if not {"Y", "m", "d"} <= used or {"H", "I"} <= used or ("p" in used and _am_pm() != ("am", "pm")):
        return None  # strptime's defaults and leap-year rules for a missing date part, two hours, another locale
    match = re.compile("".join(parts), re.IGNORECASE).match
    twelve = "I" in used

    def read(text: str) -> datetime | bool | None:
        if not text.isascii():
            return None  # strptime's \d and \s also take other scripts' digits and spaces
        found = match(text)
        if found is None or found.end() != len(text):
            return NO_MATCH
        groups = found.groupdict()
        if twelve:
            hour = int(groups["I"])
            ampm = (groups.get("p") or "").lower()
            if ampm in ("", "am"):
                hour = 0 if hour == 12 else hour
            elif hour != 12:
                hour += 12
        else:
            hour = int(groups.get("H") or 0)
        fraction = groups.get("f")
        try:
            return datetime(
                int(groups["Y"]),
                int(groups["m"]),
                int(groups["d"]),
                hour,
                int(groups.get("M") or 0),
                int(groups.get("S") or 0),
                int(fraction + "0" * (6 - len(fraction))) if fraction else 0,
            )
        except ValueError:
            return None  # 30 February, second 60: strptime words the reason

    return read


def parse_datetime(*, text: str, formats: tuple[str, ...], tz: tzinfo | None, name: str = "date") -> datetime:
    """Read a date/time with the given strptime formats, then ISO 8601; naive results are taken in `tz`.

    A naive time is localised with fold=0: in the autumn overlap it is the first (daylight) instant, and a
    time in the spring-forward gap gets the offset from before the gap. Neither is an error, as a CAD
    clock may well write them.
    """
    errors: list[str] = []
    parsed: datetime | None = None
    for fmt in formats:
        fast = fast_reader(fmt)
        found = fast(text) if fast is not None else None
        if found is NO_MATCH:
            continue
        if found is not None:
            parsed = found  # type: ignore[assignment]
            break
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
    if parsed is None and text.isascii() and text.isdigit():
        if len(text) in (12, 14):
            # YYYYMMDDHHMM[SS], as CAD systems write compact times; never milliseconds of the 1970s-90s.
            try:
                parsed = datetime.strptime(text, "%Y%m%d%H%M%S" if len(text) == 14 else "%Y%m%d%H%M")
            except ValueError as exc:
                errors.append(str(exc))
        elif len(text) >= 9:  # seconds (or, from 13 digits, milliseconds) since 1970
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
