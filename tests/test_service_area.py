"""Where records may be: each agency's service area (its zones' union plus a buffer), and (0,0), refused or flagged
by the file importer and by feed ingest, with how far out the record is."""

from __future__ import annotations

import csv
import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from apps.alpr.models import AlprSite
from apps.core.geo import make_point
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_ingest
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec, load_mapping_file
from apps.sensors.models import GunshotDetection
from apps.zones.area import ServiceAreas, distance_text, service_area_check

from . import factories as f

pytestmark = pytest.mark.django_db

SAMPLES = Path(__file__).resolve().parent.parent / "fixtures" / "samples"
# A degree of longitude at Seattle's latitude is ~75 km; of latitude ~111 km.
KM_LON = 1 / 75.1


@pytest.fixture
def seattle(home):
    # The beat spans LON±0.01, LAT±0.01 (~1.5 x 2.2 km); the buffer is the default 2,000 m.
    f.zone(agency=home, code="M1")
    return home


def east_of_beat(km: float):
    return make_point(f.LON + 0.01 + km * KM_LON, f.LAT)


def test_zones_union_plus_buffer_is_the_area(seattle):
    check = lambda point: service_area_check(agency_id=seattle.pk, point=point)  # noqa: E731
    assert check(make_point(f.LON, f.LAT)) is None
    assert check(east_of_beat(1.5)) is None  # inside the 2 km buffer
    assert check(east_of_beat(3)) == "outside service area by 1.0 km"
    assert check(make_point(-122.1526, 37.6180)) == "outside service area by 1,107 km"  # San Mateo bridge
    assert "(0,0) (null island)" in check(make_point(0.004, -0.002))

    seattle.service_area_buffer_m = 0
    seattle.save()
    assert check(east_of_beat(1.5)) == "outside service area by 1.5 km"
    # A second zone far away joins the area (a union, not the first zone).
    f.zone(agency=seattle, code="FAR", bbox=(f.LON + 0.10, f.LAT - 0.01, f.LON + 0.12, f.LAT + 0.01))
    assert check(make_point(f.LON + 0.11, f.LAT)) is None


@pytest.mark.shared_data
def test_real_seattle_beats_make_the_area(home):
    beats = Path(settings.RTCC_SHARED_DATA_DIR) / "seattle_boundaries" / "spd-beats.geojson"
    if not beats.is_file():
        pytest.skip(f"real public data not available: {beats} (settings.RTCC_SHARED_DATA_DIR) is absent")
    mapping = Path(__file__).resolve().parent.parent / "fixtures" / "mappings" / "spd_beats.json"
    call_command(
        "import_layer", "zones", str(beats), "--agency", home.code, "--mapping", str(mapping), stdout=StringIO()
    )
    areas = ServiceAreas()
    assert areas.check(home.pk, make_point(f.LON, f.LAT)) is None  # Pike Place
    assert areas.check(home.pk, make_point(-122.3540, 47.7330)) is None  # north end, near the city line
    assert areas.check(home.pk, make_point(-122.2015, 47.6101)).startswith("outside service area by ")  # Bellevue
    reason = areas.check(home.pk, make_point(-122.1525973, 37.6179702))  # the first OSM ALPR node of the Bay Area
    assert re.fullmatch(r"outside service area by 1,0\d\d km", reason), reason


def test_agency_without_zones_only_refuses_null_island(home, other_agency):
    f.zone(agency=other_agency)  # another agency's zones are not this one's area
    assert service_area_check(agency_id=home.pk, point=make_point(-122.1526, 37.618)) is None
    assert service_area_check(agency_id=home.pk, point=make_point(0.0, 0.009)) is not None
    assert service_area_check(agency_id=home.pk, point=make_point(0.0, 0.011)) is None


def test_one_load_per_batch_not_a_query_per_record(seattle, other_agency, django_assert_max_num_queries):
    areas = ServiceAreas()
    # Per agency: its zones' stamp and buffer, plus the union when the area is built; never per point.
    with django_assert_max_num_queries(5):
        for step in range(200):
            areas.check(seattle.pk, east_of_beat(step / 10))
            areas.check(other_agency.pk, east_of_beat(step / 10))


def test_a_built_area_is_reused_until_the_zones_change(seattle, django_assert_num_queries):
    ServiceAreas().get(seattle.pk)
    with django_assert_num_queries(2):  # the stamp and the buffer: no union, no rebuild
        assert ServiceAreas().check(seattle.pk, east_of_beat(3)) == "outside service area by 1.0 km"
    zone = seattle_zone(seattle)
    zone.name = "moved"
    zone.geom = type(zone.geom)(*(p.buffer(0.05) for p in zone.geom), srid=4326)
    zone.save()
    assert ServiceAreas().check(seattle.pk, east_of_beat(3)) is None


def seattle_zone(agency):
    from apps.zones.models import Zone

    return Zone.objects.get(agency=agency, code="M1")


def test_distances_read_at_their_scale():
    assert [distance_text(m) for m in (850.4, 3240, 6_100_000)] == ["850 m", "3.2 km", "6,100 km"]


# --- the importer ------------------------------------------------------------------------------------------------


def _shots(tmp_path: Path, *rows: tuple[str, float, float]) -> Path:
    path = tmp_path / "shots.csv"
    lines = ["ID,TYPE,DATETIME,LATITUDE,LONGITUDE"] + [
        f"{shot_id},Single Gunshot,2024-03-01T02:00:00Z,{lat},{lon}" for shot_id, lon, lat in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_rejects_outside_rows_by_default_and_flags_them_on_request(seattle, tmp_path):
    far = east_of_beat(40)
    path = _shots(tmp_path, ("IN", f.LON, f.LAT), ("FAR", far.x, far.y))
    spec = load_mapping_file(path=SAMPLES / "gunshots_mapping.json")
    spec = type(spec)(**{**spec.__dict__, "fields": {k: v for k, v in spec.fields.items() if k != "rounds"}})

    result = import_layer(layer="gunshots", path=path, agency=seattle, spec=spec)
    assert result.created == 1 and [r.reason for r in result.rejected] == ["outside service area by 38 km"]
    assert not result.flagged

    result = import_layer(layer="gunshots", path=path, agency=seattle, spec=spec, outside_area="flag")
    assert result.created == 1 and result.unchanged == 1 and not result.rejected
    assert [(r.line, r.reason) for r in result.flagged] == [(3, "outside service area by 38 km")]
    assert "1 flagged outside the service area" in result.summary()
    shot = GunshotDetection.objects.get(source_id="FAR")
    assert shot.attributes == {"service_area": "outside service area by 38 km"}
    assert GunshotDetection.objects.get(source_id="IN").attributes == {}

    with pytest.raises(ValueError, match="--outside-area must be reject or flag"):
        import_layer(layer="gunshots", path=path, agency=seattle, spec=spec, outside_area="ignore")


def test_import_command_reports_flagged_rows(seattle, tmp_path):
    far = east_of_beat(40)
    path = _shots(tmp_path, ("IN2", f.LON, f.LAT), ("FAR2", far.x, far.y))
    report = tmp_path / "report.csv"
    out, err = StringIO(), StringIO()
    call_command(
        "import_layer", "gunshots", str(path), "--agency", seattle.code, "--map", "source_id=ID",
        "--map", "type=TYPE", "--map", "detected_at=DATETIME", "--outside-area", "flag", "--report", str(report),
        stdout=out, stderr=err,
    )  # fmt: skip
    assert "2 created" in out.getvalue() and "1 flagged outside the service area" in out.getvalue()
    assert "line 3: flagged: outside service area by 38 km" in err.getvalue()
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert [(r["line"], r["reason"]) for r in rows] == [("3", "flagged: outside service area by 38 km")]


def test_import_points_of_other_layers_are_checked_too(seattle, tmp_path):
    path = tmp_path / "cams.csv"
    path.write_text(f"name,external_id,lon,lat\nIn,C1,{f.LON},{f.LAT}\nOut,C2,-122.1526,37.618\n", encoding="utf-8")
    result = import_layer(layer="cameras", path=path, agency=seattle, spec=MappingSpec())
    assert result.created == 1 and [r.reason for r in result.rejected] == ["outside service area by 1,107 km"]


# --- feed ingest ------------------------------------------------------------------------------------------------


def _push(source: FeedSource, items: list[dict]) -> dict:
    return feed_ingest(source_id=source.pk, payload=json.dumps(items).encode()).as_dict()


def test_feed_rejects_outside_records_as_dead_letters(seattle):
    source = FeedSource.objects.create(agency=seattle, name="shots", kind="gunshot_json")
    now = timezone.now().isoformat()
    far = east_of_beat(40)
    report = _push(
        source,
        [
            {"id": "A", "lon": f.LON, "lat": f.LAT, "detected_at": now},
            {"id": "B", "lon": far.x, "lat": far.y, "detected_at": now},
            {"id": "C", "lon": 0.0001, "lat": 0.0002, "detected_at": now},
        ],
    )
    assert report["accepted"] == 1 and report["rejected"] == 2 and report["flagged"] == []
    assert [r["reason"] for r in report["rejections"]][0] == "outside service area by 38 km"
    assert "null island" in report["rejections"][1]["reason"]
    assert set(DeadLetter.objects.values_list("reason", flat=True)) == {r["reason"] for r in report["rejections"]}
    assert list(GunshotDetection.objects.values_list("source_id", flat=True)) == ["A"]


def test_feed_flag_policy_stores_and_reports(seattle):
    source = FeedSource.objects.create(
        agency=seattle, name="shots", kind="gunshot_json", params={"service_area": "flag"}
    )
    far = east_of_beat(40)
    report = _push(source, [{"id": "B", "lon": far.x, "lat": far.y, "detected_at": timezone.now().isoformat()}])
    assert report["accepted"] == 1 and report["rejected"] == 0
    assert report["flagged"] == [{"index": 0, "reason": "outside service area by 38 km", "field": "location"}]
    assert GunshotDetection.objects.get(source_id="B").attributes == {"service_area": "outside service area by 38 km"}


def test_feed_positions_outside_the_area_never_move_a_unit(seattle):
    unit = f.unit(agency=seattle, call_sign="1A1", device_id="dev-1", lon=None, lat=None)
    source = FeedSource.objects.create(agency=seattle, name="avl", kind="osmand")
    now = timezone.now().replace(microsecond=0)
    far = east_of_beat(40)

    def fix(seconds: int, lon: float, lat: float) -> dict:
        at = (now.timestamp() - seconds) * 1000
        return {"timestamp": int(at), "coords": {"latitude": lat, "longitude": lon, "speed": 1, "heading": 90}}

    body = {"device_id": "dev-1", "location": [fix(0, far.x, far.y), fix(10, f.LON, f.LAT)]}
    report = feed_ingest(source_id=source.pk, payload=json.dumps(body).encode()).as_dict()
    assert report["accepted"] == 1 and report["rejected"] == 1, report
    assert report["rejections"][0] == {"index": 0, "reason": "outside service area by 38 km", "field": "location"}
    unit.refresh_from_db()
    assert (unit.last_location.x, unit.last_location.y) == pytest.approx((f.LON, f.LAT))


def test_flagged_alpr_site_keeps_its_osm_attributes_and_the_flag(seattle, tmp_path):
    path = tmp_path / "overpass.json"
    node = {"type": "node", "id": 7, "lon": -122.1526, "lat": 37.618, "tags": {"surveillance:type": "ALPR"}}
    node["tags"]["operator"] = "Bay Area Toll Authority"
    path.write_text(json.dumps({"osm3s": {}, "elements": [node]}), encoding="utf-8")
    spec = load_mapping_file(path=Path(__file__).resolve().parent.parent / "fixtures" / "mappings" / "osm_alpr.json")

    result = import_layer(layer="alpr_sites", path=path, agency=seattle, spec=spec, outside_area="flag")

    assert result.created == 1 and len(result.flagged) == 1
    site = AlprSite.objects.get(external_id="node/7")
    assert site.attributes == {
        "operator": "Bay Area Toll Authority",
        "service_area": "outside service area by 1,107 km",
    }


def test_feed_alerts_outside_the_area_still_reach_the_queue(seattle):
    # A neighbouring county's warning, a panic button across the city line: an alert's point is not a
    # record placed by mistake. Only (0,0) is refused.
    source = FeedSource.objects.create(agency=seattle, name="alarms", kind="alert_json")
    far = east_of_beat(40)
    now = timezone.now().isoformat()
    items = [
        {"id": "A-1", "kind": "panic", "lon": far.x, "lat": far.y, "raised_at": now},
        {"id": "A-2", "kind": "panic", "lon": 0.0002, "lat": 0.0001, "raised_at": now},
    ]
    report = feed_ingest(source_id=source.pk, payload=json.dumps(items).encode()).as_dict()
    assert report["accepted"] == 1 and report["rejected"] == 1
    assert "null island" in report["rejections"][0]["reason"] and report["rejections"][0]["index"] == 1
