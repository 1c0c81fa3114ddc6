"""The import_layer command: samples with deliberately bad rows, presets over the real Seattle files."""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import DataError, transaction

from apps.audit.models import AuditAction, AuditEvent
from apps.cameras.models import Camera
from apps.core.geo import make_point
from apps.incidents.models import Incident
from apps.incidents.services import incident_upsert
from apps.intake.errors import RowError
from apps.intake.mapping import geometry_from_geojson, parse_datetime
from apps.intake.readers import crs_srid
from apps.intake.specs import LAYERS
from apps.zones.models import Zone

from . import factories as f

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "fixtures" / "samples"
MAPPINGS = ROOT / "fixtures" / "mappings"
INCIDENTS_CSV = SAMPLES / "incidents.csv"
INCIDENTS_MAPPING = SAMPLES / "incidents_mapping.json"
GOOD_CADS = {"24-000101", "24-000102", "24-000103", "24-000110", "24-000112"}


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_layer", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def import_sample_incidents(*extra: str, path: Path = INCIDENTS_CSV) -> tuple[str, str]:
    return run("incidents", path, "--agency", "SPD", "--mapping", INCIDENTS_MAPPING, *extra)


# --- CSV incidents ---------------------------------------------------------------------------------------------------


def test_csv_keeps_good_rows_and_reports_bad_ones_by_line(home):
    out, err = import_sample_incidents("--source", "CAD nightly")

    assert out.strip().startswith("incidents: 5 created, 0 updated, 0 unchanged, 7 rejected (of 12 rows) in ")
    assert set(Incident.objects.values_list("cad_number", flat=True)) == GOOD_CADS
    reasons = dict(line.split(": ", 1) for line in err.strip().splitlines())
    assert reasons["line 5"] == "lon must be a number, got 'abc'"
    assert reasons["line 6"] == "latitude 95.2 is outside -90..90"
    assert reasons["line 7"] == "cad_number is missing (column 'Event No' is empty)"
    assert reasons["line 8"].startswith("received_at '2024-02-30 10:00:00' is not a valid date/time")
    assert reasons["line 8"].endswith("day is out of range for month")
    assert reasons["line 9"] == "priority 12 is outside 1..9"
    assert reasons["line 10"] == "status 'XFER' has no translation in the mapping's values.status"
    assert reasons["line 12"].endswith("hour must be in 0..23")
    assert len(reasons) == 7

    robbery = Incident.objects.get(cad_number="24-000101")
    assert (robbery.agency, robbery.type_code, robbery.priority, robbery.status) == (home, "ROBBERY", 1, "dispatched")
    assert robbery.source == "CAD nightly"
    assert (robbery.location.x, robbery.location.y) == (-122.3405, 47.6089)
    assert robbery.received_at == datetime(2024, 3, 10, 6, 15, 4, tzinfo=UTC)  # PST, UTC-8
    assert Incident.objects.get(cad_number="24-000102").status == "on_scene"
    assert Incident.objects.get(cad_number="24-000112").received_at == datetime(2024, 3, 10, 7, 5, tzinfo=UTC)


def test_naive_times_in_dst_gap_and_overlap_are_kept(home):
    import_sample_incidents()
    # 02:30 on 10 March 2024 does not exist in Seattle; fold=0 reads it with the offset from before the gap.
    assert Incident.objects.get(cad_number="24-000103").received_at == datetime(2024, 3, 10, 10, 30, tzinfo=UTC)
    # 01:30 on 3 November 2024 happens twice; fold=0 is the first, daylight-time one (UTC-7).
    assert Incident.objects.get(cad_number="24-000110").received_at == datetime(2024, 11, 3, 8, 30, tzinfo=UTC)


def test_reimport_updates_instead_of_duplicating(home, tmp_path):
    import_sample_incidents()
    changed = tmp_path / "incidents.csv"
    changed.write_text(INCIDENTS_CSV.read_text().replace(",1,DISP,1st Ave & Pike St", ",1,CLSD,1st Ave & Pike St"))

    out, _ = import_sample_incidents(path=changed)

    assert "incidents: 0 created, 1 updated, 4 unchanged, 7 rejected (of 12 rows)" in out
    assert Incident.objects.count() == 5
    assert Incident.objects.get(cad_number="24-000101").status == "closed"


def test_dry_run_writes_nothing(home):
    out, _ = import_sample_incidents("--dry-run")

    assert "incidents: 5 created, 0 updated, 0 unchanged, 7 rejected (of 12 rows)" in out
    assert "dry run, nothing was written" in out
    assert not Incident.objects.exists()
    assert not AuditEvent.objects.exists()


def test_import_writes_one_audit_event(home):
    import_sample_incidents()

    event = AuditEvent.objects.get()
    assert (event.action, event.object_type, event.user) == (AuditAction.IMPORT, "incidents", None)
    assert event.detail["file"] == "incidents.csv"
    assert event.detail["agency"] == "SPD"
    assert (event.detail["rows"], event.detail["created"], event.detail["rejected"]) == (12, 5, 7)


def test_report_lists_rejected_rows(home, tmp_path):
    report = tmp_path / "rejected.csv"
    import_sample_incidents("--report", report)

    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["line"] for row in rows] == ["5", "6", "7", "8", "9", "10", "12"]
    assert rows[0]["record"] == "4"
    assert rows[0]["reason"] == "lon must be a number, got 'abc'"
    assert rows[0]["raw"] == "24-000104,SHOTS,Shots heard,1,OPEN,3rd Ave & Pike St,abc,47.6100,2024-03-09 23:01:12"


def test_gzipped_csv(home, tmp_path):
    packed = tmp_path / "incidents.csv.gz"
    packed.write_bytes(gzip.compress(INCIDENTS_CSV.read_bytes()))

    out, _ = import_sample_incidents(path=packed)

    assert "5 created, 0 updated, 0 unchanged, 7 rejected (of 12 rows)" in out


def test_semicolon_csv_with_column_options_only(home, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "id;code;x;y;when;prio\n"
        "A-1;BURG;-122.33;47.60;25/03/2016 23:15;P2\n"
        "A-2;BURG;-122.33;47.60;25/03/2016 23:15;P7\n"
    )
    mapping = tmp_path / "prio.json"
    mapping.write_text(json.dumps({"values": {"priority": {"P1": 1, "P2": 2}}}))

    out, _ = run(
        "incidents",
        path,
        "--agency",
        "SPD",
        "--mapping",
        mapping,
        "--map",
        "cad_number=id",
        "--map",
        "type_code=code",
        "--map",
        "lon=x",
        "--map",
        "lat=y",
        "--map",
        "received_at=when",
        "--map",
        "priority=prio",
        "--datetime-format",
        "%d/%m/%Y %H:%M",
        "--tz",
        "UTC",
    )

    assert "incidents: 1 created, 0 updated, 0 unchanged, 1 rejected (of 2 rows)" in out
    incident = Incident.objects.get()
    assert (incident.priority, incident.received_at) == (2, datetime(2016, 3, 25, 23, 15, tzinfo=UTC))


def test_max_errors_stops_early(home):
    out, err = import_sample_incidents("--max-errors", "2")

    assert "3 created, 0 updated, 0 unchanged, 2 rejected (of 5 rows)" in out
    assert "stopped after 2 bad rows" in out
    assert Incident.objects.count() == 3


def test_incident_gets_its_beat(home):
    beat = f.zone(agency=home, kind="beat", code="M1", bbox=(-122.345, 47.605, -122.335, 47.615))
    import_sample_incidents()
    assert Incident.objects.get(cad_number="24-000101").beat == beat
    assert Incident.objects.get(cad_number="24-000110").beat is None


def test_incident_upsert_brings_its_own_savepoint(home):
    # The importer relies on it (LayerSpec.needs_savepoint=False): a row the database refuses must roll back
    # alone, not leave the import's transaction aborted.
    assert not LAYERS["incidents"].needs_savepoint
    with transaction.atomic():
        with pytest.raises(DataError):
            incident_upsert(
                agency_id=home.pk,
                cad_number="X" * 65,
                type_code="T",
                location=make_point(-122.3, 47.6),
                received_at=datetime(2024, 1, 1, tzinfo=UTC),
            )
        assert not Incident.objects.exists()


def test_every_row_rejected_is_an_error(home, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("cad_number,type_code,lon,lat,received_at\nX1,THEFT,,,2024-01-01T10:00:00\n")
    with pytest.raises(CommandError, match="every row was rejected"):
        run("incidents", path, "--agency", "SPD")
    assert AuditEvent.objects.get().detail["rejected"] == 1


def test_unknown_agency(home):
    with pytest.raises(CommandError, match="unknown agency code 'NOPE'.*SPD"):
        run("incidents", INCIDENTS_CSV, "--agency", "NOPE", "--mapping", INCIDENTS_MAPPING)
    assert not AuditEvent.objects.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--map", "cad_number=No Such Column"), "column\\(s\\) 'No Such Column' not in the file"),
        (("--map", "colour=Pri"), "unknown field\\(s\\) colour"),
        (("--tz", "Mars/Olympus_Mons"), "unknown time zone"),
        (("--set", "status=bogus"), "constants.status: status 'bogus' is not one of"),
    ],
)
def test_invalid_mapping_is_an_error(home, extra, message):
    with pytest.raises(CommandError, match=message):
        import_sample_incidents(*extra)
    assert not Incident.objects.exists()


def test_missing_required_mapping_is_an_error(home):
    with pytest.raises(CommandError, match="cad_number is required"):
        run("incidents", INCIDENTS_CSV, "--agency", "SPD")


def test_mapping_for_another_layer_is_refused(home):
    with pytest.raises(CommandError, match="for the incidents layer, not zones"):
        run("zones", SAMPLES / "zones.geojson", "--agency", "SPD", "--mapping", INCIDENTS_MAPPING)


def test_unreadable_file_is_an_error(home, tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        run("incidents", tmp_path / "missing.csv", "--agency", "SPD")
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    with pytest.raises(CommandError, match="not valid JSON"):
        run("cameras", broken, "--agency", "SPD")


# --- GeoJSON cameras and zones ---------------------------------------------------------------------------------------


def test_geojson_cameras_with_heading_get_a_view_sector(home):
    out, err = run("cameras", SAMPLES / "cameras.geojson", "--agency", "SPD")

    assert "cameras: 2 created, 0 updated or unchanged, 4 rejected (of 6 rows)" in out
    assert "record 3: latitude 120.5 is outside -90..90" in err
    assert "record 4: geometry must be a Point, got 'Polygon'" in err
    assert "record 5: heading 400 is outside 0..360" in err
    assert "record 6: stream_url must be an http(s)/rtsp URL" in err

    market = Camera.objects.get(external_id="PPM-01")
    assert (market.heading, market.fov_angle, market.fov_range, market.owner_kind) == (180, 70, 80, "partner")
    assert market.view.num_points == 14 + 3  # camera, 15 arc points (70° in 5° steps), back to the camera
    assert market.view.centroid.y < market.location.y  # looking south
    dome = Camera.objects.get(external_id="PPM-02")
    assert dome.ptz is True and dome.heading is None
    assert dome.view.num_points == 49  # the whole circle
    assert dome.view.contains(dome.location)


def test_cameras_from_plain_json_list(home, tmp_path):
    path = tmp_path / "cams.json"
    path.write_text(
        json.dumps(
            {
                "data": {
                    "cams": [
                        {"cam": "C1", "label": "Alley", "lng": -122.33, "latitude": 47.61, "dir": "90"},
                        {"cam": "C2", "label": "No position"},
                    ]
                }
            }
        )
    )

    out, err = run(
        "cameras",
        path,
        "--agency",
        "SPD",
        "--json-path",
        "data.cams",
        "--map",
        "external_id=cam",
        "--map",
        "name=label",
        "--map",
        "heading=dir",
        "--set",
        "fov_angle=45",
    )

    assert "cameras: 1 created, 0 updated or unchanged, 1 rejected (of 2 rows)" in out
    assert "record 2: no location: lon/lat are empty" in err
    camera = Camera.objects.get()
    assert (camera.heading, camera.fov_angle, camera.location.x) == (90, 45, -122.33)


def test_report_keeps_no_stream_credentials(home, tmp_path):
    """A rejected camera row is reported without the user name and password of its stream URL."""
    path = tmp_path / "cams.csv"
    path.write_text(
        "cam,label,lng,lat,url\n"
        "C1,No position,,,rtsp://viewer:s3cret:pa@ss@cam.example.org:554/live\n"
        'C2,Bad url,-122.33,47.61,"ftp://admin:hunter2@cam.example.org/x, http://a:b@c.example.org/y"\n'
        "C3,Good,-122.33,47.61,https://cam.example.org/live.m3u8\n"
    )
    report = tmp_path / "rejected.csv"
    _out, err = run(
        "cameras",
        path,
        "--agency",
        "SPD",
        "--map",
        "external_id=cam",
        "--map",
        "name=label",
        "--map",
        "lon=lng",
        "--map",
        "lat=lat",
        "--map",
        "stream_url=url",
        "--report",
        report,
    )
    text = report.read_text()
    for secret in ("s3cret", "pa@ss", "viewer", "hunter2", "admin", "a:b@"):
        assert secret not in text and secret not in err
    assert "rtsp://cam.example.org:554/live" in text and "ftp://cam.example.org/x" in text


def test_json_object_keyed_by_id(home, tmp_path):
    path = tmp_path / "cams.json"
    path.write_text(json.dumps({"K-1": {"title": "Dock", "lon": -122.35, "lat": 47.60, "heading": None}}))

    out, _ = run("cameras", path, "--agency", "SPD", "--map", "external_id=_id", "--map", "name=title")

    assert "cameras: 1 created" in out
    assert Camera.objects.get().external_id == "K-1"


def test_report_folder_must_exist(home, tmp_path):
    with pytest.raises(CommandError, match="does not exist"):
        import_sample_incidents("--report", tmp_path / "no" / "such" / "rejected.csv")
    assert not Incident.objects.exists()


def test_zones_from_polygon_and_multipolygon(home):
    out, err = run(
        "zones",
        SAMPLES / "zones.geojson",
        "--agency",
        "SPD",
        "--map",
        "code=beat_id",
        "--map",
        "name=label",
        "--set",
        "kind=beat",
    )

    assert "zones: 2 created, 0 updated or unchanged, 3 rejected (of 5 rows)" in out
    assert "record 3: geometry must be a Polygon or MultiPolygon, got 'Point'" in err
    assert "record 4: a polygon ring must end where it starts" in err
    assert "record 5: coordinates must be numbers, got '47.62'" in err
    market = Zone.objects.get(code="T1")
    assert (market.kind, market.name, len(market.geom)) == ("beat", "Market", 1)
    assert len(Zone.objects.get(code="T2").geom) == 2


def test_geojson_crs_other_than_wgs84_is_refused(home, tmp_path):
    data = json.loads((SAMPLES / "zones.geojson").read_text())
    data["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::3857"}}
    path = tmp_path / "mercator.geojson"
    path.write_text(json.dumps(data))

    with pytest.raises(CommandError, match="SRID 3857 is not accepted"):
        run("zones", path, "--agency", "SPD", "--map", "code=beat_id", "--set", "kind=beat")
    assert not Zone.objects.exists()


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [float("nan"), 47.6]},
        {"type": "Point", "coordinates": [True, 47.6]},
        {"type": "Point", "coordinates": [-122.3]},
        {"type": "Point", "coordinates": "POINT(-122.3 47.6)"},
        {"type": "GeometryCollection", "geometries": []},
        "POINT(-122.3 47.6)",
    ],
)
def test_geometry_builder_refuses_anything_but_numbers(geometry):
    with pytest.raises(RowError):
        geometry_from_geojson(geometry=geometry, allowed=("Point",))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0001-01-01T00:00:00", "year outside 1900..2100"),
        ("2024-13-01 10:00:00", "month must be in 1..12"),
        ("yesterday", "is not a valid date/time (expected %Y-%m-%d %H:%M:%S or ISO 8601)"),
    ],
)
def test_impossible_dates_are_row_errors(text, reason):
    with pytest.raises(RowError, match=re.escape(reason)):
        parse_datetime(text=text, formats=("%Y-%m-%d %H:%M:%S",), tz=ZoneInfo("America/Los_Angeles"))


def test_crs84_and_epsg4326_names_are_accepted():
    for name in ("urn:ogc:def:crs:OGC:1.3:CRS84", "EPSG:4326", "urn:ogc:def:crs:EPSG::4326"):
        assert crs_srid({"type": "name", "properties": {"name": name}}) == 4326


# --- the real Seattle files, through the shipped presets -------------------------------------------------------------


@pytest.fixture
def shared_data() -> Path:
    folder = Path(settings.RTCC_SHARED_DATA_DIR)
    if not folder.is_dir():
        pytest.skip(f"real public data not available: {folder} (settings.RTCC_SHARED_DATA_DIR) is absent")
    return folder


def preset(name: str) -> Path:
    return MAPPINGS / name


@pytest.mark.shared_data
def test_spd_911_day_gets_beats(home, shared_data):
    out, _ = run(
        "zones",
        shared_data / "seattle_boundaries" / "spd-beats.geojson",
        "--agency",
        "SPD",
        "--mapping",
        preset("spd_beats.json"),
    )
    assert "zones: 51 created, 0 updated or unchanged, 0 rejected (of 51 rows)" in out
    out, _ = run(
        "zones",
        shared_data / "seattle_boundaries" / "spd-precincts.geojson",
        "--agency",
        "SPD",
        "--mapping",
        preset("spd_precincts.json"),
    )
    assert "zones: 5 created" in out
    assert Zone.objects.get(kind="district", code="SW").name == "Southwest Precinct"

    out, _ = run(
        "incidents",
        shared_data / "seattle_cad" / "spd_911_incident_response_2016-03-25.csv",
        "--agency",
        "SPD",
        "--mapping",
        preset("spd_911_2016.json"),
    )

    incidents = Incident.objects.filter(agency=home)
    assert "(of 706 rows)" in out
    assert incidents.count() >= 700
    # Strictly inside a beat, except calls on the city-limit street itself: 16000103581 (NE 145th St) lies
    # about 2 cm outside beat L1. Whatever misses a beat must be within metres of one.
    for stray in incidents.filter(beat__isnull=True):
        assert Zone.objects.filter(kind="beat", geom__dwithin=(stray.location, 0.0001)).exists(), stray.cad_number
    assert incidents.filter(beat__isnull=False).count() >= incidents.count() - 2
    prowl = incidents.get(cad_number="16000104006")
    assert (prowl.type_code, prowl.status, prowl.beat.code) == ("THEFT", "closed", "K3")
    assert prowl.closed_at == datetime(2016, 3, 26, 6, 58, 30, tzinfo=UTC)  # 11:58:30 PM PDT
    assert prowl.received_at == prowl.on_scene_at


@pytest.mark.shared_data
def test_sfd_mva_dirty_rows_are_counted(home, shared_data, tmp_path):
    report = tmp_path / "rejected.csv"
    out, _ = run(
        "incidents",
        shared_data / "seattle_cad" / "sfd_realtime_911_mva_2010-2015.csv",
        "--agency",
        "SPD",
        "--mapping",
        preset("sfd_911_mva.json"),
        "--report",
        report,
        "--verbosity",
        "0",
    )

    with open(report, newline="") as handle:
        reasons = [row["reason"] for row in csv.DictReader(handle)]
    hour_24 = [reason for reason in reasons if reason.endswith("hour must be in 0..23")]
    no_location = [reason for reason in reasons if reason.startswith("no location")]
    assert (len(hour_24), len(no_location), len(reasons)) == (25, 25, 50)
    assert "rejected (of 13771 rows)" in out
    event = AuditEvent.objects.get()
    assert event.detail["created"] + event.detail["updated"] + event.detail["unchanged"] == 13771 - 50
    # Rows without an incident number got a stable stand-in key.
    assert Incident.objects.filter(cad_number__startswith="SFD-").count() > 1000


@pytest.mark.shared_data
def test_sdot_cameras(home, shared_data, tmp_path):
    listing = shared_data / "seattle_cameras" / "seattle_sdot_cameras_2024.json"
    out, _ = run("cameras", listing, "--agency", "SPD", "--mapping", preset("sdot_cameras.json"))

    assert "cameras: 154 created, 0 updated or unchanged, 0 rejected (of 154 rows)" in out
    camera = Camera.objects.get(external_id="CMR-0112")
    assert (camera.owner_kind, camera.owner_name, camera.stream_kind, camera.status, camera.sharing) == (
        "partner",
        "SDOT",
        "hls",
        "unknown",
        "live",
    )
    assert camera.heading is None and camera.view.num_points == 49

    copy = tmp_path / "sdot.json"
    shutil.copy(listing, copy)
    out, _ = run("cameras", copy, "--agency", "SPD", "--mapping", preset("sdot_cameras.json"))
    assert "cameras: 0 created, 154 updated" in out
    assert Camera.objects.count() == 154
