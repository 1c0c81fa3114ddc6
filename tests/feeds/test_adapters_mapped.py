"""The JSON adapters with a fixed record shape (gunshot_json, alert_json, alpr_json) take a source's mapping in
the one mapping format: a vendor's own keys, value codes, time format and zone, then the adapter's checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from apps.feeds.adapters.base import PayloadError, get_adapter


def parse(kind: str, data, **params):
    return get_adapter(kind).parse(json.dumps(data).encode(), params=params or None)


def test_gunshot_vendor_json_through_a_mapping():
    vendor = {
        "data": {
            "incidents": [
                {"incidentId": "SST-1", "longitude": -87.65, "latitude": 41.85, "time": "05/02/2024 03:14:05", "n": 4},
                {"incidentId": "SST-2", "longitude": -87.65, "latitude": 41.85, "time": "05/32/2024 03:14:05", "n": 1},
            ]
        }
    }
    mapping = {
        "json_path": "data.incidents",
        "fields": {"id": "incidentId", "lon": "longitude", "lat": "latitude", "detected_at": "time", "rounds": "n"},
        "datetime_format": "%m/%d/%Y %H:%M:%S",
        "tz": "America/Chicago",
    }
    result = parse("gunshot_json", vendor, mapping=mapping)

    (shot,) = result.records
    assert (shot.source_id, shot.rounds, shot.lon) == ("SST-1", 4, -87.65)
    assert shot.detected_at == datetime(2024, 5, 2, 8, 14, 5, tzinfo=UTC)  # CDT, UTC-5
    (bad,) = result.rejected
    assert (bad.index, bad.field) == (1, "detected_at")
    assert bad.reason.startswith("detected_at '05/32/2024 03:14:05' is not a valid date/time (expected %m/%d/%Y")


def test_alert_codes_translated_by_the_mapping_values():
    data = [
        {"eventId": "E1", "type": "PANIC_BUTTON", "at": "2024-05-02T08:00:00Z", "where": {"lat": 47.6, "lng": -122.3}},
        {"eventId": "E2", "type": "DOOR_FORCED", "at": "2024-05-02T08:01:00Z"},
    ]
    mapping = {
        "fields": {"id": "eventId", "kind": "type", "raised_at": "at", "lon": "where.lng", "lat": "where.lat"},
        "values": {"kind": {"PANIC_BUTTON": "panic"}},
        "constants": {"title": "Building alarm"},
    }
    result = parse("alert_json", data, mapping=mapping)

    (panic,) = result.records
    assert (panic.source_id, panic.kind, panic.title, panic.lon, panic.lat) == (
        "E1",
        "panic",
        "Building alarm",
        -122.3,
        47.6,
    )
    (unknown,) = result.rejected
    assert (unknown.index, unknown.field) == (1, "kind")
    assert unknown.reason == "kind 'door_forced' is not one of panic, sensor, other"


def test_alpr_reads_with_renamed_keys_and_a_named_list():
    data = {"plateReads": [{"plateNumber": "ABC1234", "ts": 1714636800, "gps": {"lat": 47.6, "lon": -122.3}}]}
    mapping = {
        "json_path": "plateReads",
        "fields": {"plate": "plateNumber", "read_at": "ts", "lon": "gps.lon", "lat": "gps.lat"},
    }
    (read,) = parse("alpr_json", data, mapping=mapping).records
    assert (read.plate, read.read_at, read.lat) == ("ABC1234", datetime(2024, 5, 2, 8, 0, tzinfo=UTC), 47.6)


@pytest.mark.parametrize(
    ("kind", "mapping", "message"),
    [
        ("gunshot_json", {"fields": {"plate": "x"}}, "unknown field\\(s\\) plate"),
        ("alert_json", {"tz": "Mars/Olympus"}, "unknown time zone"),
        ("alpr_json", {"json_path": "nowhere"}, "json_path 'nowhere' not found"),
        ("gunshot_json", {"fields": ["id"]}, "fields must be an object"),
    ],
)
def test_a_mapping_that_cannot_work_refuses_the_payload(kind, mapping, message):
    with pytest.raises(PayloadError, match=message):
        parse(kind, [], mapping=mapping)
