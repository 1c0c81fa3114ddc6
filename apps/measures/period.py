"""The period a measures request covers: whole local days in the agency's time zone, bucketed by day or week."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from apps.core.params import date_param

from .choices import Bucket

DEFAULT_DAYS = 30
MAX_DAYS = 366


@dataclass(frozen=True)
class Period:
    """From the start of `first_day` to the end of `last_day`, local time in `tz`."""

    first_day: date
    last_day: date
    bucket: str
    tz: ZoneInfo

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: the start of the day after `last_day`."""
        return datetime.combine(self.last_day + timedelta(days=1), time.min, tzinfo=self.tz)

    def buckets(self) -> list[date]:
        """Every bucket's first day, in order (a week starts on Monday, as PostgreSQL's date_trunc has it)."""
        if self.bucket == Bucket.WEEK:
            day = self.first_day - timedelta(days=self.first_day.weekday())
            step = timedelta(days=7)
        else:
            day, step = self.first_day, timedelta(days=1)
        out = []
        while day <= self.last_day:
            out.append(day)
            day += step
        return out


def user_time_zone(user) -> ZoneInfo:
    agency = getattr(user, "agency", None)
    return ZoneInfo(agency.time_zone if agency else settings.TIME_ZONE)


def period_from_params(params: Mapping[str, str], *, tz: ZoneInfo, now: datetime | None = None) -> Period:
    """`from`/`to` (inclusive local dates, default the last 30 days up to today) and `bucket` (day/week)."""
    today = (now or timezone.now()).astimezone(tz).date()
    # Bad dates raise apps.core.params.ParamError (a 400 naming the parameter).
    last = date_param(params, "to") or today
    first = date_param(params, "from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise ValidationError({"from": f"{first} is after to={last}"})
    if (last - first).days + 1 > MAX_DAYS:
        raise ValidationError({"to": f"the period is {(last - first).days + 1} days; at most {MAX_DAYS}"})
    bucket = (params.get("bucket") or Bucket.DAY).strip()
    if bucket not in Bucket.values:
        raise ValidationError({"bucket": f"unknown bucket {bucket!r}; use {', '.join(Bucket.values)}"})
    return Period(first_day=first, last_day=last, bucket=bucket, tz=tz)
