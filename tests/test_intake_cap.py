"""CAP as it really comes (issue 11): versions 1.0/1.1/1.2, several <info> blocks, XML-DSig, real area
geometry, geocode-only areas placed through zones (or listed as "no location"), Cancel/Update acting
on the referenced alert, and `expires` closing it. Every file of ../shared/data/formats/cap is read."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.test import TestCase
from django.utils import timezone
from pyproj import Geod

from apps.feeds.adapters.base import get_adapter
from apps.feeds.adapters.cap.geometry import circle_ring
from apps.feeds.adapters.cap.message import parameters, source_id
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_ingest
from apps.sensors import services as sensor_services
from apps.sensors.choices import AlertStatus
from apps.sensors.models import Alert
from apps.sensors.services import alert_acknowledge, alert_close, alerts_close_expired
from apps.sensors.tasks import alerts_close_expired_task

from . import factories as f
from .real_samples import real_sample

pytestmark = pytest.mark.shared_data
GEOD = Geod(ellps="WGS84")

# What each real file gives, parsed (no database): records, rejections, and the first record's facts.
EXPECTED = {
    "oasiscap_v1dot0_appendix_adot1.xml": dict(records=1, msg_type="Alert", rings=0, point=False),
    "oasiscap_v1dot0_appendix_adot3.xml": dict(records=1, msg_type="Alert", rings=0, point=True),
    "oasiscap_nws-5c2cf27b1f56885d61654dc47fa411d5.xml": dict(records=1, msg_type="Alert", rings=0, point=False),
    "oasiscap_ipaws-5e7e0fc5023f1930efcf3deb.xml": dict(records=1, msg_type="Alert", rings=1, point=True),
    "oasiscap_ipaws-5e6dd9de023f1930ef6548d9.xml": dict(records=1, msg_type="Cancel", rings=0, point=False),
    "oasiscap_google-PAAQ-4-mg5a94.xml": dict(records=1, msg_type="Update", rings=0, point=True),
    "eccc_T_WOCN20_C_CWVR_202210101743_2051382770.cap.xml": dict(records=1, msg_type="Update", rings=4, point=True),
    "eccc_T_WOCN11_C_CWHX_202210101814_1032737847.cap.xml": dict(records=1, msg_type="Update", rings=21, point=True),
    "meteoalarm_cap_meteofrance_fr-en.xml": dict(records=1, msg_type="Update", rings=0, point=False),
    "meteoalarm_cap_ukmetoffice_emma_id.xml": dict(records=1, msg_type="Alert", rings=0, point=False),
    "meteoalarm_cap_met_eireann_polygons_fips.xml": dict(records=1, msg_type="Alert", rings=6, point=True),
}


def parse_file(name: str, **params):
    return get_adapter("cap").parse(real_sample("cap", name).read_bytes(), params=params)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_cap_document_gives_one_alert_per_message(name):
    expected = EXPECTED[name]
    result = parse_file(name)
    assert result.rejected == []
    assert len(result.records) == expected["records"]
    record = result.records[0]
    assert record.msg_type == expected["msg_type"]
    assert len(record.area) == expected["rings"]
    assert (record.lon is not None) == expected["point"]
    for ring in record.area:
        assert ring[0] == ring[-1] and len(ring) >= 4
        assert all(-180 <= lon <= 180 and -90 <= lat <= 90 for lon, lat in ring)


def test_cap_1_0_namespace_name_value_parameters_and_very_likely():
    (quake,) = parse_file("oasiscap_v1dot0_appendix_adot3.xml").records
    assert quake.source_id == "trinet@caltech.edu,TRI13970876.1"
    assert quake.title == "Earthquake"
    # 1.0's certainty "Very Likely" is 1.2's "Likely"; the zero-radius circle is the alert's point.
    assert "Certainty Likely" in quake.detail and "Very Likely" not in quake.detail
    assert (quake.lon, quake.lat) == (-115.5527, 32.9525) and quake.area == ()
    from apps.feeds.adapters.common import parse_xml

    root = parse_xml(real_sample("cap", "oasiscap_v1dot0_appendix_adot3.xml").read_bytes())
    ns = "{http://www.incident.com/cap/1.0}"
    assert parameters(root.find(ns + "info"), ns)["Magnitude"] == "3.4 Ml"


def test_cap_1_1_nws_geocode_only_area_with_empty_polygon():
    (blizzard,) = parse_file("oasiscap_nws-5c2cf27b1f56885d61654dc47fa411d5.xml").records
    assert blizzard.title == "Blizzard Warning"
    assert blizzard.area == () and blizzard.lon is None  # <polygon></polygon> is no area
    assert "UGC:MNZ020" in blizzard.geocodes and "FIPS6:027031" in blizzard.geocodes


def test_xml_dsig_is_ignored_and_a_cancel_without_info_is_read():
    (cancel,) = parse_file("oasiscap_ipaws-5e6dd9de023f1930ef6548d9.xml").records
    assert cancel.msg_type == "Cancel"
    assert cancel.references == (source_id("bbrundage@dps.state.nv.us", "AS-NV-e18921c7-1b35-4a81-9705-42d25c265ddd"),)


def test_eccc_picks_the_agency_language_and_keeps_one_alert(settings):
    (english,) = parse_file("eccc_T_WOCN20_C_CWVR_202210101743_2051382770.cap.xml").records
    assert english.title == "air quality"  # two English blocks of the same event: one title
    assert "Kootenay Lake" in english.area_desc and "Similkameen" in english.area_desc
    assert "CAP-CP:5901037" in english.geocodes
    assert english.expires_at.isoformat() == "2022-10-11T09:43:34+00:00"  # the later of the two blocks
    settings.LANGUAGE_CODE = "fr-ca"
    (french,) = parse_file("eccc_T_WOCN20_C_CWVR_202210101743_2051382770.cap.xml").records
    assert french.title == "qualité de l'air" and "lac Kootenay" in french.area_desc
    assert french.source_id == english.source_id and len(french.area) == len(english.area)


def test_meteofrance_picks_english_of_french_and_english():
    (record,) = parse_file("meteoalarm_cap_meteofrance_fr-en.xml").records
    assert record.title == "Moderate avalanches warning"
    assert record.geocodes[0].startswith("NUTS3:FR")


def test_a_circle_becomes_a_polygon_of_its_radius_in_metres():
    for lat in (0.0, 47.6, 70.0):
        ring = circle_ring((-122.3, lat), 5000.0)
        area, _ = GEOD.polygon_area_perimeter([p[0] for p in ring], [p[1] for p in ring])
        assert abs(area) == pytest.approx(math.pi * 5000.0**2, rel=0.01)
        for lon, plat in ring:
            _, _, dist = GEOD.inv(-122.3, lat, lon, plat)
            assert dist == pytest.approx(5000.0, rel=0.005)


def test_a_circle_with_a_radius_is_the_alert_area():
    xml = real_sample("cap", "oasiscap_v1dot0_appendix_adot3.xml").read_text()
    xml = xml.replace("<circle>32.9525,-115.5527 0</circle>", "<circle>32.9525,-115.5527 10</circle>")
    (record,) = get_adapter("cap").parse(xml.encode()).records
    (ring,) = record.area
    area, _ = GEOD.polygon_area_perimeter([p[0] for p in ring], [p[1] for p in ring])
    assert abs(area) == pytest.approx(math.pi * 10_000.0**2, rel=0.01)
    assert (record.lon, record.lat) == (-115.5527, 32.9525)


@pytest.mark.parametrize(
    ("circle", "reason"),
    [
        ("32.9,-115.5 -1", "outside 0..2000 km"),
        ("32.9,-115.5 nan", "outside"),
        ("32.9,-115.5", "is not 'lat,lon"),
        ("0,0 0", "position 0,0 is a missing fix"),  # never an alert at 0,0
    ],
)
def test_bad_circles_are_rejected_with_the_field(circle, reason):
    xml = real_sample("cap", "oasiscap_v1dot0_appendix_adot3.xml").read_text()
    xml = xml.replace("<circle>32.9525,-115.5527 0</circle>", f"<circle>{circle}</circle>")
    result = get_adapter("cap").parse(xml.encode())
    assert result.records == [] and reason in result.rejected[0].reason


# --- stored ------------------------------------------------------------------------------------


def cap_source(agency, name="CAP"):
    return FeedSource.objects.create(agency=agency, name=name, kind="cap", mode="push")


def ingest(source, name: str | bytes):
    payload = name if isinstance(name, bytes) else real_sample("cap", name).read_bytes()
    with TestCase.captureOnCommitCallbacks(execute=True):
        return feed_ingest(source_id=source.pk, payload=payload).as_dict()


def test_real_polygons_are_stored_as_the_alert_area(home):
    source = cap_source(home)
    report = ingest(source, "meteoalarm_cap_met_eireann_polygons_fips.xml")
    assert (report["accepted"], report["rejected"]) == (1, 0)
    alert = Alert.objects.get(source=source.name)
    assert isinstance(alert.area, MultiPolygon) and alert.area.valid
    assert alert.area.covers(alert.location) or alert.area.distance(alert.location) < 0.5
    assert alert.area_desc == "Ireland"
    # It expired in 2022: kept for the record, closed, never in an operator's queue.
    assert alert.status == AlertStatus.CLOSED
    assert alert.close_reason == "expired at 2022-12-08 11:59:59 UTC before it arrived"


def test_eccc_overlapping_areas_make_one_valid_multipolygon(home):
    source = cap_source(home)
    ingest(source, "eccc_T_WOCN11_C_CWHX_202210101814_1032737847.cap.xml")
    alert = Alert.objects.get(source=source.name)
    assert alert.area.valid and alert.area.num_geom >= 1
    assert alert.title == "frost"


def test_geocode_only_alert_is_placed_on_the_zones_carrying_its_codes(home):
    zone = f.zone(agency=home, code="MNZ020", geocodes=["UGC:MNZ020"], bbox=(-90.6, 47.3, -90.0, 47.9))
    f.zone(agency=home, code="OTHER", geocodes=["UGC:XXZ999"])
    source = cap_source(home)
    ingest(source, "oasiscap_nws-5c2cf27b1f56885d61654dc47fa411d5.xml")
    alert = Alert.objects.get(source=source.name)
    assert alert.area.equals(zone.geom)
    assert zone.geom.covers(alert.location)
    assert "No zone carries geocodes FIPS6:027031" in alert.detail  # the ones not matched are named


def test_geocode_only_alert_without_zones_is_listed_with_no_location(home, operator_client):
    source = cap_source(home)
    ingest(source, "oasiscap_nws-5c2cf27b1f56885d61654dc47fa411d5.xml")
    # The HSAS advisory (CAP 1.0) has no expiry and no geometry at all: open, listed, unplaced.
    ingest(source, "oasiscap_v1dot0_appendix_adot1.xml")
    blizzard = Alert.objects.get(title="Blizzard Warning")
    assert (blizzard.location, blizzard.area) == (None, None)
    assert "Not placed: no zone of this agency carries its geocodes" in blizzard.detail
    assert blizzard.area_desc.startswith("Southern Cook, North Shore")
    listed = operator_client.get("/api/alerts/?status=open").json()["features"]
    (hsas,) = [a for a in listed if a["properties"]["title"] == "Homeland Security Advisory System Update"]
    assert hsas["geometry"] is None
    assert hsas["properties"]["area_desc"] == "U.S. nationwide and interests worldwide"
    assert hsas["properties"]["status"] == "open"


def test_api_serves_the_area_as_geojson(home, operator_client):
    source = cap_source(home)
    xml = real_sample("cap", "oasiscap_v1dot0_appendix_adot3.xml").read_text()
    ingest(source, xml.replace("32.9525,-115.5527 0<", "32.9525,-115.5527 2<").encode())
    (feature,) = operator_client.get("/api/alerts/").json()["features"]
    assert feature["geometry"] == {"type": "Point", "coordinates": [-115.5527, 32.9525]}
    area = feature["properties"]["area"]
    assert area["type"] == "MultiPolygon" and len(area["coordinates"][0][0]) == 65


def test_update_replaces_the_referenced_alert_in_place(home):
    source = cap_source(home)
    earlier, _ = sensor_services.alert_raise(
        agency_id=home.pk,
        kind="sensor",
        title="Tsunami Warning",
        raised_at=timezone.now() - timedelta(hours=1),
        source=source.name,
        source_id=source_id("wcatwc@noaa.gov", "PAAQ-3-mg5a94"),
    )
    report = ingest(source, "oasiscap_google-PAAQ-4-mg5a94.xml")
    assert report["accepted"] == 1
    assert Alert.objects.filter(source=source.name).count() == 1
    earlier.refresh_from_db()
    assert earlier.title == "Tsunami Cancellation"
    assert earlier.source_id == "wcatwc@noaa.gov,PAAQ-4-mg5a94"
    assert earlier.superseded_ids == ["wcatwc@noaa.gov,PAAQ-3-mg5a94"]
    assert (earlier.location.x, earlier.location.y) == (-134.9, 55.3)
    assert earlier.status == AlertStatus.CLOSED  # its expires (2013) has passed
    again = ingest(source, "oasiscap_google-PAAQ-4-mg5a94.xml")
    assert (again["accepted"], again["duplicates"]) == (0, 1)


def test_update_of_an_alert_never_seen_is_raised_as_its_own_alert(home):
    source = cap_source(home)
    report = ingest(source, "meteoalarm_cap_meteofrance_fr-en.xml")
    assert report["accepted"] == 1
    assert Alert.objects.get(source=source.name).title == "Moderate avalanches warning"


def test_cancel_closes_the_referenced_alert(home, monkeypatch):
    source = cap_source(home)
    target, _ = sensor_services.alert_raise(
        agency_id=home.pk,
        kind="sensor",
        title="Road closure",
        raised_at=timezone.now() - timedelta(days=1),
        source=source.name,
        source_id=source_id("bbrundage@dps.state.nv.us", "AS-NV-e18921c7-1b35-4a81-9705-42d25c265ddd"),
    )
    published = []
    real_publish = sensor_services.publish
    monkeypatch.setattr(sensor_services, "publish", lambda **kw: published.append(kw) or real_publish(**kw))
    report = ingest(source, "oasiscap_ipaws-5e6dd9de023f1930ef6548d9.xml")
    assert (report["accepted"], report["rejected"]) == (1, 0)
    target.refresh_from_db()
    assert target.status == AlertStatus.CLOSED
    assert target.close_reason.startswith("cancelled by ")
    assert target.closed_at.isoformat() == "2019-04-19T17:46:20+00:00"  # the Cancel's sent
    assert [p["instance"].pk for p in published] == [target.pk]
    repeat = ingest(source, "oasiscap_ipaws-5e6dd9de023f1930ef6548d9.xml")
    assert (repeat["accepted"], repeat["duplicates"], repeat["rejected"]) == (0, 1, 0)


def test_cancel_of_an_unknown_alert_is_a_counted_dead_letter(home):
    source = cap_source(home)
    report = ingest(source, "oasiscap_ipaws-5e6dd9de023f1930ef6548d9.xml")
    assert (report["accepted"], report["rejected"]) == (0, 1)
    assert report["rejections"][0]["reason"] == (
        "Cancels bbrundage@dps.state.nv.us,AS-NV-e18921c7-1b35-4a81-9705-42d25c265ddd,2019-04-18T12:02:32-06:00: "
        "no alert from this source has that id"
    )
    assert DeadLetter.objects.filter(source=source).count() == 1
    source.refresh_from_db()
    assert source.rejected_count == 1


def test_alert_close_service(home, operator):
    alert = f.alert(agency=home, source="ATAK", source_id="ANDROID-1:911")
    other = f.alert(agency=home, source="ATAK", source_id="ANDROID-2:911")
    assert alert_close(agency_id=home.pk, source="ATAK", source_id="nope", reason="x") is None
    assert alert_close(agency_id=home.pk + 999, source="ATAK", source_id="ANDROID-1:911", reason="x") is None
    alert_acknowledge(alert_id=alert.pk, user=operator)
    with TestCase.captureOnCommitCallbacks(execute=True):
        closed = alert_close(agency_id=home.pk, source="ATAK", source_id="ANDROID-1:911", reason="emergency cancel")
    assert closed.pk == alert.pk and closed.status == AlertStatus.CLOSED and closed.close_reason == "emergency cancel"
    assert closed.acknowledged_by == operator  # who acknowledged it stays on record
    # Closed already: nothing more to close.
    assert alert_close(agency_id=home.pk, source="ATAK", source_id="ANDROID-1:911", reason="again") is None
    other.refresh_from_db()
    assert other.status == AlertStatus.OPEN


def test_expired_alerts_are_closed_by_the_beat_task(home, settings):
    now = timezone.now()
    due = f.alert(agency=home, expires_at=now - timedelta(minutes=1))
    later = f.alert(agency=home, expires_at=now + timedelta(hours=1))
    forever = f.alert(agency=home)
    acked = f.alert(agency=home, expires_at=now - timedelta(minutes=5), status=AlertStatus.ACKNOWLEDGED)
    with TestCase.captureOnCommitCallbacks(execute=True):
        assert alerts_close_expired_task.apply().get() == 2
    statuses = {a.pk: Alert.objects.get(pk=a.pk).status for a in (due, later, forever, acked)}
    assert statuses == {due.pk: "closed", later.pk: "open", forever.pk: "open", acked.pk: "closed"}
    assert alerts_close_expired(now=now + timedelta(hours=2)) == 1  # `later` in its turn
    (entry,) = [e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == alerts_close_expired_task.name]
    assert alerts_close_expired_task.soft_time_limit < alerts_close_expired_task.time_limit
    assert entry["schedule"] <= 60


def test_a_closed_alert_cannot_be_acknowledged(home, operator_client):
    alert = f.alert(agency=home, status=AlertStatus.CLOSED, closed_at=timezone.now(), close_reason="expired")
    response = operator_client.post(f"/api/alerts/{alert.pk}/acknowledge/", {}, format="json")
    assert response.status_code == 409 and "expired" in response.json()["detail"]


def test_bad_area_costs_only_its_alert(home):
    source = cap_source(home)
    bowtie = "<polygon>47.0,-122.0 47.1,-121.9 47.0,-121.9 47.1,-122.0 47.0,-122.0</polygon>"
    xml = real_sample("cap", "oasiscap_v1dot0_appendix_adot3.xml").read_text()
    xml = xml.replace("<circle>32.9525,-115.5527 0</circle>", bowtie)
    ingest(source, xml.encode())
    alert = Alert.objects.get(source=source.name)
    assert alert.area.valid and alert.area.num_geom == 2  # a figure eight is repaired, both lobes kept
    assert Polygon.from_bbox((-122.0, 47.0, -121.9, 47.1)).buffer(1e-9).covers(alert.area)


def test_zones_imported_with_geocodes_place_a_geocode_only_alert(home, tmp_path):
    import json
    from io import StringIO

    from django.core.management import call_command

    from apps.zones.models import Zone

    ring = [[-90.6, 47.3], [-90.0, 47.3], [-90.0, 47.9], [-90.6, 47.9], [-90.6, 47.3]]
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"code": "N1", "codes": "ugc:MNZ020; FIPS6:027031"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"code": "N2", "codes": "MNZ020"},
        },
    ]
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    out, err = StringIO(), StringIO()
    call_command(
        "import_layer",
        "zones",
        str(path),
        "--agency",
        "SPD",
        "--map",
        "geocodes=codes",
        "--set",
        "kind=district",
        stdout=out,
        stderr=err,
    )
    assert "1 created" in out.getvalue()
    assert "geocode 'MNZ020' is not SCHEME:value" in err.getvalue()
    assert Zone.objects.get(code="N1").geocodes == ["UGC:MNZ020", "FIPS6:027031"]

    source = cap_source(home)
    ingest(source, "oasiscap_nws-5c2cf27b1f56885d61654dc47fa411d5.xml")
    alert = Alert.objects.get(source=source.name)
    assert alert.area is not None and alert.area.covers(alert.location)


def test_zone_admin_form_normalises_and_checks_geocodes(home):
    from apps.zones.admin import ZoneForm

    geom = "SRID=4326;MULTIPOLYGON(((-122.4 47.6,-122.3 47.6,-122.3 47.7,-122.4 47.6)))"
    data = {"agency": home.pk, "kind": "beat", "code": "K2", "name": "K2", "geom": geom}
    form = ZoneForm(data={**data, "geocodes": "ugc:WAZ558,SAME:053033"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["geocodes"] == ["UGC:WAZ558", "SAME:053033"]
    bad = ZoneForm(data={**data, "geocodes": "WAZ558"})
    assert not bad.is_valid() and "is not SCHEME:value" in str(bad.errors["geocodes"])


def test_same_and_fips6_county_codes_stand_for_each_other(home):
    # The NWS CAP 1.1 sample names Cook County MN as FIPS6:027031; this zone lists it as SAME.
    zone = f.zone(agency=home, code="COOK", geocodes=["SAME:027031"], bbox=(-90.6, 47.3, -90.0, 47.9))
    source = cap_source(home)
    ingest(source, "oasiscap_nws-5c2cf27b1f56885d61654dc47fa411d5.xml")
    alert = Alert.objects.get(source=source.name)
    assert alert.area.equals(zone.geom)
    assert "FIPS6:027031" not in alert.detail.split("No zone carries geocodes")[-1]
