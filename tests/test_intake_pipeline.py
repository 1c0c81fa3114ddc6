"""One intake pipeline: the file importer and the feeds share readers, one mapping format and one rejection
report. The proof on real data: the SPD mapping file drives a live cad_csv (and cad_json) feed over the real
SPD export, and what the feed stores equals what a file import of the same rows stores."""

from __future__ import annotations

import csv
import importlib
import io
import json
from pathlib import Path

import pytest
from django.apps import apps as django_apps
from django.conf import settings
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from apps.feeds.adapters.base import PayloadError, get_adapter
from apps.feeds.adapters.common import status_words
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_ingest
from apps.incidents.models import Incident
from apps.intake.errors import ImportFileError
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec, load_mapping_file
from apps.intake.readers import open_source

from .real_samples import real_sample

MAPPINGS = Path(settings.BASE_DIR) / "fixtures" / "mappings"
SPD_CSV = Path(settings.RTCC_SHARED_DATA_DIR) / "seattle_cad" / "spd_911_incident_response_2016-03-25.csv"
ROWS = 150
COMPARED = (
    "type_code",
    "type_description",
    "priority",
    "status",
    "address",
    "received_at",
    "dispatched_at",
    "on_scene_at",
    "closed_at",
)


@pytest.fixture
def spd_rows() -> bytes:
    """The header and the first ROWS rows of the real SPD 911 export, as bytes."""
    if not SPD_CSV.is_file():
        pytest.skip(f"real public data not available: {SPD_CSV} (settings.RTCC_SHARED_DATA_DIR)")
    with SPD_CSV.open("rb") as handle:
        return b"".join(handle.readline() for _ in range(ROWS + 1))


def stored(agency) -> dict[str, tuple]:
    return {
        incident.cad_number: (
            *(getattr(incident, name) for name in COMPARED),
            round(incident.location.x, 7),
            round(incident.location.y, 7),
        )
        for incident in Incident.objects.filter(agency=agency)
    }


def file_import(agency, path: Path):
    return import_layer(
        layer="incidents", path=path, agency=agency, spec=load_mapping_file(path=MAPPINGS / "spd_911_2016.json")
    )


@pytest.mark.shared_data
def test_spd_mapping_file_drives_a_live_cad_csv_feed_like_a_file_import(home, other_agency, spd_rows, tmp_path):
    path = tmp_path / "spd.csv"
    path.write_bytes(spd_rows)
    result = file_import(other_agency, path)

    source = FeedSource.objects.create(
        agency=home, name="SPD CAD live", kind="cad_csv", params={"mapping": "spd_911_2016"}
    )
    report = feed_ingest(source_id=source.pk, payload=spd_rows, content_type="text/csv")

    assert (report.accepted, len(report.rejected)) == (result.accepted, len(result.rejected))
    assert report.accepted > ROWS * 0.95
    fed, imported = stored(home), stored(other_agency)
    assert len(fed) == result.created
    assert fed == imported
    # The mapping's constant and its datetime format with its tz, applied the same way on both paths.
    prowl = Incident.objects.get(agency=home, cad_number="16000104006")
    assert (prowl.type_code, prowl.status, prowl.received_at.isoformat()) == (
        "THEFT",
        "closed",
        "2016-03-26T05:25:51+00:00",
    )
    # The same reasons, row for row, for what neither path could take.
    assert [(r.line, r.field, r.reason) for r in report.rejected] == [
        (r.line, r.field, r.reason) for r in result.rejected
    ]


@pytest.mark.shared_data
def test_spd_mapping_drives_a_cad_json_feed_of_the_same_rows(home, other_agency, spd_rows, tmp_path):
    rows = list(csv.DictReader(io.StringIO(spd_rows.decode("utf-8-sig"))))
    path = tmp_path / "spd.json"
    path.write_text(json.dumps(rows))
    file_import(other_agency, path)

    source = FeedSource.objects.create(
        agency=home, name="SPD CAD json", kind="cad_json", params={"mapping": "spd_911_2016"}
    )
    report = feed_ingest(source_id=source.pk, payload=json.dumps({"incidents": rows}).encode())
    assert report.accepted == Incident.objects.filter(agency=other_agency).count() > ROWS * 0.95
    assert stored(home) == stored(other_agency)


def test_inline_mapping_with_a_feed_only_units_column_and_status_words(db):
    payload = (
        b"Event No;Call Type;X;Y;Received;Units;State\n"
        b"24-1;BURG;-122.346;47.616;03/09/2024 22:15;3C21|3C22;Enroute\n"
        b"24-2;BURG;-122.346;47.616;13/45/2024 22:15;;HELD\n"
        b"24-3;BURG;-122.346;47.616;03/09/2024 22:20;;HELD\n"
    )
    mapping = {
        "fields": {
            "cad_number": "Event No",
            "type_code": "Call Type",
            "received_at": "Received",
            "status": "State",
            "units": "Units",
        },
        "values": {"status": {"HELD": "pending"}},
        "datetime_format": "%m/%d/%Y %H:%M",
        "tz": "America/Los_Angeles",
        "delimiter": ";",
    }
    result = get_adapter("cad_csv").parse(payload, params={"mapping": mapping})

    first, third = result.records
    assert (first.unit_refs, first.status, first.lon, first.lat) == (("3C21", "3C22"), "dispatched", -122.346, 47.616)
    assert third.status == "pending"
    (bad,) = result.rejected
    assert (bad.index, bad.line, bad.field) == (1, 3, "received_at")
    assert bad.reason.startswith("received_at '13/45/2024 22:15' is not a valid date/time (expected %m/%d/%Y %H:%M")


def test_a_feed_without_a_tz_rejects_times_without_an_offset():
    result = get_adapter("cad_csv").parse(
        b"cad_number,type_code,lon,lat,received_at\n1,A,-122.3,47.6,2024-05-02 08:00\n"
    )
    assert result.records == []
    assert result.rejected[0].field == "received_at"
    assert "has no UTC offset and the mapping names no tz" in result.rejected[0].reason


def test_a_mapping_that_cannot_place_incidents_refuses_the_payload():
    with pytest.raises(PayloadError, match="no location for incidents"):
        get_adapter("cad_csv").parse(b"cad_number,type_code,received_at\n1,A,2024-05-02T08:00:00Z\n")


def test_stray_quote_costs_one_row_in_a_file_and_in_a_push(home, tmp_path):
    text = (
        "cad_number,type_code,address,lon,lat,received_at\n"
        "S1,ALRM,1st Ave,-122.3405,47.6097,2024-05-02T08:00:00Z\n"
        'S2,ALRM,"Pike St,-122.3405,47.6097,2024-05-02T08:00:00Z\n'
        'S3,ALRM,"4th Ave, Madison",-122.3321,47.6062,2024-05-02T08:01:00Z\n'
        'S4,ALRM,Pine "St" Market,-122.3405,47.6097,2024-05-02T08:02:00Z\n'
        'S5,ALRM,"Union St"x,-122.3405,47.6097,2024-05-02T08:03:00Z\n'
        "S6,ALRM,2nd Ave,-122.3405,47.6097,2024-05-02T08:04:00Z\n"
    )
    path = tmp_path / "stray.csv"
    path.write_text(text)
    result = import_layer(layer="incidents", path=path, agency=home, spec=MappingSpec())
    assert sorted(Incident.objects.values_list("cad_number", flat=True)) == ["S1", "S3", "S4", "S6"]
    assert [(r.line, r.reason) for r in result.rejected] == [
        (3, "a quote opened in this row is never closed (stray quote?)"),
        (6, "broken quoting: ',' expected after '\"'"),
    ]
    assert Incident.objects.get(cad_number="S3").address == "4th Ave, Madison"
    assert Incident.objects.get(cad_number="S4").address == 'Pine "St" Market'

    pushed = get_adapter("cad_csv").parse(text.encode())
    assert [r.cad_number for r in pushed.records] == ["S1", "S3", "S4", "S6"]
    assert [(r.index, r.line) for r in pushed.rejected] == [(1, 3), (4, 6)]


def test_a_quoted_cell_may_span_lines(home, tmp_path):
    text = (
        "cad_number,type_code,narrative,lon,lat,received_at\n"
        'N1,ALRM,"line one\nline two",-122.3,47.6,2024-05-02T08:00:00Z\n'
    )
    (record,) = get_adapter("cad_csv").parse(text.encode()).records
    assert record.narrative[0].text == "line one\nline two"


def test_readers_give_the_same_records_for_a_file_and_its_bytes(tmp_path):
    data = b"\xef\xbb\xbfa;b\n1;2\n3;4;5\n"
    path = tmp_path / "x.csv"
    path.write_bytes(data)
    with open_source(path=path) as from_file:
        file_records = list(from_file.records)
    with open_source(data=data) as from_bytes:
        byte_records = list(from_bytes.records)
    assert file_records == byte_records
    assert [(r.line, r.values, r.problem) for r in file_records] == [
        (2, {"a": "1", "b": "2"}, ""),
        (3, {"a": "3", "b": "4"}, "row has 3 cells but the header has 2 (check delimiter and quoting)"),
    ]


def test_generic_xml_records_and_refused_entities():
    xml = (
        b'<?xml version="1.0"?><list xmlns="urn:x"><meta>1</meta>'
        b'<camera id="c1"><name>Pike</name><pos><lat>47.6</lat><lon>-122.3</lon></pos></camera>'
        b'<camera id="c2"><name>Pine</name><pos><lat>47.7</lat><lon>-122.4</lon></pos></camera></list>'
    )
    with open_source(data=xml) as opened:
        records = list(opened.records)
    assert opened.format == "xml"
    assert [r.values for r in records] == [
        {"@id": "c1", "name": "Pike", "pos/lat": "47.6", "pos/lon": "-122.3"},
        {"@id": "c2", "name": "Pine", "pos/lat": "47.7", "pos/lon": "-122.4"},
    ]
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(ImportFileError, match="DTDs and entities are not allowed"):
        with open_source(data=bomb):
            pass


def test_push_reply_and_dead_letters_name_the_field_and_line(home):
    source = FeedSource.objects.create(agency=home, name="csv push", kind="cad_csv", params={})
    token = source.issue_token()
    body = (
        "cad_number,type_code,lon,lat,received_at,priority\n"
        "P1,ALRM,-122.3405,47.6097,2024-05-02T08:00:00Z,2\n"
        "P2,ALRM,-122.3405,47.6097,2024-05-02T08:00:00Z,12\n"
    )
    response = APIClient().post(
        "/api/feeds/push/", data=body, content_type="text/csv", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code == 200, response.content
    assert response.json()["rejections"] == [
        {"index": 1, "line": 3, "field": "priority", "reason": "priority 12 is outside 1..9"}
    ]
    letter = DeadLetter.objects.get(source=source)
    assert (letter.index, letter.line, letter.field) == (1, 3, "priority")


def test_migration_moves_old_params_words_into_the_mapping(home):
    migration = importlib.import_module("apps.feeds.migrations.0005_feedsource_params_mapping")
    old = FeedSource.objects.create(
        agency=home,
        name="old words",
        kind="cad_csv",
        params={
            "fields": {"cad_number": "Incident No"},
            "timezone": "America/Los_Angeles",
            "delimiter": ";",
            "statuses": {"DISP": "dispatched"},
            "encoding": "cp1252",
        },
    )
    eido = FeedSource.objects.create(agency=home, name="eido", kind="eido", params={"statuses": {"HW": "on_scene"}})
    untouched = FeedSource.objects.create(agency=home, name="named", kind="cad_csv", params={"mapping": "spd_911_2016"})

    migration.forwards(django_apps, None)

    old.refresh_from_db()
    assert old.params == {
        "encoding": "cp1252",
        "mapping": {
            "fields": {"cad_number": "Incident No"},
            "tz": "America/Los_Angeles",
            "delimiter": ";",
            "values": {"status": {"DISP": "dispatched"}},
        },
    }
    eido.refresh_from_db()
    assert eido.params == {"mapping": {"values": {"status": {"HW": "on_scene"}}}}
    assert status_words(eido.params)["hw"] == status_words({"statuses": {"HW": "on_scene"}})["hw"] == "on_scene"
    untouched.refresh_from_db()
    assert untouched.params == {"mapping": "spd_911_2016"}
    # The converted params read exactly as the old words did.
    payload = b"Incident No;type_code;lon;lat;received_at;status\n1;A;-122.3;47.6;2024-05-02 08:00;DISP\n"
    (record,) = get_adapter("cad_csv").parse(payload, params=old.params).records
    assert (record.cad_number, record.status, record.received_at.utcoffset().total_seconds()) == (
        "1",
        "dispatched",
        -7 * 3600,
    )


def test_an_undecodable_header_refuses_the_payload_with_a_reason_that_can_be_stored():
    # Found by the fuzzer: the header's bad byte, kept as a surrogate, reached the dead letter and the log
    # and the push answered 500. The reason says what is wrong, never the undecodable text itself.
    with pytest.raises(ImportFileError) as caught:
        with open_source(data=b"cad\x80number,type_code\n1,ALRM\n", name="payload", fmt="csv") as opened:
            list(opened.records)
    message = str(caught.value)
    assert message.startswith("payload: the header line is not valid utf-8-sig text")
    message.encode("utf-8")  # storable and loggable: no surrogates


def test_a_bad_byte_beyond_the_header_width_still_rejects_its_row_cleanly():
    with open_source(data=b"a,b\n1,2\n3,4,\x80\n5,6\n", name="payload", fmt="csv") as opened:
        records = list(opened.records)
    assert [(r.line, bool(r.problem)) for r in records] == [(2, False), (3, True), (4, False)]
    records[1].problem.encode("utf-8")


def test_one_undecodable_byte_costs_its_row_in_the_real_nopd_footage_log():
    """The NOPD RTCC footage-request log (FOIA) has one invalid UTF-8 byte (0xC2) inside an item number on
    line 5082; it used to make the whole 18,141-row file unreadable."""
    path = real_sample("cad", "new_orleans_rtcc_footage_requests_item_signal_2018-2022.csv")
    with open_source(path=path) as opened:
        records = list(opened.records)
    assert len(records) == 18141
    broken = [r for r in records if r.problem]
    assert [(r.line, r.problem_field, r.problem[:69]) for r in broken] == [
        (5082, "item_number", "item_number: not valid utf-8-sig text (invalid continuation byte at b")
    ]
    assert records[5079].line == 5081 and not records[5079].problem  # the rows beside it read as usual
    assert records[5081].line == 5083 and not records[5081].problem


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("cad_csv", {"mapping": {"fields": {"colour": "Colour"}}}, "unknown field\\(s\\) colour"),
        ("cad_csv", {"mapping": {"tz": "Mars/Olympus"}}, "unknown time zone"),
        ("cad_csv", {"mapping": {"values": {"status": {"HELD": "parked"}}}}, "values.status"),
        ("cad_csv", {"mapping": "no_such_mapping"}, "no mapping file"),
        ("cad_csv", {"mapping": "sdot_cameras"}, "cameras layer"),
        ("cad_json", {"statuses": {"HELD": "parked"}}, "parked"),
        ("gunshot_json", {"mapping": {"fields": {"plate": "x"}}}, "unknown field\\(s\\) plate"),
    ],
)
def test_a_source_whose_mapping_cannot_work_is_refused_when_saved(home, kind, params, message):
    source = FeedSource(agency=home, name="typo", kind=kind, params=params)
    with pytest.raises(ValidationError, match=message):
        source.full_clean()


def test_a_source_with_a_working_mapping_saves(home):
    for kind, params in [
        ("cad_csv", {"mapping": "spd_911_2016"}),
        ("cad_csv", {"mapping": {"fields": {"cad_number": "Event No", "units": "Units"}, "tz": "UTC"}}),
        ("cad_csv", {}),
        ("cad_json", {"mapping": {"json_path": "data", "values": {"status": {"HELD": "pending"}}}}),
        ("alpr_json", {"mapping": {"fields": {"plate": "plateNumber"}}}),
        ("gtfs_rt", {}),
    ]:
        FeedSource(agency=home, name=f"ok {kind}", kind=kind, params=params).full_clean()


def test_cad_json_mapping_names_nested_values_by_path_and_keeps_units():
    payload = json.dumps(
        {
            "incidents": [
                {"id": "J1", "type": "ALRM", "where": {"lat": 47.6, "lon": -122.3}, "t": 1714636800, "crew": ["1A1"]},
                {"id": "J2", "type": "ALRM", "where": {"lat": 47.6}, "t": 1714636800},
            ]
        }
    ).encode()
    mapping = {
        "fields": {
            "cad_number": "id",
            "type_code": "type",
            "lon": "where.lon",
            "lat": "where.lat",
            "received_at": "t",
            "units": "crew",
        }
    }
    result = get_adapter("cad_json").parse(payload, params={"mapping": mapping})
    (record,) = result.records
    assert (record.cad_number, record.lon, record.lat, record.unit_refs) == ("J1", -122.3, 47.6, ("1A1",))
    assert record.received_at.isoformat() == "2024-05-02T08:00:00+00:00"
    (bad,) = result.rejected
    assert (bad.index, bad.field, bad.reason) == (1, "location", "no location: lon/lat are empty")
