"""Review of issue 11's alert intake: a device's second emergency after its cancel, and sources with
long names finding their own alerts and detections again."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.feeds.models import FeedSource
from apps.feeds.services import feed_ingest
from apps.sensors.choices import AlertStatus
from apps.sensors.models import Alert, GunshotDetection

from .real_samples import real_sample

DEVICE = "ANDROID-352614100054990-9-1-1"  # the uid ATAK gives this device's emergencies (real samples)


def sample(name: str) -> bytes:
    return real_sample("cot", name).read_bytes()


def cancel_at(when: str) -> bytes:
    """The real cancel, sent again at another time (ATAK's next cancel from the same device)."""
    return sample("fts_testdata_AlertCancel.cot").replace(b"2022-10-18T13:34:59.841Z", when.encode())


@pytest.fixture
def tak(home):
    return FeedSource.objects.create(agency=home, name="TAK server", kind="cot")


def test_a_second_emergency_after_the_cancel_is_a_new_alert(tak):
    # 13:31:42 the device calls 911; 13:34:59 it cancels; 13:36:21 it reports "In Contact".
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertTrouble.cot")).accepted == 1
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertCancel.cot")).accepted == 1
    report = feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertOpen.cot"))
    assert (report.accepted, report.duplicates, report.rejected) == (1, 0, [])
    first, second = Alert.objects.filter(source=tak.name).order_by("raised_at")
    assert (first.status, second.status) == (AlertStatus.CLOSED, AlertStatus.OPEN)
    assert second.title == "In Contact: testClient1-Alert"
    assert second.raised_at == datetime(2022, 10, 18, 13, 36, 21, 385000, tzinfo=UTC)

    # The first emergency's late repeat (sent before the cancel) and the old cancel sent again change
    # nothing: the operator still sees the new emergency open.
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertTrouble.cot")).duplicates == 1
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertCancel.cot")).duplicates == 1
    second.refresh_from_db()
    assert second.status == AlertStatus.OPEN

    # The device's next cancel closes the new one; a third emergency is again new.
    assert feed_ingest(source_id=tak.pk, payload=cancel_at("2022-10-18T13:40:00.000Z")).accepted == 1
    second.refresh_from_db()
    assert second.status == AlertStatus.CLOSED
    assert second.closed_at == datetime(2022, 10, 18, 13, 40, tzinfo=UTC)
    third = sample("fts_testdata_AlertTrouble.cot").replace(b"2022-10-18T13:31:42", b"2022-10-18T13:45:00")
    assert feed_ingest(source_id=tak.pk, payload=third).accepted == 1
    assert Alert.objects.filter(source=tak.name, status=AlertStatus.OPEN).count() == 1
    assert Alert.objects.filter(source=tak.name).count() == 3


def test_a_source_with_a_long_name_finds_its_own_alerts(home):
    long_name = "Puget Sound Regional TAK Server (King County Sheriff's Office, Marine Unit, primary)"
    assert len(long_name) > 64  # Alert.source keeps 64 characters
    tak = FeedSource.objects.create(agency=home, name=long_name, kind="cot")
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertTrouble.cot")).accepted == 1
    # ATAK repeats the emergency: the same alert, not an integrity error that loses the payload.
    report = feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertTrouble.cot"))
    assert (report.accepted, report.duplicates) == (0, 1)
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_testdata_AlertCancel.cot")).accepted == 1
    assert Alert.objects.get(source_id=DEVICE).status == AlertStatus.CLOSED


def test_a_gunshot_source_with_a_long_name_finds_its_own_detections(home):
    long_name = "Acoustic gunshot detection, South Precinct pilot (vendor feed, JSON, 2024 contract)"
    assert len(long_name) > 64
    source = FeedSource.objects.create(agency=home, name=long_name, kind="gunshot_json")
    body = (
        b'[{"id": "SST-1", "lat": 47.55, "lon": -122.30, "rounds": 3, "confidence": 0.9,'
        b' "detected_at": "2024-05-01T12:00:00Z"}]'
    )
    assert feed_ingest(source_id=source.pk, payload=body).accepted == 1
    report = feed_ingest(source_id=source.pk, payload=body)
    assert (report.accepted, report.duplicates, report.rejected) == (0, 1, [])
    assert GunshotDetection.objects.count() == 1


# --- a byte the readers cannot decode, quoted back -----------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"\x80",  # a lone Windows-1252 byte where UTF-8 was expected: the header itself
        b"CAD\x80,lon\n1,2\n",
    ],
)
def test_an_undecodable_byte_in_a_refused_payload_is_a_400_and_a_dead_letter(home, body):
    # The reason says where and what (never the undecodable text itself, which could not be stored).
    quoted = "the header line is not valid utf-8-sig text (invalid start byte at byte"
    from rest_framework.test import APIClient

    from apps.feeds.models import DeadLetter

    source = FeedSource.objects.create(agency=home, name="CAD export", kind="cad_csv")
    token = source.issue_token()
    response = APIClient().generic("POST", "/api/feeds/push/", body, "text/csv", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 400
    assert quoted in response.json()["detail"]
    [letter] = DeadLetter.objects.filter(source=source)
    assert quoted in letter.reason
    source.refresh_from_db()
    assert quoted in source.last_error


# --- cameras a TAK feed places --------------------------------------------------------------------

SENSOR_POINT = (
    b'<event version="2.0" uid="c779053a-2f13-4683-a643-83ec8eb2558d" type="b-m-p-s-p-loc" how="h-g-i-g-o" '
    b'time="2024-05-01T12:00:00Z" start="2024-05-01T12:00:00Z" stale="2024-05-02T12:00:00Z">'
    b'<point lat="47.6097" lon="-122.3331" hae="10" ce="9999999" le="9999999"/>'
    b'<detail><contact callsign="Gate 3 camera"/><sensor azimuth="135.5" fov="62" range="180"/></detail></event>'
)
CAMERA = "c779053a-2f13-4683-a643-83ec8eb2558d"  # an id of the real video feed list (fts sample)


def test_a_sensor_point_sent_again_unchanged_is_a_duplicate_and_a_new_camera_reaches_the_map(
    tak, django_capture_on_commit_callbacks
):
    from apps.live.streams import agency_feed

    from .test_live import stream_head

    feed = agency_feed(tak.agency_id)
    head = stream_head(feed)
    with django_capture_on_commit_callbacks(execute=True):
        assert feed_ingest(source_id=tak.pk, payload=SENSOR_POINT).accepted == 1
    assert stream_head(feed) == head + 1  # the camera is on the operators' maps now
    with django_capture_on_commit_callbacks(execute=True):
        report = feed_ingest(source_id=tak.pk, payload=SENSOR_POINT)
    assert (report.accepted, report.duplicates) == (0, 1)
    assert stream_head(feed) == head + 1


def test_a_sensor_point_without_video_keeps_the_stream_and_the_state_the_camera_has(tak):
    from apps.cameras.models import Camera

    feed_ingest(source_id=tak.pk, payload=SENSOR_POINT)
    assert feed_ingest(source_id=tak.pk, payload=sample("fts_video_feeds_example_feeds.xml")).accepted == 1
    Camera.objects.filter(external_id=CAMERA).update(active=False, status="offline", ptz=True)

    turned = SENSOR_POINT.replace(b'azimuth="135.5"', b'azimuth="270"')
    assert feed_ingest(source_id=tak.pk, payload=turned).accepted == 1
    camera = Camera.objects.get(external_id=CAMERA)
    assert camera.heading == 270
    assert camera.stream_url == "http://158.58.130.148:80/mjpg/video.mjpg"  # from the real feed list
    assert (camera.active, camera.status, camera.ptz) == (False, "offline", True)  # an admin's, not the feed's


# --- each record counted once ---------------------------------------------------------------------


def test_a_flagged_record_refused_for_another_reason_is_counted_once_as_rejected(home):
    import json

    from django.utils import timezone

    from . import factories as f

    f.zone(agency=home, code="M1")  # the service area: this beat plus 2 km
    source = FeedSource.objects.create(agency=home, name="avl", kind="osmand", params={"service_area": "flag"})
    at = int(timezone.now().timestamp() * 1000)
    far = {"timestamp": at, "coords": {"latitude": f.LAT, "longitude": f.LON + 0.6, "speed": 1, "heading": 90}}
    body = {"device_id": "nobody-knows-me", "location": [far]}  # no such unit, and no auto-create
    report = feed_ingest(source_id=source.pk, payload=json.dumps(body).encode()).as_dict()
    assert (report["accepted"], report["rejected"], report["flagged"]) == (0, 1, [])
    assert report["rejections"][0]["reason"] == "unknown unit 'nobody-knows-me'"


# --- GTFS-RT: a label is never another vehicle's id -------------------------------------------------


def test_a_label_only_vehicle_whose_label_is_another_vehicles_id_is_ambiguous(home):
    from google.transit import gtfs_realtime_pb2

    from apps.units.models import Unit

    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(real_sample("gtfs_rt", "caltrain_ct-vehicle-positions.pb").read_bytes())
    del message.entity[2:]  # two real Caltrain trains
    first, second = message.entity
    second.vehicle.vehicle.ClearField("id")
    second.vehicle.vehicle.label = first.vehicle.vehicle.id  # the second train's label is the first's id
    transit = FeedSource.objects.create(agency=home, name="Caltrain", kind="gtfs_rt", auto_create_units=True)

    report = feed_ingest(source_id=transit.pk, payload=message.SerializeToString())
    assert (report.accepted, report.ambiguous, report.units_created) == (1, 1, 1)
    assert report.rejected[0].reason.startswith(f"ambiguous unit id {first.vehicle.vehicle.id!r}")
    unit = Unit.objects.get(agency=home)
    assert unit.positions.count() == 1  # the first train's fix only, never the second's on its unit


# --- CAD exports as they are, through a live feed ----------------------------------------------------


def test_the_dallas_mapping_drives_a_live_cad_csv_feed_with_beats_attributes_and_units(db):
    import csv

    from apps.incidents.models import Incident

    from . import factories as f
    from .test_intake_cad import dallas_beats

    dpd = f.agency("DPD")
    path = real_sample("cad", "dallas_active_calls_are8-xahz.csv")
    dallas_beats(dpd, path)  # no coordinates in the export: each call is placed on its beat
    feed = FeedSource.objects.create(
        agency=dpd, name="Dallas CAD", kind="cad_csv", params={"mapping": "dallas_active_calls.json"}
    )

    report = feed_ingest(source_id=feed.pk, payload=path.read_bytes())
    assert report.rejected == []
    assert report.incidents["created"] == 45 and Incident.objects.filter(agency=dpd).count() == 45
    with open(path, newline="") as handle:
        first = next(csv.DictReader(handle))
    call = Incident.objects.get(agency=dpd, cad_number=first["incident_number"])
    assert call.beat.code == first["beat"] and call.location_approximate is True
    assert call.attributes == {
        "block": first["block"],
        "division": first["division"],
        "reporting_area": first["reporting_area"],
    }
    assert first["unit_number"] in call.unit_call_signs

    again = feed_ingest(source_id=feed.pk, payload=path.read_bytes())
    assert (again.accepted, again.incidents["unchanged"]) == (0, 63)


def test_a_cad_feed_keeps_call_source_and_disposition(home):
    from apps.incidents.models import Incident

    from . import factories as f

    body = (f"CAD,TYPE,WHEN,SRC,DISPO,lon,lat\n24-1,ROBB,2024-05-01T12:00:00Z,911,ARREST,{f.LON},{f.LAT}\n").encode()
    mapping = {
        "fields": {"cad_number": "CAD", "type_code": "TYPE", "received_at": "WHEN", "call_source": "SRC"},
        "constants": {},
        "values": {},
    }
    mapping["fields"]["disposition"] = "DISPO"
    feed = FeedSource.objects.create(agency=home, name="CAD", kind="cad_csv", params={"mapping": mapping})
    report = feed_ingest(source_id=feed.pk, payload=body)
    assert report.accepted == 1, report.rejected
    call = Incident.objects.get(cad_number="24-1")
    assert (call.call_source, call.disposition) == ("911", "ARREST")


def test_a_flagged_cad_incident_carries_its_flag_like_a_flagged_gunshot(home):
    from apps.incidents.models import Incident

    from . import factories as f

    f.zone(agency=home, code="M1")  # the service area: this beat plus 2 km
    far = f.LON + 0.6  # ~45 km east
    body = f"cad_number,type_code,received_at,lon,lat\n24-9,ROBB,2024-05-01T12:00:00Z,{far},{f.LAT}\n".encode()
    feed = FeedSource.objects.create(agency=home, name="CAD", kind="cad_csv", params={"service_area": "flag"})
    report = feed_ingest(source_id=feed.pk, payload=body)
    assert report.accepted == 1 and len(report.flagged) == 1
    call = Incident.objects.get(cad_number="24-9")
    assert call.attributes == {"service_area": report.flagged[0].reason}
    assert report.flagged[0].reason.startswith("outside service area by ")


# --- identity: a source moved to another agency --------------------------------------------------------


def test_a_source_moved_to_another_agency_never_puts_a_fix_on_the_old_agencys_unit(home, other_agency):
    from apps.units.models import Unit

    gates = sample("fts_capture_a-f-G-E-V-C-1581185447835.xml")  # a real friendly ground unit
    tak = FeedSource.objects.create(agency=home, name="TAK", kind="cot", auto_create_units=True)
    assert feed_ingest(source_id=tak.pk, payload=gates).units_created == 1
    [unit] = Unit.objects.filter(agency=home)

    tak.agency = other_agency
    tak.save()
    later = gates.replace(b"2020-02-08T18:10:44", b"2020-02-08T18:11:44")
    report = feed_ingest(source_id=tak.pk, payload=later)  # answered, not a 500
    assert (report.accepted, len(report.rejected)) == (0, 1)
    assert "bound to unit" in report.rejected[0].reason and "another agency" in report.rejected[0].reason
    assert unit.positions.count() == 1 and not Unit.objects.filter(agency=other_agency).exists()
