"""The bulk import's fast paths (issue 11: >= 5,000 incidents/s) give what the slow ones gave: the date reader
that skips strptime, points as numbers for the bulk writer, the per-field plan, the skipped unit link."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.geo import LonLat
from apps.incidents.bulk import incident_bulk_upsert
from apps.incidents.models import Incident
from apps.intake.errors import RowError
from apps.intake.mapping import MappingSpec, compile_mapping, convert_record
from apps.intake.readers import Record
from apps.intake.specs import LAYERS
from apps.intake.times import NO_MATCH, fast_reader, parse_datetime

from . import factories as f

LA = ZoneInfo("America/Los_Angeles")
# The formats real CAD exports are read with (fixtures/mappings), and a few more shapes.
FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%d.%m.%Y %H:%M",
    "%Y%m%d%H%M%S",
    "%m/%d/%Y %H:%M",
)
TEXTS = (
    "2024-01-05 07:08:09",
    "2024-1-5 7:8:9",
    "2024-02-30 10:00:00",  # no such day: strptime's own reason
    "2024-01-05  07:08:09",  # two spaces: strptime's \s+
    "2024-01-05 07:08:09 ",  # trailing data
    "2024-01-05T07:08:09.5",
    "2024-01-05T07:08:09.123456",
    "2024-01-05T07:08:09.1234567",
    "01/05/2024 12:00:00 AM",
    "01/05/2024 12:00:00 PM",
    "1/5/2024 7:08:09 pm",
    "1/5/2024 7:08 Pm",
    "13/05/2024 7:08 PM",
    " 5.01.2024 07:08",
    "05.01.2024 24:00",
    "20240105070809",
    "2024010507080",
    "1/5/2024 07:08",
    "01/05/2024 23:59",
    "2024-01-05 07:08:60",  # second 60: strptime reads it, datetime refuses
    "２０２４-01-05 07:08:09",  # full-width digits: strptime's \d takes them
    "",
    "yesterday",
)


def strptime_or_error(text: str, fmt: str) -> datetime | str:
    try:
        return datetime.strptime(text, fmt)
    except ValueError as exc:
        return str(exc)


def check_same_as_strptime(text: str, fmt: str) -> None:
    read = fast_reader(fmt)
    assert read is not None, fmt
    fast = read(text)
    slow = strptime_or_error(text, fmt)
    if fast is NO_MATCH:
        # Only where strptime gives a reason parse_datetime never shows.
        assert isinstance(slow, str) and slow.startswith(("time data", "unconverted data")), (text, fmt, slow)
    elif fast is not None:
        assert fast == slow, (text, fmt)
    # None: the caller asks strptime itself, which gives `slow`.


@pytest.mark.parametrize("fmt", FORMATS)
def test_fast_date_reader_agrees_with_strptime(fmt):
    for text in TEXTS:
        check_same_as_strptime(text, fmt)


def test_fast_date_reader_agrees_with_strptime_on_random_texts():
    rng = random.Random(11)
    alphabet = "0123456789 -/:.TAPMapm"
    for fmt in FORMATS:
        for _ in range(3000):
            check_same_as_strptime("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))), fmt)
        for _ in range(2000):
            # Near misses of real values: one character changed, dropped or doubled.
            good = datetime(2000 + rng.randint(0, 30), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23),
                            rng.randint(0, 59), rng.randint(0, 59), rng.randint(0, 999999)).strftime(fmt)  # fmt: skip
            at = rng.randrange(len(good))
            edit = rng.choice([good[:at] + rng.choice(alphabet) + good[at + 1 :], good[:at] + good[at + 1 :],
                               good[:at] + good[at] + good[at:], good])  # fmt: skip
            check_same_as_strptime(edit, fmt)


@pytest.mark.parametrize("fmt", ["%d %b %Y %H:%M", "%Y-%m-%d %H:%M:%S%z", "%y-%m-%d", "%H:%M", "%Y-%m-%d %%", "%Y-%j"])
def test_formats_with_other_directives_are_left_to_strptime(fmt):
    assert fast_reader(fmt) is None
    text = datetime(2024, 3, 9, 14, 5, tzinfo=UTC).strftime(fmt)
    expected = strptime_or_error(text, fmt)
    if isinstance(expected, datetime) and 1900 <= expected.year <= 2100:
        parsed = parse_datetime(text=text, formats=(fmt,), tz=UTC)
        assert parsed == (expected if expected.tzinfo else expected.replace(tzinfo=UTC))


def test_parse_datetime_keeps_its_reasons_and_order():
    formats = ("%Y-%d-%m %H:%M:%S",)
    # A format is tried before ISO 8601: 2024-05-06 is 5 June here, not 6 May.
    assert parse_datetime(text="2024-05-06 10:00:00", formats=formats, tz=LA) == datetime(2024, 6, 5, 10, tzinfo=LA)
    # A text the format does not fit is still read as ISO 8601, and as epoch seconds.
    assert parse_datetime(text="2024-05-06T10:00:00+00:00", formats=formats, tz=LA) == datetime(
        2024, 5, 6, 10, tzinfo=UTC
    )
    assert parse_datetime(text="1700000000", formats=formats, tz=LA) == datetime.fromtimestamp(1_700_000_000, UTC)
    with pytest.raises(RowError, match=re.escape("(expected %m/%d/%Y or ISO 8601): day is out of range for month")):
        parse_datetime(text="02/30/2024", formats=("%m/%d/%Y",), tz=LA)
    with pytest.raises(RowError, match=re.escape("'01/02/2024' is not a valid date/time (expected %Y-%d-%m %H:%M:%S")):
        parse_datetime(text="01/02/2024", formats=formats, tz=LA)
    with pytest.raises(RowError, match="year outside 1900..2100"):
        parse_datetime(text="1850-01-01 00:00:00", formats=formats, tz=LA)


# --- converting records ----------------------------------------------------------------------------------------------


def compiled(layer: str, fields: dict[str, str], columns: tuple[str, ...], **extra):
    spec = MappingSpec(fields={name: (column,) for name, column in fields.items()}, **extra)
    return compile_mapping(spec=spec, layer=LAYERS[layer], columns=columns, has_geometry=False, default_tz="UTC")


INCIDENT_COLUMNS = ("Event", "Type", "X", "Y", "When", "Beat")
INCIDENT_FIELDS = {"cad_number": "Event", "type_code": "Type", "lon": "X", "lat": "Y", "received_at": "When"}


def incident_record(x: str, y: str, **values) -> Record:
    return Record(
        index=1,
        line=2,
        values={"Event": "24-1", "Type": "DIST", "X": x, "Y": y, "When": "2024-01-05 07:08:09", **values},
    )


def test_incident_points_are_checked_numbers_for_the_bulk_writer():
    mapping = compiled("incidents", INCIDENT_FIELDS, INCIDENT_COLUMNS, datetime_formats=("%Y-%m-%d %H:%M:%S",))

    kwargs = convert_record(record=incident_record(" -122.3 ", "47.6"), mapping=mapping)

    assert kwargs["location"] == LonLat(-122.3, 47.6) and not isinstance(kwargs["location"], Point)
    assert kwargs["received_at"] == datetime(2024, 1, 5, 7, 8, 9, tzinfo=ZoneInfo("UTC"))
    assert kwargs["attributes"] == {}  # the Beat column is empty: nothing kept
    for x, y, reason in (
        ("200", "47.6", "longitude 200.0 is outside -180..180"),
        ("-122.3", "nan", "lat must be a finite number, got 'nan'"),
        ("0", "0", "no location: coordinates are 0,0"),
        ("", "47.6", "no location: lon/lat are empty"),
    ):
        with pytest.raises(RowError, match=re.escape(reason)):
            convert_record(record=incident_record(x, y), mapping=mapping)
    # A GeoJSON point is read the same way, without GEOS.
    from_geometry = convert_record(
        record=Record(index=1, line=None, values=incident_record("", "").values,
                      geometry={"type": "Point", "coordinates": [-122.25, 47.5]}),
        mapping=mapping,
    )  # fmt: skip
    assert from_geometry["location"] == LonLat(-122.25, 47.5)
    with pytest.raises(RowError, match=re.escape("geometry must be a Point, got 'LineString'")):
        convert_record(
            record=Record(index=1, line=None, values=incident_record("", "").values,
                          geometry={"type": "LineString", "coordinates": []}),
            mapping=mapping,
        )  # fmt: skip


def test_layers_written_row_by_row_still_get_geos_points():
    mapping = compiled("cameras", {"name": "Name", "lon": "X", "lat": "Y"}, ("Name", "X", "Y"))
    kwargs = convert_record(
        record=Record(index=1, line=2, values={"Name": "C1", "X": "-122.3", "Y": "47.6"}), mapping=mapping
    )
    assert isinstance(kwargs["location"], Point) and kwargs["location"].coords == (-122.3, 47.6)


def test_the_plan_converts_only_fields_with_a_source_and_keeps_every_check():
    mapping = compiled(
        "incidents",
        {**INCIDENT_FIELDS, "priority": "Pri", "status": "Status"},
        (*INCIDENT_COLUMNS, "Pri", "Status"),
        constants={"call_source": "911"},
        values={"status": {"CLSD": "closed"}},
    )
    # Fields no column, constant or derived key feeds are not looked at per row.
    assert [step.name for step in mapping.steps] == ["cad_number", "type_code", "priority", "status", "received_at"]
    good = convert_record(record=incident_record("-122.3", "47.6", Pri="2", Status="clsd"), mapping=mapping)
    assert (good["priority"], good["status"], good["call_source"]) == (2, "closed", "911")
    for values, field, reason in (
        ({"Pri": "12"}, "priority", "priority 12 is outside 1..9"),
        ({"Pri": "1.5"}, "priority", "priority must be a whole number, got '1.5'"),
        ({"Status": "WHATEVER"}, "status", "status 'WHATEVER' has no translation in the mapping's values.status"),
        ({"Event": "  "}, "cad_number", "cad_number is missing (column 'Event' is empty)"),
        ({"When": "2024-02-30 10:00:00"}, "received_at", "day is out of range for month"),
    ):
        with pytest.raises(RowError, match=re.escape(reason)) as caught:
            convert_record(record=incident_record("-122.3", "47.6", **values), mapping=mapping)
        assert caught.value.field == field


# --- the bulk writer -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_writer_takes_numbers_and_links_units_only_for_calls_naming_them(home):
    f.unit(agency=home, call_sign="E5")
    at = datetime(2024, 1, 5, 7, 8, 9, tzinfo=UTC)
    rows = [
        {"cad_number": "A", "type_code": "DIST", "location": LonLat(-122.3, 47.6), "received_at": at},
        {"cad_number": "B", "type_code": "DIST", "location": LonLat(-122.31, 47.61), "received_at": at},
    ]
    with CaptureQueriesContext(connection) as queries:
        outcome = incident_bulk_upsert(agency_id=home.pk, rows=rows, source="t")
    assert outcome.created == 2 and outcome.with_units == []
    assert not [q for q in queries.captured_queries if "incidents_incident_assigned_units" in q["sql"]]
    assert Incident.objects.get(cad_number="B").location.coords == (-122.31, 47.61)

    with CaptureQueriesContext(connection) as queries:
        later = incident_bulk_upsert(agency_id=home.pk, rows=[{**rows[0], "units": "E5"}], source="t")
    assert later.with_units == later.changed_ids == [Incident.objects.get(cad_number="A").pk]
    assert [u.call_sign for u in Incident.objects.get(cad_number="A").assigned_units.all()] == ["E5"]


# --- Found in review: inputs that escaped as Python errors or were read as the wrong date ----------------------------

LA = ZoneInfo("America/Los_Angeles")


def test_compact_cad_times_are_calendar_times_not_milliseconds_of_1976():
    assert parse_datetime(text="202405011200", formats=(), tz=LA) == datetime(2024, 5, 1, 12, 0, tzinfo=LA)
    assert parse_datetime(text="20240501120005", formats=(), tz=LA) == datetime(2024, 5, 1, 12, 0, 5, tzinfo=LA)
    with pytest.raises(RowError, match="is not a valid date/time"):
        parse_datetime(text="202413011200", formats=(), tz=LA)  # month 13: a reason, not 1976
    # Epoch seconds and milliseconds still read as such.
    assert parse_datetime(text="1714564800", formats=(), tz=LA) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert parse_datetime(text="1714564800000", formats=(), tz=LA) == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_unicode_digits_in_a_time_are_a_row_reason_not_a_crash():
    with pytest.raises(RowError, match="is not a valid date/time"):
        parse_datetime(text="²²²²²²²²²", formats=(), tz=LA)


def test_a_number_of_hundreds_of_digits_is_a_row_reason_not_a_crash():
    mapping = compile_mapping(
        spec=MappingSpec(), layer=LAYERS["incidents"], columns=("cad_number", "type_code", "received_at", "lon", "lat"),
        has_geometry=False,
    )  # fmt: skip
    huge = int("9" * 400)
    for values, field in (
        ({"cad_number": "1", "type_code": "T", "received_at": "2024-05-01T12:00:00Z", "lon": huge, "lat": 47.6}, "lon"),
        ({"cad_number": "1", "type_code": "T", "received_at": huge, "lon": -122.3, "lat": 47.6}, "received_at"),
    ):
        with pytest.raises(RowError) as caught:
            convert_record(record=Record(index=1, line=None, values=values, raw=values), mapping=mapping)
        assert field in str(caught.value)
