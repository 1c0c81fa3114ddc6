"""ALPR, gunshot, generic alert and CAP adapters over recorded payloads: pure parsing, no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from apps.feeds.adapters.base import (
    MAX_PAYLOAD_BYTES,
    AlertRecord,
    AlprReadRecord,
    GunshotRecord,
    PayloadError,
    get_adapter,
)
from apps.feeds.adapters.cap import source_id

PAYLOADS = Path(__file__).parent / "payloads"
PDT = timezone(timedelta(hours=-7))
PST = timezone(timedelta(hours=-8))


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def parse(kind: str, data: bytes | list | dict | str, **params):
    if isinstance(data, str):
        raw = data.encode()
    elif isinstance(data, bytes):
        raw = data
    else:
        raw = json.dumps(data).encode()
    return get_adapter(kind).parse(raw, params=params or None)


def reasons(result) -> dict[int, str]:
    return {r.index: r.reason for r in result.rejected}


@pytest.mark.parametrize(
    ("kind", "label"),
    [
        ("alpr_json", "ALPR reads (JSON)"),
        ("gunshot_json", "Gunshot detections (JSON)"),
        ("alert_json", "Alerts: panic buttons, sensors (JSON)"),
        ("cap", "CAP 1.0-1.2 alerts (XML, or an ATOM/RSS feed of them)"),
    ],
)
def test_kinds_are_registered(kind, label):
    assert get_adapter(kind).label == label


@pytest.mark.parametrize(
    ("kind", "raw", "message"),
    [
        ("alpr_json", b'{"reads": [{"plate": "ABC1234", "read_at"', "not valid JSON"),
        ("alpr_json", b'{"reads": "ABC1234"}', "'reads' must be a list"),
        ("alpr_json", b'{"plate": "ABC1234"}', "object without it"),
        ("gunshot_json", b"3", "expected a JSON list of detections"),
        ("gunshot_json", b"detections: []", "not valid JSON"),
        ("alert_json", b'{"alerts": null}', "'alerts' must be a list"),
        ("alert_json", b"", "not valid JSON"),
    ],
)
def test_unreadable_json_payloads_raise(kind, raw, message):
    with pytest.raises(PayloadError, match=message):
        parse(kind, raw)


# --- ALPR ----------------------------------------------------------------------------------------


def test_alpr_reads():
    result = parse("alpr_json", payload("alpr_reads.json"))

    first, mobile, bare, duplicate = result.records
    assert first == AlprReadRecord(
        plate="ABC1234",
        read_at=datetime(2024, 5, 1, 21, 14, 5, tzinfo=UTC),
        lon=-122.3405,
        lat=47.6097,
        state="WA",
        site_ref="SITE-17",
        image_url="https://alpr.example.gov/img/8812.jpg",
    )
    assert duplicate == first  # idempotency is the service's job; the adapter passes repeats on unchanged
    # Passed on as read, trimmed: normalizing for matching is the service's job.
    assert mobile.plate == "7xyz-123"
    assert mobile.read_at == datetime(2024, 5, 1, 21, 14, 5, 123000, tzinfo=UTC)  # "timestamp", epoch ms
    assert (mobile.lon, mobile.lat, mobile.site_ref) == (-122.3321, 47.6062, "1042")
    assert (bare.plate, bare.state, bare.site_ref, bare.image_url) == ("BCD 987", "", "", "")


def test_alpr_bad_reads_are_rejected():
    why = reasons(parse("alpr_json", payload("alpr_reads.json")))
    assert why == {
        3: "plate is missing",
        4: "plate is longer than 16 characters",
        5: "plate 'AB#12$' has characters a plate cannot have",
        6: "plate 'NOREAD' is a no-read placeholder, not a plate",
        7: "plate 'A' has 1 letters and digits, not 2..10",
        8: "plate must be text, got int",
        9: "plate must be text, got list",
        10: "latitude 147.6097 is outside -90..90",
        11: "image_url 'javascript:alert(1)' is not an http(s) URL",
        12: "read_at is missing",
        13: "state 'W A!' is not a state, province or country code",
        14: "read must be an object, got str",
    }


@pytest.mark.parametrize(
    "plate", ["AB--12", "AB  12", "-AB12", "ABC12345678", "ÄBC123", "AB\n12", "ABC1234;DROP", "unknown"]
)
def test_alpr_garbage_plates(plate):
    result = parse("alpr_json", [{"plate": plate, "read_at": "2024-05-01T21:14:05Z", "lon": -122.3, "lat": 47.6}])
    assert result.records == [] and len(result.rejected) == 1


# --- gunshots ------------------------------------------------------------------------------------


def test_gunshot_detections():
    result = parse("gunshot_json", payload("gunshot_detections.json"))

    first, default, duplicate = result.records
    assert first == GunshotRecord(
        source_id="GS-20240501-0042",
        lon=-122.3012,
        lat=47.5987,
        detected_at=datetime(2024, 5, 1, 23, 41, 7, 250000, tzinfo=UTC),
        rounds=4,
        confidence=0.93,
    )
    assert duplicate == first
    assert (default.rounds, default.confidence) == (None, 1.0)  # no count: unknown rounds, not 1
    assert (default.lon, default.lat) == (-122.31, 47.6)  # GeoJSON Point


def test_gunshot_bad_detections_are_rejected():
    why = reasons(parse("gunshot_json", payload("gunshot_detections.json")))
    assert why == {
        1: "rounds must be a number, got text '2'",
        3: "rounds 0.0 is outside 1..200",
        4: "rounds 250.0 is outside 1..200",
        5: "rounds must be a whole number, got 2.5",
        6: "confidence 140.0 is outside 0..100",
        7: "confidence must be a number, got text 'high'",
        8: "position needs both lon and lat",
        9: "id is missing",
        10: "detected_at 1970-01-01T00:00:00+00:00 is implausibly old",
    }


@pytest.mark.parametrize(("given", "stored"), [(0, 0.0), (0.5, 0.5), (1, 1.0), (87, 0.87), (100, 1.0)])
def test_gunshot_confidence_scale(given, stored):
    detection = {"id": 7, "lon": -122.3, "lat": 47.6, "detected_at": 1714606867, "confidence": given}
    (record,) = parse("gunshot_json", {"detections": [detection]}).records
    assert record.confidence == pytest.approx(stored)
    assert record.source_id == "7"


# --- generic alerts ------------------------------------------------------------------------------


def test_alerts():
    result = parse("alert_json", payload("alerts.json"))

    panic, sensor, bare, untitled_panic, duplicate = result.records
    assert panic == AlertRecord(
        source_id="PB-0017-20240501T211405",
        kind="panic",
        title="Panic button: City Hall front desk",
        raised_at=datetime(2024, 5, 1, 21, 14, 5, tzinfo=PDT),
        lon=-122.3294,
        lat=47.6036,
        detail="Duress button 2F-03",
    )
    assert duplicate == panic
    assert (sensor.kind, sensor.lon, sensor.lat) == ("sensor", -122.335, 47.59)  # "Sensor", "location"
    assert (bare.source_id, bare.kind, bare.title, bare.lon, bare.lat) == ("5521", "other", "Alert", None, None)
    assert untitled_panic.title == "Panic button"


def test_bad_alerts_are_rejected():
    why = reasons(parse("alert_json", payload("alerts.json")))
    assert why == {
        4: "kind 'hotlist_hit' is not one of panic, sensor, other",
        5: "kind 'tornado' is not one of panic, sensor, other",
        6: "position needs both lon and lat",
        7: "raised_at 'not a time' is not an ISO 8601 date-time",
        8: "title must be text, got dict",
        9: "longitude 200.0 is outside -180..180",
    }


# --- CAP -----------------------------------------------------------------------------------------


def test_cap_panic_alert():
    (alert,) = parse("cap", payload("cap_panic.xml")).records
    assert alert == AlertRecord(
        source_id="alarms@facilities.example.gov,CITYHALL-PB-2024-0501-0017",
        kind="panic",
        title="Panic alarm",
        raised_at=datetime(2024, 5, 1, 21, 14, 5, tzinfo=PDT),
        lon=-122.3294,
        lat=47.6036,
        detail="Panic button pressed at City Hall front desk\n\n"
        "Duress button 2F-03 activated.\nSecond floor, north lobby.\n\n"
        "Severity Severe, Urgency Immediate, Certainty Observed\n\n"
        "Area: City Hall, 600 4th Ave",
        area_desc="City Hall, 600 4th Ave",
    )


def test_cap_repeats_parse_identically():
    assert parse("cap", payload("cap_panic.xml")).records == parse("cap", payload("cap_panic.xml")).records


def test_cap_english_info_of_several_and_polygon_centroid():
    (alert,) = parse("cap", payload("cap_multi_info.xml")).records
    assert alert.title == "Underpass flooding"  # the en-US block, though es-US comes first
    assert alert.kind == "sensor"
    assert alert.source_id == "sensors@utilities.example.gov,SPU-FLOOD-2024-0117"  # an Update is its own alert
    assert alert.raised_at == datetime(2024, 1, 17, 6, 40, tzinfo=PST)
    assert alert.lon == pytest.approx(-122.335) and alert.lat == pytest.approx(47.575)
    assert alert.detail == (
        "Water level sensor above threshold\n\nGauge SPK-2 reads 42 cm.\n\n"
        "Close the underpass to traffic.\n\nSeverity Moderate, Urgency Expected, Certainty Observed\n\n"
        "Area: Spokane St underpass"
    )


def test_cap_without_english_uses_the_first_info_and_missing_language_means_english():
    xml = payload("cap_multi_info.xml").decode()
    only_spanish = xml.replace("<language>en-US</language>", "<language>fr-CA</language>")
    assert parse("cap", only_spanish).records[0].title == "Inundación en paso inferior"
    # Both blocks now count as English: one alert of the two, their distinct events joined.
    no_language = xml.replace("<language>es-US</language>", "")
    (alert,) = parse("cap", no_language).records
    assert alert.title == "Inundación en paso inferior; Underpass flooding"


def test_cap_cancel_names_the_withdrawn_alert():
    result = parse("cap", payload("cap_cancel.xml"))
    assert result.rejected == []
    (cancel,) = result.records
    assert cancel.msg_type == "Cancel"
    assert cancel.source_id == "alarms@facilities.example.gov,CITYHALL-PB-2024-0501-0018"
    # The withdrawn id is exactly the source_id the original alert was given (the store closes it).
    assert cancel.references == (source_id("alarms@facilities.example.gov", "CITYHALL-PB-2024-0501-0017"),)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (("<msgType>Alert</msgType>", "<msgType>Ack</msgType>"), "msgType Ack answers another message"),
        (("<msgType>Alert</msgType>", "<msgType>Error</msgType>"), "msgType Error answers another message"),
        (("<msgType>Alert</msgType>", "<msgType>Shout</msgType>"), "msgType 'Shout' is not a CAP message type"),
        (("<status>Actual</status>", "<status>Exercise</status>"), "status 'Exercise': only Actual alerts"),
        (("<status>Actual</status>", ""), "status '(missing)': only Actual alerts"),
        (("<identifier>CITYHALL-PB-2024-0501-0017</identifier>", ""), "identifier is missing"),
        (("2024-05-01T21:14:05-07:00", "2024-05-01T21:14:05"), "has no UTC offset"),
        (("<circle>47.6036,-122.3294 0</circle>", "<circle>47.6036;-122.3294 0</circle>"), "is not lat,lon"),
        (
            ("<circle>47.6036,-122.3294 0</circle>", "<polygon>47.60,-122.33 47.61,-122.33</polygon>"),
            "at least four lat,lon pairs",
        ),
    ],
)
def test_cap_unusable_alerts_are_rejected(change, reason):
    xml = payload("cap_panic.xml").decode().replace(*change)
    result = parse("cap", xml)
    assert result.records == []
    assert reason in result.rejected[0].reason


def test_cap_alert_without_info_is_rejected():
    xml = payload("cap_panic.xml").decode()
    xml = xml[: xml.index("<info>")] + xml[xml.index("</info>") + len("</info>") :]
    assert parse("cap", xml).rejected[0].reason == "the alert has no <info> block"


def test_cap_feed_keeps_good_alerts_beside_bad_ones():
    result = parse("cap", payload("cap_feed.xml"))
    (door,) = result.records
    assert door.source_id == "alarms@facilities.example.gov,LIB-DOOR-0451"
    assert (door.lon, door.lat) == (None, None)  # geocode-only area: no position
    assert door.detail == (
        "Severity Moderate, Urgency Immediate, Certainty Observed\n\nArea: Central Library loading dock"
    )
    assert door.geocodes == ("SITE:LIB-01",)  # placed at store time through the zones carrying it
    assert reasons(result) == {1: "status 'Test': only Actual alerts are shown", 2: "latitude 147.6 is outside -90..90"}


def test_cap_long_ids_are_hashed_to_a_stable_key():
    sender = "w-nws.webmaster@noaa.gov"
    identifier = "urn:oid:2.49.0.1.840.0.0a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3.001.1"
    key = source_id(sender, identifier)
    assert len(key) == 64 and key.startswith("cap:")
    assert key == source_id(sender, identifier)
    assert key != source_id(sender, identifier + "2")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("cap_billion_laughs.xml", "refused"),
        ("cap_external_entity.xml", "refused"),
        ("cap_truncated.xml", "not well-formed XML"),
        ("alerts.json", "not well-formed XML"),
    ],
)
def test_cap_unreadable_or_hostile_payloads_raise(name, message):
    with pytest.raises(PayloadError, match=message):
        parse("cap", payload(name))


def test_cap_hostile_payloads_name_the_refusal():
    # Refused before any expansion or fetch: the reason says why, so an operator knows it was not a glitch.
    for name in ("cap_billion_laughs.xml", "cap_external_entity.xml"):
        with pytest.raises(PayloadError) as caught:
            parse("cap", payload(name))
        assert "DTDs and entities are not allowed" in str(caught.value)


def test_cap_oversized_payload_raises():
    with pytest.raises(PayloadError, match="over the"):
        parse("cap", b"<alert>" + b" " * MAX_PAYLOAD_BYTES + b"</alert>")


def test_cap_document_without_alerts_raises():
    with pytest.raises(PayloadError, match="no CAP 1.0, 1.1 or 1.2 <alert>"):
        parse("cap", "<alert><identifier>no namespace</identifier></alert>")
    with pytest.raises(PayloadError, match="no CAP 1.0, 1.1 or 1.2 <alert>"):
        parse("cap", '<alert xmlns="urn:oasis:names:tc:emergency:cap:2.0"><identifier>x</identifier></alert>')
    # An index feed with no entries is a quiet hour, not an error.
    empty = parse("cap", '<feed xmlns="http://www.w3.org/2005/Atom"><title>empty</title></feed>')
    assert (empty.records, empty.rejected) == ([], [])
