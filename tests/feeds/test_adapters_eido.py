"""NENA EIDO adapter over recorded payloads (our own, written from NENA-STA-021) and NENA's sample."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.conf import settings

from apps.feeds.adapters.base import PayloadError, get_adapter
from apps.feeds.adapters.eido import pidf_location

PAYLOADS = Path(__file__).parent / "payloads"
PDT = timezone(timedelta(hours=-7))

GML_NS = 'xmlns:gml="http://www.opengis.net/gml" xmlns:gs="http://www.opengis.net/pidflo/1.0"'


def eido(name: str = "eido_incident.json") -> dict:
    return json.loads((PAYLOADS / name).read_bytes())


def parse(data: dict | list | bytes, **params):
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return get_adapter("eido").parse(raw, content_type="application/json", params=params or None)


def only_record(data, **params):
    result = parse(data, **params)
    assert result.rejected == [], result.rejected
    (record,) = result.records
    return record


def only_reason(data, **params) -> str:
    result = parse(data, **params)
    assert result.records == []
    (rejected,) = result.rejected
    return rejected.reason


def pidf(shape: str = "", civic: str = "") -> str:
    return (
        '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:gp="urn:ietf:params:xml:ns:pidf:geopriv10" '
        f'{GML_NS} xmlns:ca="urn:ietf:params:xml:ns:pidf:geopriv10:civicAddr" entity="pres:x@example.gov">'
        f'<tuple id="t"><status><gp:geopriv><gp:location-info>{shape}{civic}</gp:location-info>'
        "</gp:geopriv></status></tuple></presence>"
    )


def with_location(location_by_value: str | dict, **extra) -> dict:
    """The recorded incident with its one referenced location replaced."""
    data = eido()
    for component in data["locationComponent"]:
        if component["$id"] == "loc-incident-1":
            component.pop("locationByValue")
            component.update({"locationByValue": location_by_value, **extra} if location_by_value else extra)
    # Leave only the incident's own location, so the fallbacks do not mask what is tested.
    data["locationComponent"] = [c for c in data["locationComponent"] if c["$id"] == "loc-incident-1"]
    return data


def test_kind_is_registered():
    assert get_adapter("eido").label == "NENA EIDO (JSON)"


def test_recorded_incident_maps_to_one_incident():
    record = only_record(eido())

    assert record.cad_number == "24-031337"  # internalIncidentId
    assert (record.type_code, record.type_description) == ("ROBB", "Robbery - armed")
    assert record.priority == 1
    # Declared Active.Dispatched; unit 2A12 reports OnScene, which moves it on.
    assert record.status == "on_scene"
    # The incident's referenced location, not the unit's or the caller's (listed before it).
    assert (record.lon, record.lat) == (-122.3405, 47.6097)
    assert record.address == "1501 Pike Place, Seattle, WA 98101"
    assert record.received_at == datetime(2024, 5, 1, 21, 14, 5, tzinfo=PDT)  # callStartTimestamp
    assert record.dispatched_at == datetime(2024, 5, 1, 21, 16, 40, tzinfo=PDT)
    assert record.on_scene_at == datetime(2024, 5, 1, 21, 22, 3, tzinfo=PDT)
    assert record.closed_at is None
    # Notes come out in time order, HTML reduced to text, with the agent as author.
    assert [(line.entered_at.minute, line.text, line.author) for line in record.narrative] == [
        (15, "RP states two males with a handgun took her purse.", "calltaker3@rtcc.example.gov"),
        (18, "Suspects last seen NB on 1st Ave & Pike St\nred hoodie, black backpack", "dispatcher7@rtcc.example.gov"),
    ]
    # 2B03 is Available, 3C21 is active on another incident (only stacked here).
    assert record.unit_refs == ("2A12", "2A14")


def test_the_same_eido_twice_gives_identical_records():
    first, second = parse([eido(), eido()]).records
    assert first == second


def test_tracking_identifier_when_asked_or_when_there_is_no_internal_id():
    assert only_record(eido(), cad_number="tracking").cad_number == "7f3c2a90b1:cad.rtcc.example.gov"
    data = eido()
    del data["incidentComponent"]["internalIncidentId"]
    assert only_record(data).cad_number == "7f3c2a90b1:cad.rtcc.example.gov"
    with pytest.raises(PayloadError, match="'internal' or 'tracking'"):
        parse(eido(), cad_number="both")


def test_registry_type_and_priority_fallbacks():
    data = eido()
    incident = data["incidentComponent"]
    for key in ("incidentTypeInternalCode", "incidentTypeInternalText", "incidentCommonPriorityNumber"):
        del incident[key]
    incident["incidentPriorityInternalText"] = "P2"
    record = only_record(data)
    assert (record.type_code, record.type_description, record.priority) == ("Robbery", "Robbery", 2)

    incident["incidentPriorityInternalText"] = "urgent-ish"
    assert only_record(data).priority == 3


def test_closed_incident_and_status_words():
    data = eido()
    data["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Closed"]
    record = only_record(data)
    assert record.status == "closed"
    assert record.closed_at == datetime(2024, 5, 1, 21, 31, 12, 250000, tzinfo=PDT)

    data = eido()
    for key in ("dispatchComponent", "emergencyResourceComponent"):
        del data[key]
    data["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Active"]
    assert only_record(data).status == "pending"
    data["incidentComponent"]["incidentStatusCommonRegistryText"] = ["Active.Enroute", "SomethingNew"]
    assert only_record(data).status == "dispatched"  # unknown registry words are ignored, not fatal
    data["incidentComponent"]["incidentStatusInternalText"] = ["HOLD-WARRANT"]
    assert only_record(data, statuses={"HOLD-WARRANT": "on_scene"}).status == "on_scene"


def test_received_at_falls_back_to_the_incident_update_time():
    data = eido()
    del data["callComponent"]
    assert only_record(data).received_at == datetime(2024, 5, 1, 21, 31, 12, 250000, tzinfo=PDT)


@pytest.mark.parametrize(
    ("shape", "lon", "lat"),
    [
        (
            '<gml:Point srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>47.6205 -122.3493</gml:pos></gml:Point>',
            -122.3493,
            47.6205,
        ),
        (
            '<gs:Sphere srsName="urn:ogc:def:crs:EPSG::4979"><gml:pos>47.6205 -122.3493 56</gml:pos>'
            '<gs:radius uom="urn:ogc:def:uom:EPSG::9001">20</gs:radius></gs:Sphere>',
            -122.3493,
            47.6205,
        ),
        (
            '<gs:Ellipse srsName="urn:ogc:def:crs:EPSG::4326"><gml:pos>47.6205 -122.3493</gml:pos>'
            '<gs:semiMajorAxis uom="urn:ogc:def:uom:EPSG::9001">40</gs:semiMajorAxis></gs:Ellipse>',
            -122.3493,
            47.6205,
        ),
        (
            '<gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing><gml:posList>'
            "47.60 -122.34 47.60 -122.32 47.62 -122.32 47.62 -122.34 47.60 -122.34"
            "</gml:posList></gml:LinearRing></gml:exterior></gml:Polygon>",
            -122.33,
            47.61,
        ),
        (
            '<gml:Polygon srsName="urn:ogc:def:crs:EPSG::4326"><gml:exterior><gml:LinearRing>'
            "<gml:pos>47.60 -122.34</gml:pos><gml:pos>47.60 -122.32</gml:pos><gml:pos>47.62 -122.32</gml:pos>"
            "<gml:pos>47.62 -122.34</gml:pos><gml:pos>47.60 -122.34</gml:pos>"
            "</gml:LinearRing></gml:exterior></gml:Polygon>",
            -122.33,
            47.61,
        ),
    ],
)
def test_pidf_lo_shapes_latitude_first(shape, lon, lat):
    record = only_record(with_location(pidf(shape)))
    assert record.lon == pytest.approx(lon) and record.lat == pytest.approx(lat)
    assert record.address == ""


def test_geojson_point_by_value():
    record = only_record(with_location(json.dumps({"type": "Point", "coordinates": [-122.3493, 47.6205]})))
    assert (record.lon, record.lat) == (-122.3493, 47.6205)


def test_unit_positions_are_not_taken_for_the_incident():
    data = eido()
    del data["incidentComponent"]["locationReference"]
    data["locationComponent"] = [c for c in data["locationComponent"] if c["$id"] != "loc-incident-1"]
    record = only_record(data)
    assert (record.lon, record.lat) == (-122.3421, 47.6101)  # the caller, not unit 2A12 at 47.60 -122.33


def test_civic_address_only_is_rejected_with_the_address():
    civic = (
        "<ca:civicAddress><ca:A1>WA</ca:A1><ca:A3>Seattle</ca:A3><ca:HNO>600</ca:HNO><ca:PRD>N</ca:PRD>"
        "<ca:RD>4th</ca:RD><ca:STS>Ave</ca:STS><ca:UNIT>2F</ca:UNIT></ca:civicAddress>"
    )
    reason = only_reason(with_location(pidf("", civic)))
    assert reason == (
        "no location with coordinates (only the civic address "
        "'600 N 4th Ave, Unit 2F, Seattle, WA', which would need geocoding)"
    )


def test_location_by_reference_is_never_fetched():
    data = with_location("", locationByReferenceUrl="https://lis.example.net/loc?ref=1")
    assert only_reason(data) == "no location with coordinates"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            pidf('<gml:Point srsName="urn:ogc:def:crs:EPSG::3857"><gml:pos>5900000 -13600000</gml:pos></gml:Point>'),
            "only EPSG 4326/4979",
        ),
        (pidf("<gml:Point><gml:pos>47.6 west</gml:pos></gml:Point>"), "is not numbers"),
        (pidf("<gml:Point><gml:pos>147.6 -122.3</gml:pos></gml:Point>"), "latitude 147.6 is outside -90..90"),
        (pidf("<gml:Point><gml:pos>0 0</gml:pos></gml:Point>"), "0,0 is a missing fix"),
        ("<presence><unclosed></presence>", "not well-formed XML"),
        (
            '<!DOCTYPE p [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><presence>&b;</presence>',
            "DTDForbidden",
        ),
        ('<!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><presence>&x;</presence>', "DTDForbidden"),
        ('{"type": "Polygon", "coordinates": []}', "must be a GeoJSON Point"),
        ("{not json", "neither PIDF-LO XML nor JSON"),
        (12, "locationByValue must be text"),
    ],
)
def test_unusable_locations_reject_the_incident_with_the_reason(value, message):
    reason = only_reason(with_location(value))
    assert reason.startswith("no location with coordinates; location loc-incident-1:")
    assert message in reason


def test_wrong_types_are_rejected_not_raised():
    cases = {
        "incidentComponent": "24-031337",
        "callComponent": {"callStartTimestamp": "2024-05-01T21:14:05-07:00"},
        "notesComponent": [{"lastUpdateTimeStamp": "2024-05-01T21:15:10-07:00", "notesActionComments": ["x"]}],
        "emergencyResourceComponent": ["2A12"],
    }
    for key, value in cases.items():
        data = eido()
        data[key] = value
        assert only_reason(data), key
    data = eido()
    data["incidentComponent"]["incidentCommonPriorityNumber"] = "1"
    assert only_reason(data) == "incidentCommonPriorityNumber must be a number, got text '1'"
    data = eido()
    data["incidentComponent"]["locationReference"] = {"$ref": "loc-incident-1"}
    assert only_reason(data) == "locationReference must be a list of references, got dict"
    data = eido()
    data["incidentComponent"]["incidentStatusCommonRegistryText"] = [3]
    assert "must be a list of text" in only_reason(data)
    data = eido()
    data["callComponent"][0]["callStartTimestamp"] = "2024-05-01 21:14"
    assert "has no UTC offset" in only_reason(data)


def test_a_batch_keeps_good_eidos_beside_bad_ones():
    call_only = eido("eido_call.json")
    result = parse([eido(), call_only, "not an eido", eido()])
    assert [r.cad_number for r in result.records] == ["24-031337", "24-031337"]
    assert [(r.index, r.reason) for r in result.rejected] == [
        (1, "the EIDO has no incidentComponent (a call-transfer EIDO has no incident type or status yet)"),
        (2, "EIDO must be an object, got str"),
    ]


def test_recorded_call_transfer_civic_address():
    routing = eido("eido_call.json")["locationComponent"][0]["locationByValue"]
    location = pidf_location(routing)
    assert (location.lon, location.lat) == (None, None)
    assert location.address == "1501 Pike Place, Seattle, WA 98101"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"$id": "x", "eidoVersion": "1.0", "incidentComponent": {', "not valid JSON"),
        (b'{"incidents": []}', "not an EIDO"),
        (b'"urn:emergency:uid:incidentid:1:example.gov"', "expected an EIDO object"),
        (b"<EIDO/>", "not valid JSON"),
    ],
)
def test_unreadable_payloads_raise(raw, message):
    with pytest.raises(PayloadError, match=message):
        parse(raw)


@pytest.fixture
def nena_sample() -> Path:
    path = Path(settings.RTCC_SHARED_DATA_DIR) / "eido" / "Sample_call_transfer_EIDO.json"
    if not path.is_file():
        pytest.skip(f"NENA's EIDO sample is not available: {path} (settings.RTCC_SHARED_DATA_DIR)")
    return path


@pytest.mark.shared_data
def test_nena_call_transfer_sample(nena_sample):
    """NENA's own sample, read in place: a call transfer, so no incident yet - a clear rejection."""
    raw = nena_sample.read_bytes()
    result = parse(raw)
    assert result.records == []
    (rejected,) = result.rejected
    assert "no incidentComponent" in rejected.reason
    assert "urn:emergency:uid:incidentid:a56e556d871" in rejected.raw

    # Its routing location is a PIDF-LO civic address with the default namespace: read it, no point.
    routing = json.loads(raw)["locationComponent"][0]["locationByValue"]
    location = pidf_location(routing)
    assert (location.lon, location.lat, location.address) == (None, None, "42 W Cellular Street, Wilmington, DE")

    # Given an incident component, the same sample is rejected for having no coordinates, naming the address.
    data = json.loads(raw)
    data["incidentComponent"] = copy.deepcopy(eido()["incidentComponent"])
    del data["incidentComponent"]["locationReference"]
    reason = only_reason(data)
    assert reason.startswith("no location with coordinates (only the civic address '42 W Cellular Street")
