"""The center's shift windows (setting RTCC_SHIFTS), as local times of day."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_SPEC = re.compile(r"^(?P<name>[a-z][a-z0-9_-]{0,31})=(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)$")


@dataclass(frozen=True)
class Shift:
    """A shift from `start` (inclusive) to `end` (exclusive), local time; `end <= start` crosses midnight."""

    name: str
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


def parse_shifts(specs: list[str]) -> list[Shift]:
    """["day=07:00", "swing=15:00", "night=23:00"] -> three shifts covering the whole day, in start order."""
    if not specs:
        raise ImproperlyConfigured("RTCC_SHIFTS: at least one shift is needed")
    starts: list[tuple[time, str]] = []
    for spec in specs:
        match = _SPEC.match(spec.strip())
        if not match:
            raise ImproperlyConfigured(f"RTCC_SHIFTS: {spec!r} is not like 'day=07:00' (lower-case name, 24 h time)")
        starts.append((time(int(match["hour"]), int(match["minute"])), match["name"]))
    names = [name for _, name in starts]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"RTCC_SHIFTS: a shift name is repeated in {specs}")
    if len({start for start, _ in starts}) != len(starts):
        raise ImproperlyConfigured(f"RTCC_SHIFTS: two shifts start at the same time in {specs}")
    starts.sort()
    return [
        Shift(name=name, start=start, end=starts[(i + 1) % len(starts)][0]) for i, (start, name) in enumerate(starts)
    ]


def configured_shifts() -> list[Shift]:
    return parse_shifts(list(settings.RTCC_SHIFTS))
