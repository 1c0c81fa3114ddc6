"""NMEA 0183 position logs and streams: GPS receivers, vehicle loggers, marine and Bluetooth GPS units.

Format: one sentence per line, `$<talker><type>,<fields>*<checksum>` (checksum optional in practice;
checked whenever it is there). Sentences are read with `pynmea2`; positions come from:

- GGA (time, position, fix quality; quality 0 = no fix),
- RMC (time, status A/V, position, speed in knots, true course, date DDMMYY),
- GLL (position, time, status A/V),

and ZDA gives the date (with the time). Every other sentence (GSA, GSV, VTG, `$GPMSS` beacon status,
proprietary `$P...`) and every non-NMEA line (a logger's `@Sonygps/ver1.0/wgs-84` header) is skipped and
counted by kind, not an error. A sentence whose checksum does not match, or that cannot be read, is a
rejected record naming its line. A payload with no NMEA sentence at all (JSON, HTML, a binary protocol)
is refused and the source shown as misconfigured.

Time: GGA and GLL carry only the time of day. The date comes from the nearest RMC/ZDA before the fix
(or, for fixes before the first dated sentence, the first one after it); a time of day that goes back by
more than 12 hours is the log crossing midnight (GGA-only logs), so the day advances. A log without any
valid date takes the source's `params.date` (YYYY-MM-DD); without that the payload is refused with the
reason. An RMC date that is not a date (`000070`: receivers that have no date yet write day 0, month 0)
is not used.

Coordinates: `DDMM.mmmm` / `DDDMM.mmmm` with N/S, E/W. A value written with a minus sign is south/west
whatever the letter: some loggers (JOSM ticket 1853's vehicle log, Porto Alegre) write signed degrees
beside a fixed "N"/"E"; reading the letter instead would put the vehicle on another continent.

GGA and RMC for the same instant are one fix (RMC adds speed and course).

Identity: the unit is the source's `params.device_id` (one device per source, the usual set-up); else
the device a header line names (`@Sonygps/...`); else the talker (`GP`, `GN`) when the log has only one.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pynmea2

from .base import MisconfiguredError, ParseResult, PayloadError, PositionRecord, check_payload_size, register
from .common import PositionBatch, RecordError, coords, course, speed, text, timestamp

KNOT = 1852.0 / 3600.0  # metres per second
POSITION_TYPES = ("GGA", "RMC", "GLL")
MIDNIGHT_JUMP = timedelta(hours=12)
_DEGREES_MINUTES = re.compile(r"-?\d{1,5}(\.\d+)?")


@dataclass
class _Fix:
    index: int  # line, 0-based
    line: str
    tod: time
    lat: float
    lon: float
    knots: float | None = None
    course: float | None = None


@dataclass
class _Timed:
    """A sentence with a time of day, in log order; `day` is set when the sentence itself has a date."""

    tod: time
    day: date | None
    fix: _Fix | None


@register
class NmeaAdapter:
    """GGA/RMC/GLL sentences of an NMEA 0183 log or stream become PositionRecords of one device."""

    kind = "nmea"
    label = "NMEA 0183 GPS log / stream (GGA, RMC, GLL)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        params = params or {}
        batch = PositionBatch()
        skipped: Counter[str] = Counter()
        timed: list[_Timed] = []
        talkers: set[str] = set()
        header_device = ""
        lines = payload.decode("ascii", "replace").splitlines()
        for index, raw in enumerate(lines):
            line = raw.strip().replace("\x00", "")
            if not line:
                continue
            if line[0] == "!":
                skipped["encapsulated sentence (AIS)"] += 1
                continue
            if line[0] != "$":
                skipped["non-NMEA line"] += 1
                if line.startswith("@") and not header_device:
                    header_device = line[1:].split("/", 1)[0].strip()[:100]
                continue
            try:
                sentence = pynmea2.parse(line)
            except pynmea2.ChecksumError:
                batch.reject(index, f"line {index + 1}: checksum does not match the sentence", line)
                continue
            except pynmea2.SentenceTypeError:
                skipped[f"{_sentence_name(line)} sentence (unknown)"] += 1
                continue
            except (pynmea2.ParseError, ValueError) as exc:
                detail = exc.args[0] if exc.args else exc
                batch.reject(index, f"line {index + 1}: not a readable NMEA sentence ({detail})", line)
                continue
            kind = getattr(sentence, "sentence_type", "") or type(sentence).__name__
            try:
                entry = self._timed(sentence, kind, index, line)
            except RecordError as exc:
                batch.reject(index, f"line {index + 1}: {exc}", line)
                continue
            if isinstance(entry, str):
                skipped[entry] += 1
                continue
            if entry.fix is not None:
                talkers.add(getattr(sentence, "talker", ""))
            timed.append(entry)

        if skipped and sum(skipped.values()) == skipped["non-NMEA line"] and not batch.result.rejected:
            raise MisconfiguredError(
                f"payload has no NMEA sentences ({skipped['non-NMEA line']} lines, none starting with $): "
                "this source takes NMEA 0183"
            )
        fixes = [t for t in timed if t.fix is not None]
        if fixes:
            unit_ref = _unit_ref(params, header_device, talkers)
            self._add(batch, unit_ref, timed, params)
        batch.result.ignored.update(skipped)
        return batch.result

    def _timed(self, sentence, kind: str, index: int, line: str) -> _Timed | str:
        """The sentence as a timed entry (a fix, a date, or both), or why it is skipped."""
        if kind == "ZDA":
            try:
                day = date(int(sentence.year), int(sentence.month), int(sentence.day))
            except (TypeError, ValueError):
                return "ZDA without a date"
            if not isinstance(sentence.timestamp, time):
                return "ZDA without a time"
            return _Timed(tod=sentence.timestamp, day=day, fix=None)
        if kind not in POSITION_TYPES:
            return f"{kind} sentence"
        if kind == "GGA" and not _float(sentence.gps_qual, "GGA fix quality"):
            return "GGA without a fix"
        if kind in ("RMC", "GLL") and sentence.status != "A":
            return f"{kind} without a valid fix"
        if not sentence.lat or not sentence.lon:
            return f"{kind} without a position"
        tod = sentence.timestamp
        if tod is None:
            return f"{kind} without a time"  # GLL of NMEA 1.5 has none: a position at no known instant
        if not isinstance(tod, time):
            raise RecordError(f"{kind} time {tod!r} is not a time of day")
        lat = _degrees(sentence.lat, sentence.lat_dir, "NS", 2, "latitude")
        lon = _degrees(sentence.lon, sentence.lon_dir, "EW", 3, "longitude")
        fix = _Fix(index=index, line=line, tod=tod, lat=lat, lon=lon)
        day = None
        if kind == "RMC":
            fix.knots = _float(sentence.spd_over_grnd, "RMC speed")
            fix.course = _float(sentence.true_course, "RMC course")
            day = _ddmmyy(sentence.data[8] if len(sentence.data) > 8 else "")
        return _Timed(tod=tod, day=day, fix=fix)

    def _add(self, batch: PositionBatch, unit_ref: str, timed: list[_Timed], params: dict) -> None:
        dates = _dates(timed, _configured_date(params))
        if dates is None:
            # Nothing in the log can be dated: one clear refusal rather than a dead letter per fix.
            raise PayloadError(
                "the NMEA log has no valid date (no RMC or ZDA date; RMC dates like 000070 are not dates) "
                "and the source has no params.date (YYYY-MM-DD): its fixes cannot be placed in time"
            )
        merged: dict[datetime, tuple[int, PositionRecord]] = {}
        order: list[datetime] = []
        for entry, day in zip(timed, dates, strict=True):
            fix = entry.fix
            if fix is None:
                continue
            try:
                lon, lat = coords(fix.lon, fix.lat)
                record = PositionRecord(
                    unit_ref=unit_ref,
                    lon=lon,
                    lat=lat,
                    recorded_at=timestamp(datetime.combine(day, fix.tod).astimezone(UTC).isoformat(), "fix time"),
                    heading=course(fix.course, "true course"),
                    speed=speed(None if fix.knots is None else fix.knots * KNOT, "speed (from knots)"),
                )
            except RecordError as exc:
                batch.reject(fix.index, f"line {fix.index + 1}: {exc}", fix.line)
                continue
            seen = merged.get(record.recorded_at)
            if seen is not None and (seen[1].lon, seen[1].lat) == (record.lon, record.lat):
                # GGA and RMC of one instant: one fix, with RMC's speed and course.
                first = seen[1]
                merged[record.recorded_at] = (
                    seen[0],
                    dataclasses.replace(
                        first,
                        heading=first.heading if first.heading is not None else record.heading,
                        speed=first.speed if first.speed is not None else record.speed,
                    ),
                )
                continue
            if seen is not None:
                batch.add(fix.index, record, fix.line)  # a different position for the same instant: conflict
                continue
            merged[record.recorded_at] = (fix.index, record)
            order.append(record.recorded_at)
        for at in order:
            index, record = merged[at]
            batch.add(index, record)


def _unit_ref(params: dict, header_device: str, talkers: set[str]) -> str:
    try:
        configured = text(params.get("device_id"), "params.device_id", max_len=100, optional=True)
    except RecordError as exc:
        raise PayloadError(str(exc)) from None
    if configured:
        return configured
    if header_device:
        return header_device
    talkers.discard("")
    if len(talkers) == 1:
        return next(iter(talkers))
    raise PayloadError(
        f"the NMEA log names no device and has {len(talkers)} talkers ({', '.join(sorted(talkers))}): "
        "set the source's params.device_id"
    )


def _configured_date(params: dict) -> date | None:
    value = params.get("date")
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise PayloadError(f"params.date {value!r} is not a YYYY-MM-DD date") from None


def _dates(timed: list[_Timed], configured: date | None) -> list[date] | None:
    """The date of each timed entry: day offsets from midnight crossings, anchored on dated sentences
    (or on the configured date when the log has none). None when nothing anchors them."""
    offsets: list[int] = []
    offset = 0
    previous: time | None = None
    for entry in timed:
        if previous is not None and _seconds(entry.tod) < _seconds(previous) - MIDNIGHT_JUMP.total_seconds():
            offset += 1
        previous = entry.tod
        offsets.append(offset)
    # base = the date of day-offset 0 implied by each dated entry
    pairs = zip(timed, offsets, strict=True)
    bases: list[date | None] = [None if e.day is None else e.day - timedelta(days=k) for e, k in pairs]
    current = next((b for b in bases if b is not None), configured)
    if current is None:
        return None
    result: list[date] = []
    for base, k in zip(bases, offsets, strict=True):
        if base is not None:
            current = base
        result.append(current + timedelta(days=k))
    return result


def _float(value, name: str) -> float | None:
    """A numeric field pynmea2 returned as a number, None (empty), or the raw text it could not read."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecordError(f"{name} {value!r} is not a number") from None


def _seconds(value: time) -> float:
    return value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6


def _degrees(value: str, hemisphere: str, letters: str, degree_digits: int, name: str) -> float:
    """`DDMM.mmmm` (or signed) with its hemisphere letter as signed decimal degrees."""
    if not _DEGREES_MINUTES.fullmatch(value):
        raise RecordError(f"{name} {value!r} is not degrees and minutes (DDMM.mmmm)")
    number = float(value)
    if hemisphere and hemisphere not in letters:
        raise RecordError(f"{name} hemisphere {hemisphere!r} is not one of {'/'.join(letters)}")
    magnitude = abs(number)
    degrees = int(magnitude // 100)
    minutes = magnitude - degrees * 100
    if minutes >= 60:
        raise RecordError(f"{name} {value!r} has {minutes:.4f} minutes (must be under 60)")
    decimal = degrees + minutes / 60.0
    south_or_west = number < 0 or hemisphere == letters[1]
    return round(-decimal if south_or_west else decimal, 7)


def _ddmmyy(value: str) -> date | None:
    """An RMC date, or None when it is empty or not a date (`000070`)."""
    value = value.strip()
    if len(value) != 6 or not value.isdigit():
        return None
    day, month, year = int(value[:2]), int(value[2:4]), int(value[4:])
    try:
        return date(2000 + year if year < 80 else 1900 + year, month, day)
    except ValueError:
        return None


def _sentence_name(line: str) -> str:
    head = line[1:].split(",", 1)[0].split("*", 1)[0]
    return head[:8] or "empty"
