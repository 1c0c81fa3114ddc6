"""AVL adapters (gtfs_rt, cot, osmand) over recorded payloads in tests/feeds/payloads/ and built variants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.http import QueryDict
from google.transit import gtfs_realtime_pb2

from apps.feeds.adapters import base
from apps.feeds.adapters.base import MAX_PAYLOAD_BYTES, PayloadError, PositionRecord
from apps.feeds.adapters.cot import CursorOnTargetAdapter, EventStream, frame_events
from apps.feeds.adapters.gtfs_rt import GtfsRealtimeAdapter
from apps.feeds.adapters.osmand import KNOT, OsmAndAdapter
from apps.units.choices import UnitKind

PAYLOADS = Path(__file__).parent / "payloads"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
EPOCH_T0 = int(T0.timestamp())


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def test_avl_kinds_are_registered():
    # The registry itself rather than get_adapter(): that imports every adapter module, other formats too.
    assert {kind: base._REGISTRY[kind] for kind in ("gtfs_rt", "cot", "osmand")} == {
        "gtfs_rt": GtfsRealtimeAdapter,
        "cot": CursorOnTargetAdapter,
        "osmand": OsmAndAdapter,
    }


# --- GTFS-Realtime ------------------------------------------------------------------------------


def gtfs_feed(*vehicles: dict, header_time: int | None = EPOCH_T0) -> bytes:
    """A FeedMessage with one entity per dict: id, vid, label, lat, lon, bearing, speed, ts, deleted, trip."""
    feed = gtfs_realtime_pb2.FeedMessage()
    feed.header.gtfs_realtime_version = "2.0"
    if header_time is not None:
        feed.header.timestamp = header_time
    for n, spec in enumerate(vehicles):
        entity = feed.entity.add()
        entity.id = spec.get("id", f"e{n}")
        if spec.get("deleted"):
            entity.is_deleted = True
        if spec.get("trip"):
            entity.trip_update.trip.trip_id = spec["trip"]
            continue
        vehicle = entity.vehicle
        if "vid" in spec:
            vehicle.vehicle.id = spec["vid"]
        if "label" in spec:
            vehicle.vehicle.label = spec["label"]
        if "lat" in spec:
            vehicle.position.latitude = spec["lat"]
            vehicle.position.longitude = spec["lon"]
            for field in ("bearing", "speed"):
                if field in spec:
                    setattr(vehicle.position, field, spec[field])
        if "ts" in spec:
            vehicle.timestamp = spec["ts"]
    return feed.SerializeToString()


def fix(**overrides) -> dict:
    return {"vid": "101", "label": "ADAM-12", "lat": 47.6097, "lon": -122.3331, "ts": EPOCH_T0} | overrides


def test_gtfs_recorded_sample():
    result = GtfsRealtimeAdapter().parse(payload("gtfs_vehicle_positions.pb"))

    assert result.records == [
        PositionRecord(
            unit_ref="101", lon=-122.3331, lat=47.6097, recorded_at=T0, heading=92.5, speed=11.2, call_sign="ADAM-12"
        ),
        PositionRecord(
            unit_ref="102", lon=-122.3493, lat=47.6205, recorded_at=T0 + timedelta(seconds=10), call_sign="BAKER-3"
        ),
        # No vehicle id: the label names the unit; no vehicle timestamp: the header's is used.
        PositionRecord(
            unit_ref="K9-1", lon=-122.3316, lat=47.5951, recorded_at=T0 + timedelta(seconds=30), call_sign="K9-1"
        ),
    ]
    # The trip update is not a position (skipped); the vehicle without a position is rejected.
    assert [(r.index, r.reason) for r in result.rejected] == [(4, "vehicle '104' has no position")]
    assert 'id: "veh-104"' in result.rejected[0].raw


def test_gtfs_float32_fields_come_back_as_the_decimals_sent():
    [record] = GtfsRealtimeAdapter().parse(gtfs_feed(fix(lat=47.61234, lon=-122.98765, speed=13.37))).records
    assert (record.lat, record.lon, record.speed) == (47.61234, -122.98765, 13.37)
    # Finer than a 32-bit float holds (about 0.5 m here): the nearest short decimal, not 15 noise digits.
    [record] = GtfsRealtimeAdapter().parse(gtfs_feed(fix(lat=47.123456))).records
    assert record.lat == pytest.approx(47.123456, abs=2e-6) and len(repr(record.lat)) <= 10


def test_gtfs_entity_id_names_a_vehicle_without_descriptor():
    [record] = GtfsRealtimeAdapter().parse(gtfs_feed({"id": "bus-7", "lat": 47.6, "lon": -122.3})).records
    assert (record.unit_ref, record.call_sign, record.recorded_at) == ("bus-7", "", T0)


def test_gtfs_without_any_timestamp_is_rejected():
    result = GtfsRealtimeAdapter().parse(gtfs_feed({"vid": "9", "lat": 47.6, "lon": -122.3}, header_time=None))
    assert result.records == []
    assert "no timestamp" in result.rejected[0].reason


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        (fix(lat=91.0), "latitude 91.0 is outside -90..90"),
        (fix(lon=-181.0), "longitude -181.0 is outside -180..180"),
        (fix(lat=0.0, lon=0.0), "missing fix"),
        (fix(bearing=361.0), "bearing 361.0 is outside"),
        (fix(speed=-2.0), "speed -2.0 is outside"),
        (fix(speed=400.0), "speed 400.0 is outside"),
        (fix(ts=EPOCH_T0 * 1000 * 1000), "out of range"),
        (fix(ts=1), "implausibly old"),
    ],
)
def test_gtfs_bad_values_reject_the_entity(spec, reason):
    result = GtfsRealtimeAdapter().parse(gtfs_feed(fix(vid="good", label="GOOD"), spec))
    assert [r.unit_ref for r in result.records] == ["good"]
    assert len(result.rejected) == 1 and reason in result.rejected[0].reason, result.rejected


def test_gtfs_future_fix_is_rejected_and_old_fix_is_kept():
    future = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    old = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
    result = GtfsRealtimeAdapter().parse(gtfs_feed(fix(ts=future), fix(ts=old)))
    # Old fixes parse; whether they become a unit's current position is the service's decision.
    assert [r.recorded_at.year for r in result.records] == [2019]
    assert "in the future" in result.rejected[0].reason


def test_gtfs_repeated_fix_passes_and_conflicting_fix_is_rejected():
    feed = gtfs_feed(fix(), fix(lat=47.7, lon=-122.4), fix(), fix(ts=EPOCH_T0 + 5))
    result = GtfsRealtimeAdapter().parse(feed)
    # The exact repeat goes on for the service to count as a duplicate; a different position for the
    # same unit and instant cannot both be true.
    assert [(r.lat, r.recorded_at) for r in result.records] == [
        (47.6097, T0),
        (47.6097, T0),
        (47.6097, T0 + timedelta(seconds=5)),
    ]
    assert result.rejected[0].index == 1
    assert "conflicting fix" in result.rejected[0].reason and "record 0" in result.rejected[0].reason


def test_gtfs_deleted_and_non_vehicle_entities_are_skipped():
    result = GtfsRealtimeAdapter().parse(gtfs_feed(fix(deleted=True), {"trip": "t1"}, fix(vid="202")))
    assert [r.unit_ref for r in result.records] == ["202"]
    assert result.rejected == []
    assert result.ignored == {"deleted entity": 1, "TripUpdate": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"",  # parses as an empty message: no header
        b"\xff\xfe\x00garbage",
        b'{"entity": []}',  # JSON rendering without the header a feed must have
        b'{"header": {"gtfs_realtime_version": 2',  # cut off JSON
        b"<event/>",
    ],
)
def test_gtfs_non_feed_is_a_payload_error(body):
    with pytest.raises(PayloadError, match="not a GTFS-Realtime FeedMessage"):
        GtfsRealtimeAdapter().parse(body)


def test_gtfs_truncated_feed_is_a_payload_error():
    body = payload("gtfs_vehicle_positions.pb")
    with pytest.raises(PayloadError):
        GtfsRealtimeAdapter().parse(body[:-3])


def test_gtfs_oversized_payload_is_refused():
    with pytest.raises(PayloadError, match="byte limit"):
        GtfsRealtimeAdapter().parse(b"\x00" * (MAX_PAYLOAD_BYTES + 1))


# --- Cursor on Target ---------------------------------------------------------------------------


def cot_event(
    uid: str = "ANDROID-1",
    cot_type: str = "a-f-G-U-C",
    time: str = "2024-05-01T12:00:00.000Z",
    stale: str = "2024-05-01T12:05:00.000Z",
    point: str = 'lat="47.6097" lon="-122.3331" hae="9999999.0" ce="9999999.0" le="9999999.0"',
    detail: str = '<contact callsign="ADAM-12"/><track course="92.5" speed="11.2"/>',
) -> str:
    return (
        f'<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" time="{time}" start="{time}" '
        f'stale="{stale}"><point {point}/><detail>{detail}</detail></event>'
    )


def cot(*events: str) -> bytes:
    return "\n".join(events).encode()


def test_cot_recorded_atak_sa():
    [record] = CursorOnTargetAdapter().parse(payload("cot_sa_atak.xml")).records
    assert record == PositionRecord(
        unit_ref="ANDROID-0a1b2c3d4e5f6071",
        lon=-122.3331,
        lat=47.6097,
        recorded_at=T0,
        heading=92.5,
        speed=11.2,
        call_sign="ADAM-12",
    )


def test_cot_recorded_stream_of_events():
    result = CursorOnTargetAdapter().parse(payload("cot_stream.xml"))

    assert [(r.unit_ref, r.call_sign, r.unit_kind, r.heading, r.speed) for r in result.records] == [
        ("ANDROID-0a1b2c3d4e5f6071", "ADAM-12", "", 92.5, 11.2),
        ("WINTAK-7d1e", "BAKER-3", "", None, 0.0),  # course 9999999 is CoT's "unknown"
        ("GUARDIAN-1", "GUARDIAN-1", UnitKind.AIR, 270.0, 51.4),
    ]
    # .NET writes seven fractional digits; microseconds are kept.
    assert result.records[1].recorded_at == T0 + timedelta(seconds=2, microseconds=123456)
    # The ping (index 1) is counted as ignored; the chat (index 6) is content we do not take: a rejection.
    assert [(r.index, r.reason) for r in result.rejected] == [
        (4, "type 'a-h-G' is not a friendly ground, air or surface unit"),
        (5, "point is 9999999, CoT's 'position unknown'"),
        (6, "event type 'b-t-f' (GeoChat message) is not ingested"),
    ]
    assert result.ignored == {"t-x-c-t": 1}
    assert 'uid="marker-3f2a"' in result.rejected[0].raw


def test_cot_several_events_back_to_back_without_separators():
    body = (cot_event(uid="A") + cot_event(uid="B") + cot_event(uid="C", cot_type="a-f-S-X")).encode()
    assert [r.unit_ref for r in CursorOnTargetAdapter().parse(body).records] == ["A", "B", "C"]


def test_cot_stale_event_is_still_a_fix():
    result = CursorOnTargetAdapter().parse(cot(cot_event(stale="2024-05-01T12:00:01Z")))
    assert [r.recorded_at for r in result.records] == [T0]


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (cot_event(point='lat="91.0" lon="-122.3"'), "latitude 91.0 is outside -90..90"),
        (cot_event(point='lat="47.6" lon="-9999999.0"'), "position unknown"),
        (cot_event(point='lat="forty" lon="-122.3"'), "point lat must be a number"),
        (cot_event(point='lon="-122.3"'), "point lat is missing"),
        (cot_event(point='lat="0" lon="0"'), "missing fix"),
        (cot_event(uid=""), "uid is missing"),
        (cot_event(time=""), "time is missing"),
        (cot_event(time="yesterday"), "not an ISO 8601 date-time"),
        (cot_event(time="2024-05-01T12:00:00"), "has no UTC offset"),
        (cot_event(time="2999-01-01T00:00:00Z"), "in the future"),
        (cot_event(cot_type="a-u-G"), "not a friendly"),
        (cot_event(cot_type="a-a-G"), "not a friendly"),  # "assumed friend" is not a confirmed unit
        (cot_event(cot_type="a-f-P"), "not a friendly ground, air or surface unit"),
        (cot_event(cot_type="a-f"), "not a friendly"),
        (cot_event(detail='<track course="400" speed="3"/>'), "track course 400.0 is outside"),
        (cot_event(detail='<track course="10" speed="-3"/>'), "track speed -3.0 is outside"),
        (cot_event(detail='<track course="north" speed="3"/>'), "track course must be a number"),
        ('<event version="2.0" uid="x" type="a-f-G" time="2024-05-01T12:00:00Z"><detail/></event>', "no <point>"),
    ],
)
def test_cot_bad_event_is_rejected_and_the_rest_goes_on(event, reason):
    result = CursorOnTargetAdapter().parse(cot(cot_event(uid="GOOD"), event))
    assert [r.unit_ref for r in result.records] == ["GOOD"]
    assert len(result.rejected) == 1 and reason in result.rejected[0].reason, result.rejected
    assert result.rejected[0].index == 1


def test_cot_missing_detail_gives_no_call_sign_or_motion():
    event = cot_event().replace('<detail><contact callsign="ADAM-12"/><track course="92.5" speed="11.2"/></detail>', "")
    [record] = CursorOnTargetAdapter().parse(event.encode()).records
    assert (record.call_sign, record.heading, record.speed) == ("", None, None)


def test_cot_control_events_are_counted_ignored_and_content_we_do_not_take_is_rejected():
    result = CursorOnTargetAdapter().parse(
        cot(cot_event(cot_type="t-x-c-t"), cot_event(cot_type="t-x-c-t"), cot_event(cot_type="b-t-f"))
    )
    assert result.records == [] and result.ignored == {"t-x-c-t": 2}
    assert [(r.index, r.reason) for r in result.rejected] == [
        (2, "event type 'b-t-f' (GeoChat message) is not ingested")
    ]


def test_cot_repeated_event_passes_and_conflicting_one_is_rejected():
    result = CursorOnTargetAdapter().parse(cot(cot_event(), cot_event(), cot_event(point='lat="47.7" lon="-122.3"')))
    assert [r.lat for r in result.records] == [47.6097, 47.6097]
    assert [r.index for r in result.rejected] == [2] and "conflicting fix" in result.rejected[0].reason


def test_cot_truncated_only_event_is_a_payload_error():
    with pytest.raises(PayloadError, match="no readable CoT event"):
        CursorOnTargetAdapter().parse(payload("cot_truncated.xml"))


def test_cot_truncated_event_after_good_ones_is_one_rejection():
    body = cot(cot_event(uid="A"), cot_event(uid="B")) + b"\n" + payload("cot_truncated.xml")
    result = CursorOnTargetAdapter().parse(body)
    assert [r.unit_ref for r in result.records] == ["A", "B"]
    assert result.rejected[0].index == 2 and "not well-formed" in result.rejected[0].reason


def test_cot_event_cut_short_by_the_next_one_is_rejected_alone():
    cut = cot_event(uid="A")[:90]
    result = CursorOnTargetAdapter().parse((cut + cot_event(uid="B")).encode())
    assert [r.unit_ref for r in result.records] == ["B"]
    assert [r.index for r in result.rejected] == [0]


@pytest.mark.parametrize("name", ["cot_billion_laughs.xml", "cot_external_entity.xml"])
def test_cot_dtd_payloads_are_refused(name):
    with pytest.raises(PayloadError, match="may not declare a DTD"):
        CursorOnTargetAdapter().parse(payload(name))


def test_cot_entity_reference_is_never_expanded():
    # Even with its DTD gone (the framer drops what lies outside events), an entity is not resolved.
    event = cot_event(detail='<contact callsign="&xxe;"/>')
    with pytest.raises(PayloadError, match="undefined entity"):
        CursorOnTargetAdapter().parse(event.encode())


def test_cot_inline_dtd_inside_event_is_refused_by_the_parser():
    body = b'<event uid="x"><!DOCTYPE x [<!ENTITY a "b">]></event>'
    with pytest.raises(PayloadError):
        CursorOnTargetAdapter().parse(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no CoT <event>"),
        (b'{"uid": "ANDROID-1"}', "no readable CoT event in payload: not CoT: 20 bytes"),
        (b"<events><item/></events>", "no readable CoT event in payload: not a CoT event: XML <events>"),
        (b"\xbf\x01\xbf\x12\x04\x08\x01", "not a valid TakMessage protobuf"),
    ],
)
def test_cot_payload_without_events_is_a_payload_error(body, message):
    with pytest.raises(PayloadError, match=message):
        CursorOnTargetAdapter().parse(body)


def test_cot_garbage_between_events_is_rejected_with_a_reason_and_the_events_go_on():
    a, b = cot_event(uid="A").encode(), cot_event(uid="B").encode()
    body = b"\x00\xff junk\r\n" + a + b"<?xml version='1.0'?>noise" + b
    result = CursorOnTargetAdapter().parse(body)
    assert [r.unit_ref for r in result.records] == ["A", "B"]
    assert [(r.index, r.reason) for r in result.rejected] == [
        (0, "not CoT: 7 bytes that are neither XML events nor TAK frames"),
        (2, "not CoT: 5 bytes that are neither XML events nor TAK frames"),
    ]


def test_frame_events_keeps_the_unfinished_tail():
    one, two = cot_event(uid="A").encode(), cot_event(uid="B").encode()
    events, tail = frame_events(one + b"\n" + two[:40])
    assert (events, tail) == ([one], two[:40])
    assert frame_events(one + b"\n<eve") == ([one], b"<eve")
    assert frame_events(one + b"\n<eve", final=True) == ([one, b"<eve"], b"")  # handed on, to be rejected
    assert frame_events(b"<events>not one</events>") == ([b"<events>not one</events>"], b"")
    assert frame_events(one + b"\n<?xml vers") == ([one], b"<?xml vers")  # the declaration ends in the next read


def test_event_stream_frames_a_byte_at_a_time_like_the_whole():
    body = payload("cot_stream.xml")
    stream = EventStream()
    dribbled = [event for i in range(len(body)) for event in stream.feed(body[i : i + 1])]
    assert dribbled == frame_events(body, final=True)[0]
    assert len(dribbled) == 7 and stream.close() == []


def test_event_stream_hands_garbage_on_instead_of_buffering_it():
    stream = EventStream()
    for _ in range(100):
        assert stream.feed(b"keepalive garbage without events\n") == [b"keepalive garbage without events"]
    assert len(stream.buffer) < 10


# --- OsmAnd / Traccar ---------------------------------------------------------------------------


def osmand_params(**overrides) -> dict:
    base = {"id": "4815", "timestamp": str(EPOCH_T0), "lat": "47.6097", "lon": "-122.3331"}
    return {k: v for k, v in (base | overrides).items() if v is not None}


def test_osmand_recorded_query_converts_knots():
    params = QueryDict(payload("osmand_query.txt").decode().strip())
    [record] = OsmAndAdapter().parse(b"", params=params).records
    assert record == PositionRecord(
        unit_ref="4815", lon=-122.3331, lat=47.6097, recorded_at=T0, heading=92.5, speed=pytest.approx(11.112)
    )
    assert record.speed == pytest.approx(21.6 * 1852 / 3600)


def test_osmand_form_body_without_params():
    [record] = OsmAndAdapter().parse(payload("osmand_query.txt")).records
    assert (record.unit_ref, record.recorded_at) == ("4815", T0)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"timestamp": str(EPOCH_T0 * 1000)}, {"recorded_at": T0}),  # the OsmAnd app sends milliseconds
        ({"timestamp": "2024-05-01T14:00:00+02:00"}, {"recorded_at": T0}),
        ({"id": None, "deviceid": "77"}, {"unit_ref": "77"}),
        ({"heading": "180"}, {"heading": 180.0}),
        ({"bearing": "360"}, {"heading": 0.0}),
        ({"speed": "0"}, {"speed": 0.0}),
        ({"speed": "1"}, {"speed": KNOT}),
        ({"lat": None, "lon": None, "location": "47.5,-122.25"}, {"lat": 47.5, "lon": -122.25}),
        ({"valid": "true", "hdop": "1.2", "batt": "50", "charge": "true", "foo": "bar"}, {"unit_ref": "4815"}),
    ],
)
def test_osmand_params_variants(overrides, expected):
    [record] = OsmAndAdapter().parse(b"", params=osmand_params(**overrides)).records
    assert {name: getattr(record, name) for name in expected} == expected


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"timestamp": None}, "timestamp is missing"),
        ({"timestamp": "2024-05-01 12:00:00"}, "has no UTC offset"),
        ({"timestamp": str(EPOCH_T0 + 86400 * 365 * 30)}, "in the future"),
        ({"id": None}, "id is missing"),
        ({"lat": None}, "lat and lon are required"),
        ({"lat": "north"}, "lat must be a number"),
        ({"lat": "95"}, "latitude 95.0 is outside"),
        ({"lon": "200"}, "longitude 200.0 is outside"),
        ({"lat": "0", "lon": "0"}, "missing fix"),
        ({"lat": None, "lon": None, "location": "47.5"}, "location must be 'lat,lon'"),
        ({"valid": "false"}, "not valid"),
        ({"valid": "0"}, "not valid"),
        ({"speed": "-1"}, "negative"),
        ({"speed": "500"}, "speed (converted from knots) 257"),
        ({"bearing": "-5"}, "bearing -5.0 is outside"),
        ({"speed": "nan"}, "finite"),
    ],
)
def test_osmand_bad_params_are_rejected(overrides, reason):
    result = OsmAndAdapter().parse(b"", params=osmand_params(**overrides))
    assert result.records == []
    assert len(result.rejected) == 1 and reason in result.rejected[0].reason, result.rejected


def test_osmand_params_that_are_not_text():
    params = {"id": 4815, "lat": 47.6097, "lon": -122.3331, "timestamp": EPOCH_T0, "valid": 1, "location": None}
    [record] = OsmAndAdapter().parse(b"", params=params).records
    assert (record.unit_ref, record.lat, record.recorded_at) == ("4815", 47.6097, T0)


def test_osmand_old_fix_is_kept():
    [record] = OsmAndAdapter().parse(b"", params=osmand_params(timestamp="1262304000")).records
    assert record.recorded_at.year == 2010


def test_osmand_recorded_traccar_client_json():
    result = OsmAndAdapter().parse(payload("osmand_traccar_client.json"), content_type="application/json")
    # JSON speed is already metres per second: not converted.
    assert result.records == [
        PositionRecord(unit_ref="4815", lon=-122.3331, lat=47.6097, recorded_at=T0, heading=92.5, speed=11.1)
    ]


def test_osmand_recorded_json_batch():
    result = OsmAndAdapter().parse(payload("osmand_traccar_client_batch.json"))
    assert [(r.recorded_at, r.heading, r.speed) for r in result.records] == [
        (T0, 92.5, 11.1),
        (T0 + timedelta(seconds=10), None, None),  # -1 is the platform's "unknown"
        (T0 + timedelta(seconds=10), None, None),  # a re-sent fix: the service counts it as a duplicate
    ]
    assert [r.index for r in result.rejected] == [3, 4, 5]
    reasons = [r.reason for r in result.rejected]
    assert "conflicting fix" in reasons[0] and "record 1" in reasons[0]
    assert "mock" in reasons[1]
    assert reasons[2] == "latitude must be a number, got str '47.6103'"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "no OsmAnd parameters"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"device_id": "1"}', "no 'location'"),
        (b'{"device_id": "1", "location": []}', "no 'location'"),
        (b'{"location": {"timestamp": "2024-05-01T12:00:00Z", "coords": {}}}', "device_id is missing"),
        (b"\xff\xfe binary", "neither JSON nor OsmAnd form parameters"),
    ],
)
def test_osmand_unusable_body_is_a_payload_error(body, message):
    with pytest.raises(PayloadError, match=message):
        OsmAndAdapter().parse(body)


def test_osmand_json_location_without_coords_is_rejected():
    body = b'{"device_id": "1", "location": {"timestamp": "2024-05-01T12:00:00Z"}}'
    result = OsmAndAdapter().parse(body, content_type="application/json; charset=utf-8")
    assert result.rejected[0].reason == "location coords must be an object, got NoneType"
