"""Camera registries from the real sample corpus (../shared/data/formats/cameras/), each through its mapping
file in fixtures/mappings/: counts accepted and rejected, the reasons, and what the cameras look like."""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from apps.cameras.models import Camera
from apps.intake.importer import ImportResult, import_layer
from apps.intake.mapping import load_mapping_file

from .real_samples import real_sample

MAPPINGS = Path(settings.BASE_DIR) / "fixtures" / "mappings"
pytestmark = pytest.mark.shared_data


def run(home, sample: str, mapping: str) -> ImportResult:
    return import_layer(
        layer="cameras",
        path=real_sample("cameras", sample),
        agency=home,
        spec=load_mapping_file(path=MAPPINGS / f"{mapping}.json"),
    )


def reasons(result: ImportResult) -> Counter:
    return Counter((r.field, r.reason) for r in result.rejected)


def test_detroit_project_green_light_with_a_byte_order_mark(home):
    result = run(home, "detroit_project_green_light_locations.csv", "detroit_green_light")
    assert (result.created, result.updated, len(result.rejected)) == (766, 0, 0)
    cameras = Camera.objects.filter(agency=home)
    assert set(cameras.values_list("owner_kind", flat=True)) == {"partner"}
    fenkell = [c for c in cameras.filter(name="Mobil") if (c.location.x, c.location.y) == (-83.199179, 42.401723)]
    assert len(fenkell) == 1
    assert (fenkell[0].owner_name, fenkell[0].heading, fenkell[0].external_id[:8]) == ("Mobil", None, "DET-PGL-")
    # The key is namespaced and stable: a re-import updates the same 766 cameras.
    again = run(home, "detroit_project_green_light_locations.csv", "detroit_green_light")
    assert (again.created, again.updated) == (0, 766)


def test_baltimore_citiwatch_csv_with_a_wkt_column(home):
    result = run(home, "baltimore_citiwatch_BPD_Cameras.csv", "baltimore_citiwatch_csv")
    # 592 rows, one of them an exact repeat of another: it updates the first instead of adding a camera.
    assert (result.created, result.updated, len(result.rejected)) == (591, 1, 0)
    jfx = Camera.objects.get(agency=home, name="2508-JFX North")
    assert (jfx.location.x, jfx.location.y, jfx.owner_kind) == (-76.610525, 39.29905277777777, "agency")


def test_baltimore_citiwatch_kml_placemarks(home):
    result = run(home, "baltimore_citiwatch_CCTV_Cameras.kml", "baltimore_citiwatch_kml")
    assert result.format == "xml"
    assert (result.created, result.updated, len(result.rejected)) == (672, 1, 0)
    greenmount = Camera.objects.get(agency=home, name="535 - Greenmount  - 30th")
    assert (greenmount.location.x, greenmount.location.y) == (-76.60947777777777, 39.32478055555556)


def test_new_orleans_rtcc_cameras_are_the_agency_s(home):
    result = run(home, "new_orleans_rtcc_cameras_nopd.csv", "new_orleans_rtcc")
    assert (result.created, result.updated, len(result.rejected)) == (432, 0, 0)
    assert set(Camera.objects.values_list("owner_kind", "sharing")) == {("agency", "live")}


def test_new_orleans_safecam_cameras_are_community_on_request(home):
    result = run(home, "new_orleans_safecam_registered_cameras.csv", "new_orleans_safecam")
    assert (result.created, result.updated, len(result.rejected)) == (63, 0, 0)
    assert set(Camera.objects.values_list("owner_kind", "sharing", "stream_url")) == {("community", "on_request", "")}
    # 16 registrations are nowhere near New Orleans (Syracuse NY, Philadelphia, Marseille, Haiti...): geocoding
    # slips in the registry. The importer takes them, as it knows no service area; the service-area check is
    # what flags such rows. Counted here so that the day it does, this test says so.
    far = [c for c in Camera.objects.all() if not (29.5 < c.location.y < 30.5 and -91 < c.location.x < -89.5)]
    assert len(far) == 16


def test_gdot_geojson_null_streams_and_compass_headings(home):
    result = run(home, "gdot_georgia_live_traffic_cameras_minified.geojson", "gdot_traffic_cameras")
    assert (result.created, result.updated) == (3207, 0)
    assert reasons(result) == {("location", "no location: coordinates are 0,0"): 9}
    cameras = Camera.objects.filter(agency=home)
    assert cameras.exclude(stream_url="").count() == 1125  # the others' HLS is null
    assert Counter(cameras.values_list("heading", flat=True)) == {
        90.0: 1159 - _zero_island("E"),
        0.0: 944 - _zero_island("N"),
        180.0: 730 - _zero_island("S"),
        270.0: 380 - _zero_island("W"),
        225.0: 1,
        45.0: 1,
        135.0: 1,
    }
    bibb = cameras.get(external_id="cctv_6032")
    assert (bibb.name, bibb.heading, bibb.stream_kind) == ("I-475 S @ MM 12.1 (2 mi S of Estes Rd)", 180.0, "hls")
    assert bibb.stream_url == "http://vss5live.dot.ga.gov:80/lo/bibb-cam-036.stream/playlist.m3u8"


def _zero_island(direction: str) -> int:
    """How many of the file's cameras facing `direction` sit at 0,0 (counted from the file itself)."""
    import json

    data = json.loads(real_sample("cameras", "gdot_georgia_live_traffic_cameras_minified.geojson").read_text())
    return sum(
        1
        for feature in data["features"]
        if feature["properties"]["dir"] == direction and feature["geometry"]["coordinates"][:2] == [0, 0]
    )


def test_ga511_direction_of_travel_becomes_a_heading(home):
    result = run(home, "ga511_cameras_api_sample.json", "ga511_cameras")
    assert (result.created, len(result.rejected)) == (2, 0)
    westbound = Camera.objects.get(external_id="ALPH-CAM-002--1")
    unknown = Camera.objects.get(external_id="ALPH-CAM-003--1")
    assert (westbound.heading, unknown.heading) == (270.0, None)
    assert (westbound.active, westbound.stream_kind) == (True, "hls")


def test_tfl_jamcams_listing_has_no_coordinates_and_says_so(home, tmp_path):
    result = run(home, "tfl_jamcams_s3_ListBucketResult_camera-list.xml", "tfl_jamcams")
    assert (result.rows, result.accepted) == (1000, 0)
    assert reasons(result) == {
        ("location", "no location: the file has no lon/lat columns, geometry or wkt column"): 1000
    }
    assert any("no location for cameras" in warning for warning in result.warnings)
    assert not Camera.objects.exists()
    # The command fails, saying why, instead of crashing or importing nothing quietly.
    with pytest.raises(CommandError, match="rejected"):
        call_command(
            "import_layer",
            "cameras",
            str(real_sample("cameras", "tfl_jamcams_s3_ListBucketResult_camera-list.xml")),
            "--agency",
            home.code,
            "--mapping",
            str(MAPPINGS / "tfl_jamcams.json"),
            stdout=(out := io.StringIO()),
            stderr=(err := io.StringIO()),
        )
    assert "no location" in err.getvalue() + out.getvalue()
