"""The one parser for request parameters: every API query parameter, path id and WebSocket number
goes through here, so hostile input is a 400 naming the parameter and the reason, never a 500.

What it guards against, each seen as a server error once:
- NUL characters: PostgreSQL refuses them in text, so psycopg raises deep inside a query;
- dates that overflow: `9999-12-31T23:59:59-12:00` is past Python's datetime.max in UTC, and
  `0001-01-01` minus a window is before datetime.min; dates are kept within MIN_YEAR..MAX_YEAR;
- Unicode digits: `"²".isdigit()` is True but `int("²")` raises, and `int("١٢")` is 12: only ASCII
  digits are numbers here;
- integers beyond the database's bigint (`offset=99999999999999999999`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta

from django.http import JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework import exceptions

BIGINT_MIN = -(2**63)
BIGINT_MAX = 2**63 - 1
# Wide enough for any record a center holds or plans for, narrow enough that a window of days or
# years around a date, and its conversion to UTC, stays inside Python's and PostgreSQL's ranges.
MIN_YEAR = 1900
MAX_YEAR = 2999
TEXT_MAX_CHARS = 2000
MAX_UTC_OFFSET = timedelta(hours=14)
_INTEGER = re.compile(r"-?[0-9]+")


class ParamError(exceptions.ValidationError):
    """A bad parameter: DRF answers 400 `{name: reason}`; plain Django views catch it themselves."""

    def __init__(self, name: str, reason: str):
        self.name = name
        self.reason = reason
        super().__init__({name: reason})


def check_text(name: str, value: str, *, max_chars: int = TEXT_MAX_CHARS) -> str:
    """`value` if it can be stored and searched as text: no NUL, not absurdly long."""
    if "\x00" in value:
        raise ParamError(name, "must not contain a NUL character")
    if len(value) > max_chars:
        raise ParamError(name, f"at most {max_chars} characters, got {len(value)}")
    return value


def text_param(
    params: Mapping[str, str], name: str, *, default: str = "", max_chars: int = TEXT_MAX_CHARS, required: str = ""
) -> str:
    """A stripped text parameter; `required` is the message when it is missing."""
    value = (params.get(name) or "").strip()
    if not value:
        if required:
            raise ParamError(name, required)
        return default
    return check_text(name, value, max_chars=max_chars)


def check_int(name: str, raw: object, *, low: int = BIGINT_MIN, high: int = BIGINT_MAX) -> int:
    """An integer written in ASCII digits (or a JSON integer), within low..high."""
    if isinstance(raw, bool):
        raise ParamError(name, f"must be an integer, got {raw!r}")
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        # 20 digits is past any bigint; refusing longer text spares int() a huge number.
        if not _INTEGER.fullmatch(text) or len(text) > 20:
            raise ParamError(name, f"must be an integer written in digits 0-9, got {_shown(text)}")
        value = int(text)
    low, high = max(low, BIGINT_MIN), min(high, BIGINT_MAX)
    if not low <= value <= high:
        raise ParamError(name, f"must be between {low} and {high}, got {_shown(str(value))}")
    return value


def int_param(
    params: Mapping[str, str], name: str, *, default: int, low: int = BIGINT_MIN, high: int = BIGINT_MAX
) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    return check_int(name, raw, low=low, high=high)


def parse_id(raw: object) -> int | None:
    """A record id from a path or list (positive bigint, ASCII digits), or None if it cannot be one."""
    text = str(raw)
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if 0 < value <= BIGINT_MAX else None


def id_list_param(params: Mapping[str, str], name: str, *, max_count: int) -> list[int] | None:
    """Comma-separated record ids, or None when the parameter is absent."""
    raw = params.get(name) or ""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        return None
    if len(parts) > max_count:
        raise ParamError(name, f"at most {max_count} ids")
    ids = [parse_id(part) for part in parts]
    if any(i is None for i in ids):
        raise ParamError(name, "give record ids as comma-separated positive integers")
    return [i for i in ids if i is not None]


def choice_list_param(params: Mapping[str, str], name: str, allowed: Iterable[str] | None = None) -> list[str]:
    """A comma-separated list; each item one of `allowed` when given. Empty when absent."""
    raw = check_text(name, params.get(name) or "")
    wanted = list(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    if allowed is not None:
        choices = list(allowed)
        unknown = [item for item in wanted if item not in choices]
        if unknown:
            raise ParamError(name, f"unknown {name} {', '.join(_shown(u) for u in unknown)}; use {', '.join(choices)}")
    return wanted


def flag_param(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name) or ""
    if raw not in ("", "0", "1", "true", "false"):
        raise ParamError(name, "use 1/true or 0/false")
    return raw in ("1", "true")


def _check_year(name: str, year: int) -> None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ParamError(name, f"the year must be between {MIN_YEAR} and {MAX_YEAR}, got {year}")


def check_datetime(name: str, raw: str) -> datetime:
    """ISO 8601 datetime (naive means the center's time zone) or a plain date; years MIN_YEAR..MAX_YEAR."""
    check_text(name, raw, max_chars=64)
    text = raw.strip()
    problem = ParamError(name, f"not a valid ISO 8601 date/time: {_shown(text)}")
    if not text.isascii():
        raise problem
    try:
        value = parse_datetime(text)
        if value is None:
            day = parse_date(text) if len(text) == 10 else None
            if day is None:
                raise problem
            value = datetime(day.year, day.month, day.day)
    except ValueError:
        raise problem from None
    # Checked on the wall-clock year, before any time zone arithmetic can overflow.
    _check_year(name, value.year)
    if timezone.is_naive(value):
        return timezone.make_aware(value)
    offset = value.utcoffset()
    # Python takes offsets up to ±23:59, PostgreSQL only up to ±15:59; real ones are -12:00..+14:00.
    if offset is not None and abs(offset) > MAX_UTC_OFFSET:
        raise ParamError(name, f"the UTC offset must be within ±14:00, got {_shown(text)}")
    return value


def datetime_param(params: Mapping[str, str], name: str, *, required: str = "") -> datetime | None:
    raw = (params.get(name) or "").strip()
    if not raw:
        if required:
            raise ParamError(name, required)
        return None
    return check_datetime(name, raw)


def check_date(name: str, raw: object) -> date:
    """A calendar date written YYYY-MM-DD; years MIN_YEAR..MAX_YEAR."""
    text = str(raw).strip()
    problem = ParamError(name, f"not a date (YYYY-MM-DD): {_shown(text)}")
    if len(text) != 10 or not text.isascii():
        raise problem
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise problem from None
    _check_year(name, value.year)
    return value


def date_param(params: Mapping[str, str], name: str) -> date | None:
    raw = (params.get(name) or "").strip()
    return check_date(name, raw) if raw else None


def _shown(text: str, limit: int = 40) -> str:
    """The offending value, quoted and cut short, for an error message."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


class NulQueryGuardMiddleware:
    """Refuses, with a 400 naming the parameter, any query string carrying a NUL character.

    PostgreSQL cannot hold NUL in text, so no parameter with one can mean anything; checking here
    covers every view, including a parameter a view reads without the parsers above (a reason, a
    username filter). A view that keeps bad input as data (a feed's dead letters) opts out with
    `query_nul_is_data = True`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        view_class = getattr(view_func, "cls", None) or getattr(view_func, "view_class", None)
        if getattr(view_class, "query_nul_is_data", False):
            return None
        for name, values in request.GET.lists():
            if "\x00" in name:
                return _refusal("query", "a parameter name contains a NUL character")
            if any("\x00" in value for value in values):
                return _refusal(name, "must not contain a NUL character")
        return None


def _refusal(name: str, reason: str) -> JsonResponse:
    return JsonResponse({name: reason}, status=400)
