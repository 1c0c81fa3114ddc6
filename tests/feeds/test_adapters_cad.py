"""CAD adapters (cad_json, cad_csv) over recorded payloads: pure parsing, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from apps.feeds.adapters.base import MAX_PAYLOAD_BYTES, IncidentRecord, PayloadError, adapter_kinds, get_adapter

PAYLOADS = Path(__file__).parent / "payloads"
PDT = timezone(timedelta(hours=-7))
PST = timezone(timedelta(hours=-8))


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def parse_json(data: bytes | list | dict, **params):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return get_adapter("cad_json").parse(raw, content_type="application/json", params=params or None)


def parse_csv(data: bytes | str, **params):
    raw = data.encode() if isinstance(data, str) else data
    return get_adapter("cad_csv").parse(raw, content_type="text/csv", params=params or None)


def incident(**overrides) -> dict:
    base = {
        "cad_number": "24-1",
        "type_code": "ALRM",
        "lon": -122.3405,
        "lat": 47.6097,
        "received_at": "2024-05-02T08:00:00Z",
    }
    return {**base, **overrides}


def reasons(result) -> dict[int, str]:
    return {r.index: r.reason for r in result.rejected}


def test_both_kinds_are_registered():
    kinds = dict(adapter_kinds())
    assert kinds["cad_json"] == "CAD incidents (JSON)"
    assert kinds["cad_csv"] == "CAD incidents (CSV)"


# --- cad_json ------------------------------------------------------------------------------------


def test_json_full_incident_maps_every_field():
    result = parse_json(payload("cad_incidents.json"))

    assert result.rejected == []
    assert [r.cad_number for r in result.records] == ["24-031337", "24-031338", "24-031301", "24-031340"]
    robbery = result.records[0]
    assert isinstance(robbery, IncidentRecord)
    assert (robbery.type_code, robbery.type_description, robbery.priority) == ("ROBB", "Robbery - armed", 1)
    assert robbery.status == "on_scene"  # "On Scene"
    assert robbery.address == "1st Ave & Pike St"
    assert (robbery.lon, robbery.lat) == (-122.3405, 47.6097)
    assert robbery.received_at == datetime(2024, 5, 1, 21, 14, 5, tzinfo=PDT)
    assert robbery.dispatched_at == datetime(2024, 5, 1, 21, 16, 40, tzinfo=PDT)
    assert robbery.on_scene_at == datetime(2024, 5, 1, 21, 22, 3, tzinfo=PDT)
    assert robbery.closed_at is None
    assert [(line.text, line.author) for line in robbery.narrative] == [
        ("RP states two males with a handgun took her purse", "CT3"),
        ("Suspects last seen NB on 1st Ave, red hoodie", "D7"),
    ]
    assert robbery.narrative[0].entered_at == datetime(2024, 5, 1, 21, 15, 10, tzinfo=PDT)
    assert robbery.unit_refs == ("2A12", "2A14")  # listed twice, assigned once


def test_json_position_forms_times_and_status_synonyms():
    _, collision, noise, suspicious = parse_json(payload("cad_incidents.json")).records

    assert (collision.lon, collision.lat) == (-122.3321, 47.6062)  # "location": {"lon", "lat"}
    assert collision.status == "dispatched"  # "enroute"
    assert collision.priority == 3  # default
    assert collision.received_at == datetime(2024, 5, 2, 4, 15, tzinfo=UTC)  # epoch seconds
    assert collision.dispatched_at == datetime(2024, 5, 2, 4, 17, tzinfo=UTC)  # epoch milliseconds

    assert (noise.lon, noise.lat) == (-122.3493, 47.6205)  # GeoJSON Point in "geometry"
    assert noise.status == "closed"  # "CLEARED"
    assert [line.text for line in noise.narrative] == ["Music turned down on contact"]
    assert noise.narrative[0].entered_at == noise.received_at

    assert suspicious.status == "dispatched"  # no status: the latest time given decides
    assert suspicious.received_at.microsecond == 125000


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("pending", "pending"),
        ("Assigned", "dispatched"),
        ("EN-ROUTE", "dispatched"),
        ("arrived", "on_scene"),
        ("on_scene", "on_scene"),
        ("Closed", "closed"),
        ("cancelled", "closed"),
        ("Queued", "pending"),
    ],
)
def test_json_status_words(word, status):
    assert parse_json([incident(status=word)]).records[0].status == status


def test_json_status_implied_by_the_latest_time():
    records = parse_json(
        [
            incident(),
            incident(dispatched_at="2024-05-02T08:01:00Z"),
            incident(dispatched_at="2024-05-02T08:01:00Z", on_scene_at="2024-05-02T08:05:00Z"),
            incident(on_scene_at="2024-05-02T08:05:00Z", closed_at="2024-05-02T09:00:00Z"),
        ]
    ).records
    assert [r.status for r in records] == ["pending", "dispatched", "on_scene", "closed"]


def test_json_source_status_words_from_params():
    result = parse_json(
        [incident(status="HELD"), incident(status="DISP")], statuses={"HELD": "pending", "DISP": "dispatched"}
    )
    assert [r.status for r in result.records] == ["pending", "dispatched"]


def test_json_params_mapping_to_an_unknown_status_is_a_payload_error():
    with pytest.raises(PayloadError, match="statuses"):
        parse_json([incident()], statuses={"HELD": "parked"})


def test_json_bad_records_are_rejected_and_good_ones_kept():
    result = parse_json(payload("cad_mixed.json"))

    assert [r.cad_number for r in result.records] == ["24-040001", "24-040018", "24-040001"]
    why = reasons(result)
    assert set(why) == set(range(1, 17))
    assert why[1] == "priority must be a number, got text '2'"
    assert why[2].startswith("longitude must be a number")
    assert why[3] == "longitude -222.5 is outside -180..180"
    assert why[4] == "position 0,0 is a missing fix, not a place"
    assert why[5] == "cad_number is missing"
    assert why[6] == "incident must be an object, got list"
    assert why[7] == "status 'teleported' is not a known incident status"
    assert "has no UTC offset" in why[8]
    assert "implausibly old" in why[9]
    assert "in the future" in why[10]
    assert why[11].startswith("narrative must be a list")
    assert why[12].startswith("units must be a list")
    assert why[13] == "priority 12.0 is outside 1..9"
    assert why[14] == "cad_number must be text, got bool"
    assert why[15] == "location must be an object, got list"
    assert why[16] == "narrative[0].text is missing"
    assert all(r.raw.startswith(("{", "[")) for r in result.rejected)
    assert '"24-040002"' in result.rejected[0].raw


def test_json_old_but_plausible_times_are_passed_on():
    # Staleness is the service's call (a backfill is legitimate); the adapter refuses only the absurd.
    record = parse_json(payload("cad_mixed.json")).records[1]
    assert record.received_at == datetime(2019, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_json_duplicates_parse_identically():
    records = parse_json(payload("cad_mixed.json")).records
    assert records[0] == records[2]


def test_json_wrong_types_never_escape():
    result = parse_json(
        [
            incident(priority=[1]),
            incident(priority=2.5),
            incident(lat=True),
            incident(received_at={"t": 1}),
            incident(narrative=[{"time": "2024-05-02T08:01:00Z", "text": ["x"]}]),
            incident(narrative=["a line"]),
            incident(units=[{"id": "2A12"}]),
            incident(geometry={"type": "LineString", "coordinates": [[0, 1], [1, 2]]}, lon=None, lat=None),
            incident(location={"type": "Point", "coordinates": "-122,47"}, lon=None, lat=None),
            incident(type_code="X" * 33),
            None,
            "24-1",
            7,
        ]
    )
    assert result.records == []
    assert len(result.rejected) == 13
    why = reasons(result)
    assert why[1] == "priority must be a whole number, got 2.5"
    assert why[2] == "latitude must be a number, got bool True"
    assert why[5] == "narrative[0] must be an object, got str"
    assert why[7] == "geometry must be a GeoJSON Point, got type 'LineString'"
    assert why[9] == "type_code is longer than 32 characters"


def test_json_accepts_a_bare_list_and_an_empty_batch():
    assert len(parse_json([incident()]).records) == 1
    empty = parse_json({"incidents": []})
    assert empty.records == [] and empty.rejected == []


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (payload("cad_truncated.json"), "not valid JSON"),
        (b"<incidents/>", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b'"24-1"', "expected a JSON list of incidents"),
        (b"42", "expected a JSON list of incidents"),
        (b'{"data": []}', "object without it"),
        (b'{"incidents": {"cad_number": "24-1"}}', "'incidents' must be a list"),
        (b"[NaN]", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ],
)
def test_json_unreadable_payloads_raise(raw, message):
    with pytest.raises(PayloadError, match=message):
        parse_json(raw)


def test_json_oversized_payload_raises():
    with pytest.raises(PayloadError, match="over the"):
        parse_json(b"[" + b" " * MAX_PAYLOAD_BYTES + b"]")


# --- cad_csv -------------------------------------------------------------------------------------


def test_csv_matches_the_json_format():
    result = parse_csv(payload("cad_incidents.csv"))

    assert result.rejected == []
    robbery, collision, noise, noise_again = result.records
    as_json = parse_json(payload("cad_incidents.json")).records[0]
    # Same incident in both formats: only the narrative differs (one cell, entered at received_at).
    assert robbery.narrative[0].text == "RP states two males with a handgun, took her purse"
    assert robbery.narrative[0].entered_at == robbery.received_at
    assert {**vars(robbery), "narrative": ()} == {**vars(as_json), "narrative": ()}
    assert collision.type_description == "Traffic collision, no injuries"
    assert collision.address == "4th Ave & Madison St"
    assert collision.status == "dispatched"
    assert collision.priority == 3
    assert collision.unit_refs == ("2B03",)
    assert collision.dispatched_at == datetime(2024, 5, 2, 4, 17, tzinfo=UTC)
    assert noise.status == "closed" and noise.priority == 5 and noise.narrative == ()
    assert noise == noise_again  # duplicates pass through, identical


def test_csv_column_mapping_delimiter_and_local_time():
    result = parse_csv(
        payload("cad_mapped.csv"),
        fields={
            "cad_number": "Incident No",
            "type_code": "Call Type",
            "type_description": "Descr",
            "priority": "Pri",
            "status": "State",
            "address": "Location",
            "lon": "X",
            "lat": "Y",
            "received_at": "Call Received",
            "units": "Units",
        },
        delimiter=";",
        timezone="America/Los_Angeles",
        statuses={"DISP": "dispatched"},
    )
    assert result.rejected == []
    march, november = result.records
    assert march.cad_number == "24-050001" and march.type_code == "BURG" and march.priority == 2
    assert march.address == "Bell St; apt 4"
    assert march.unit_refs == ("3C21", "3C22")
    assert march.status == "dispatched"
    assert march.received_at == datetime(2024, 3, 10, 1, 30, tzinfo=PST)
    # 01:30 happens twice on 3 November 2024; the first (daylight time) is taken.
    assert november.received_at == datetime(2024, 11, 3, 1, 30, tzinfo=PDT)


def test_csv_local_times_without_a_timezone_are_rejected():
    result = parse_csv("cad_number,type_code,lon,lat,received_at\n24-1,ALRM,-122.3,47.6,2024-05-02 08:00:00\n")
    assert result.records == []
    assert "has no UTC offset" in result.rejected[0].reason


def test_csv_bad_rows_are_rejected_and_good_ones_kept():
    # The header is deliberately untidy: " Type_Code", "CAD_NUMBER " still match.
    result = parse_csv(payload("cad_bad_rows.csv"))

    assert [r.cad_number for r in result.records] == ["24-060001", "24-060009"]
    why = reasons(result)
    # The reasons of the one intake pipeline (the same as a file import's), each naming its field.
    assert why == {
        1: "no location: lon/lat are empty",
        2: "lon must be a number, got 'abc'",
        3: "latitude 95.5 is outside -90..90",
        4: "priority must be a number, got 'high'",
        5: "row has 6 cells but the header has 7 (check delimiter and quoting)",
        6: "received_at 'yesterday' is not a valid date/time (expected ISO 8601)",
        7: "no location: coordinates are 0,0",
    }
    assert {r.index: r.field for r in result.rejected} == {
        1: "location",
        2: "lon",
        3: "location",
        4: "priority",
        5: "",
        6: "received_at",
        7: "location",
    }
    assert [r.line for r in result.rejected] == [3, 4, 5, 6, 7, 8, 9]
    assert result.rejected[0].raw == "24-060002,ALRM,-122.3405,,2024-05-02T08:00:00Z,3,pending"


def test_csv_byte_order_mark_and_other_encodings():
    text = "cad_number,type_code,address,lon,lat,received_at\n24-1,ALRM,Café Allegro,-122.3,47.6,2024-05-02T08:00:00Z\n"
    assert parse_csv(b"\xef\xbb\xbf" + text.encode()).records[0].address == "Café Allegro"
    assert parse_csv(text.encode("cp1252"), encoding="cp1252").records[0].address == "Café Allegro"
    # A row that is not valid text in the payload's encoding costs that row, with the reason and its line.
    wrong = parse_csv(text.encode("cp1252"))
    assert wrong.records == []
    assert (wrong.rejected[0].line, wrong.rejected[0].field, wrong.rejected[0].reason[:69]) == (
        2,
        "address",
        "address: not valid utf-8-sig text (invalid continuation byte at byte ",
    )


@pytest.mark.parametrize(
    ("raw", "params", "message"),
    [
        (b"", {}, "empty"),
        (b"\n\n", {}, "empty"),
        (b"cad_number,type_code,received_at\n24-1,ALRM,2024-05-02T08:00:00Z\n", {}, "no location for incidents"),
        (b'[{"cad_number": "24-1"}]', {}, "cad_number is required"),
        (b"cad_number,CAD_NUMBER,type_code,lon,lat,received_at\n", {}, "both match"),
        (payload("cad_incidents.csv"), {"fields": {"plate": "x"}}, "unknown field"),
        (payload("cad_incidents.csv"), {"fields": ["cad_number"]}, "fields must be an object"),
        (payload("cad_incidents.csv"), {"delimiter": ";;"}, "one character"),
        (payload("cad_incidents.csv"), {"timezone": "Mars/Olympus"}, "unknown time zone"),
        (payload("cad_incidents.csv"), {"mapping": {"tz": "Mars/Olympus"}}, "unknown time zone"),
        (payload("cad_incidents.csv"), {"encoding": "klingon"}, "not a known text encoding"),
        (payload("cad_incidents.csv"), {"mapping": "../../etc/passwd"}, "not a mapping file name"),
        (payload("cad_incidents.csv"), {"mapping": "no_such_mapping"}, "no mapping file"),
        (payload("cad_incidents.csv"), {"mapping": "sdot_cameras"}, "for the cameras layer, not incidents"),
        (payload("cad_incidents.csv"), {"mapping": {"tz": "UTC"}, "timezone": "UTC"}, "both given"),
    ],
)
def test_csv_unreadable_payloads_raise(raw, params, message):
    with pytest.raises(PayloadError, match=message):
        parse_csv(raw, **params)


def test_csv_a_row_cut_short_is_rejected_alone():
    raw = payload("cad_incidents.csv")
    cut = raw[: raw.rindex(b"2024-05-01T19:40:00Z")]  # the last row ends mid-cell, no open quote
    result = parse_csv(cut)
    assert len(result.records) == 3
    assert result.rejected[0].index == 3 and "cells" in result.rejected[0].reason


def test_csv_a_quote_never_closed_rejects_that_row_not_the_payload():
    # A push cut off inside a quoted cell used to refuse the whole payload; the good rows before it stay.
    result = parse_csv(payload("cad_truncated.csv"))
    assert [r.cad_number for r in result.records] == ["24-070001"]
    (cut,) = result.rejected
    assert (cut.index, cut.line) == (1, 3)
    assert cut.reason == "a quote opened in this row is never closed (stray quote?)"
