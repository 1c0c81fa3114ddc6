"""Real CAD exports of other cities, imported as they are (../shared/data/formats/cad/, see its README.md).

Each test names what the file does to an importer: one row per responding unit (Dallas), block-masked
addresses with a separate geocode file (St. Louis), a row without coordinates (Milwaukee), a header row
geocoded as a feature and HTML in a property (Berkeley), an invalid UTF-8 byte (NOPD).
"""

from __future__ import annotations

import csv
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import CommandError, call_command

from apps.audit.models import AuditEvent
from apps.incidents.models import Incident
from apps.intake.readers import open_source
from apps.zones.models import Zone

from . import factories as f
from .real_samples import real_sample

pytestmark = pytest.mark.django_db

MAPPINGS = Path(__file__).resolve().parent.parent / "fixtures" / "mappings"


def run(command: str, *args: object) -> str:
    out = StringIO()
    call_command(command, *map(str, args), stdout=out, stderr=StringIO())
    return out.getvalue()


def import_cad(path: Path, mapping: str, agency: str, *extra: object, report: Path | None = None) -> str:
    args: list[object] = ["incidents", path, "--agency", agency, "--mapping", MAPPINGS / mapping, *extra]
    if report is not None:
        args += ["--report", report]
    return run("import_layer", *args)


def reasons(report: Path) -> list[str]:
    with open(report, newline="", encoding="utf-8") as handle:
        return [row["reason"] for row in csv.DictReader(handle)]


def square(lon: float, lat: float, size: float = 0.01) -> MultiPolygon:
    return MultiPolygon(
        Polygon(((lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat))), srid=4326
    )


# --- Dallas: one row per responding unit ---------------------------------------------------------------------------


def dallas_beats(agency, path: Path, *, leave_out: str = "") -> None:
    """A beat zone for each beat code in the export (placed side by side near Dallas: the test needs the
    codes, not Dallas' real beat shapes)."""
    with open(path, newline="") as handle:
        codes = sorted({row["beat"] for row in csv.DictReader(handle)} - {leave_out})
    for i, code in enumerate(codes):
        Zone.objects.create(agency=agency, kind="beat", code=code, name=code, geom=square(-96.9 + i * 0.02, 32.7))


def test_dallas_rows_of_one_call_make_one_incident_with_all_its_units(tmp_path):
    dpd = f.agency("DPD")
    path = real_sample("cad", "dallas_active_calls_are8-xahz.csv")
    dallas_beats(dpd, path)

    out = import_cad(path, "dallas_active_calls.json", "DPD")

    # 63 rows, 45 calls: the 18 extra rows each add a unit to a call already written.
    assert "incidents: 45 created, 18 updated, 0 unchanged, 0 rejected (of 63 rows)" in out
    assert Incident.objects.filter(agency=dpd).count() == 45
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    units: dict[str, set[str]] = {}
    for row in rows:
        units.setdefault(row["incident_number"], set()).add(row["unit_number"])
    busiest = max(units, key=lambda cad: len(units[cad]))
    incident = Incident.objects.get(agency=dpd, cad_number=busiest)
    assert set(incident.unit_call_signs) == units[busiest] and len(units[busiest]) > 1
    # No coordinates: placed on its beat, approximately; what no field took is kept.
    first = rows[0]
    call = Incident.objects.get(agency=dpd, cad_number=first["incident_number"])
    assert call.beat.code == first["beat"] and call.beat.geom.covers(call.location)
    assert call.location_approximate is True
    assert call.type_code == first["nature_of_call"] and call.status == "on_scene"
    assert call.attributes == {
        "block": first["block"],
        "division": first["division"],
        "reporting_area": first["reporting_area"],
    }

    # The same export again changes nothing and says so.
    again = import_cad(path, "dallas_active_calls.json", "DPD")
    assert "incidents: 0 created, 0 updated, 63 unchanged, 0 rejected (of 63 rows)" in again
    assert Incident.objects.filter(agency=dpd).count() == 45


def test_dallas_call_on_an_unknown_beat_is_rejected_with_the_beat_named(tmp_path):
    dpd = f.agency("DPD")
    path = real_sample("cad", "dallas_active_calls_are8-xahz.csv")
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    missing = rows[0]["beat"]
    dallas_beats(dpd, path, leave_out=missing)
    report = tmp_path / "rejected.csv"

    out = import_cad(path, "dallas_active_calls.json", "DPD", report=report)

    lost = [row for row in rows if row["beat"] == missing]
    assert f"{len(lost)} rejected (of 63 rows)" in out
    assert set(reasons(report)) == {
        f"no location: no coordinates, and beat {missing!r} is not one of the agency's beats"
    }
    assert not Incident.objects.filter(cad_number__in=[row["incident_number"] for row in lost]).exists()


# --- St. Louis: block-masked addresses, coordinates in a separate file ------------------------------------------------


def test_stlouis_without_its_geocode_file_is_refused_for_want_of_a_location():
    f.agency("SLMPD")
    with pytest.raises(CommandError, match="lng"):
        import_cad(real_sample("cad", "stlouis_cfsraw.csv"), "stlouis_cfs.json", "SLMPD")
    assert not Incident.objects.exists()


def test_stlouis_joined_with_its_geocode_file_imports_block_level_calls(tmp_path):
    slmpd = f.agency("SLMPD")
    joined = tmp_path / "cfs.csv"
    said = run(
        "join_csv",
        real_sample("cad", "stlouis_cfsraw.csv"),
        real_sample("cad", "stlouis_cfs_location_geocoded.csv"),
        "--on",
        "location",
        "--out",
        joined,
    )
    assert "56 rows written" in said and "21 without a match" in said
    report = tmp_path / "rejected.csv"

    out = import_cad(joined, "stlouis_cfs.json", "SLMPD", report=report)

    assert "incidents: 35 created, 0 updated, 0 unchanged, 21 rejected (of 56 rows)" in out
    assert set(reasons(report)) == {"no location: lon/lat are empty"}
    bates = Incident.objects.get(agency=slmpd, cad_number="P2007280856")
    assert bates.address == "11XX BATES ST" and bates.location_approximate is True
    assert round(bates.location.y, 4) == 38.5680 and round(bates.location.x, 4) == -90.2533
    assert bates.attributes == {"ward": "Ward 13", "neighborhood": "Carondelet", "zipcode": "63116"}


def test_block_masked_address_alone_marks_the_location_approximate(tmp_path):
    """Without the mapping's constant, "11XX BATES ST" is still recognised as a block, not a door."""
    f.agency("SLMPD")
    data = tmp_path / "cfs.csv"
    data.write_text(
        "id,location,description,eventtime,lat,lng\n"
        "P1,11XX BATES ST,Disturbance,2021-01-28 20:24:14,38.5679953,-90.2533354\n"
        "P2,4100 BATES ST,Disturbance,2021-01-28 20:24:14,38.5739312,-90.2649568\n"
        "P3,XX S EUCLID AVE,Sick Case,2021-01-28 20:24:14,38.64,-90.26\n"
    )

    run(
        "import_layer", "incidents", data, "--agency", "SLMPD", "--mapping", MAPPINGS / "stlouis_cfs.json",
        "--set", "location_approximate=false",
    )  # fmt: skip

    approximate = dict(Incident.objects.values_list("cad_number", "location_approximate"))
    assert approximate == {"P1": True, "P2": False, "P3": True}


# --- Milwaukee: one row without coordinates -------------------------------------------------------------------------


def test_milwaukee_row_without_coordinates_is_rejected_and_the_rest_kept(tmp_path):
    mpd = f.agency("MPD")
    report = tmp_path / "rejected.csv"

    out = import_cad(
        real_sample("cad", "milwaukee_mke_calls_first2000.csv"), "milwaukee_calls.json", "MPD", report=report
    )

    assert "incidents: 1999 created, 0 updated, 0 unchanged, 1 rejected (of 2000 rows)" in out
    with open(report, newline="", encoding="utf-8") as handle:
        (rejected,) = list(csv.DictReader(handle))
    assert rejected["reason"] == "no location: lon/lat are empty" and rejected["raw"].startswith("1212324,")
    call = Incident.objects.get(agency=mpd, cad_number="1211372")
    assert call.disposition == "Unable to Locate Complainant" and call.type_code == "TRBL W/SUBJ"
    assert call.attributes == {"district": "4"} and call.location_approximate is False


# --- Berkeley: CSV without coordinates, GeoJSON with the header row as a feature -----------------------------------


def test_berkeley_csv_without_coordinates_is_refused_and_nothing_is_written():
    # Read, and every row rejected "no location" (the intake pipeline reads a file without location columns
    # so that the operator hears it per row, as for TfL's camera listing); the command fails, nothing stays.
    f.agency("BPD")
    with pytest.raises(CommandError, match=r"every row was rejected \(190 of 190\)"):
        import_cad(real_sample("cad", "berkeley_pd_calls_07072014.csv"), "berkeley_calls_csv.json", "BPD")
    assert not Incident.objects.exists()  # (the attempt itself is audited, as every import is)


def test_berkeley_geojson_rejects_the_geocoded_header_and_keeps_html_as_text(tmp_path, operator_client, home):
    report = tmp_path / "rejected.csv"
    path = real_sample("cad", "berkeley_pd_calls_20140707.geojson")

    out = import_cad(path, "berkeley_calls_geojson.json", home.code, report=report)

    assert "incidents: 190 created, 0 updated, 0 unchanged, 1 rejected (of 191 rows)" in out
    (reason,) = reasons(report)
    assert reason.startswith("received_at 'Date-Time' is not a valid date/time")
    call = Incident.objects.get(cad_number="2014-00039436")
    assert call.type_code.startswith("<a href='http://www.ci.berkeley.ca.us/") and call.type_code.endswith(
        "1194B</a> (Bicycle stop)"
    )
    assert call.attributes == {"time": "00:06:12"}
    # The API hands the markup over as the text it is (the map sets it with textContent).
    body = operator_client.get(f"/api/incidents/{call.pk}/").json()
    assert body["properties"]["type_code"] == call.type_code
    assert body["properties"]["location_approximate"] is True
    assert body["properties"]["attributes"] == {"time": "00:06:12"}


# --- NOPD: an invalid UTF-8 byte ------------------------------------------------------------------------------------


NOPD = "new_orleans_rtcc_footage_requests_item_signal_2018-2022.csv"


def test_nopd_invalid_utf8_byte_costs_only_its_row():
    with open_source(path=real_sample("cad", NOPD), fmt=None, delimiter=None, json_path=None) as opened:
        records = list(opened.records)
    assert len(records) == 18141
    (bad,) = [record for record in records if record.problem]
    assert bad.line == 5082
    assert bad.problem.startswith("item_number: not valid utf-8-sig text (invalid continuation byte at byte ")


def test_nopd_log_is_refused_as_incidents_it_has_no_time_or_place():
    f.agency("NOPD")
    with pytest.raises(CommandError, match="received_at is required"):
        import_cad(real_sample("cad", NOPD), "nopd_rtcc_footage_requests.json", "NOPD")


def test_nopd_log_with_a_time_and_place_given_imports_all_but_the_bad_byte_row(tmp_path):
    """Given a time and a place on the command line, every row goes through the importer: the row with
    the invalid byte is rejected with its reason, the report is valid UTF-8, duplicates are unchanged."""
    nopd = f.agency("NOPD")
    Zone.objects.create(agency=nopd, kind="beat", code="CITY", name="New Orleans", geom=square(-90.1, 29.9, 0.1))
    report = tmp_path / "rejected.csv"

    out = import_cad(
        real_sample("cad", NOPD), "nopd_rtcc_footage_requests.json", "NOPD",
        "--set", "received_at=2022-03-29T00:00:00-05:00", "--set", "beat_code=CITY",
        report=report,
    )  # fmt: skip

    distinct = Incident.objects.count()
    assert f"incidents: {distinct} created, " in out and "1 rejected (of 18141 rows)" in out
    with open(report, newline="", encoding="utf-8") as handle:
        (rejected,) = list(csv.DictReader(handle))
    assert rejected["line"] == "5082" and rejected["raw"] == "J-33268-19\ufffd,18"
    event = AuditEvent.objects.get()
    assert event.detail["created"] + event.detail["updated"] + event.detail["unchanged"] == 18140
    assert event.detail["unchanged"] > 0  # the log lists some items twice


# --- SPD Call Data as published now: long call types, the call source, blurred coordinates -------------------------

# Six rows of SPD's current Call Data export (data.seattle.gov dataset 33kz-ixgy, City of Seattle, public
# domain), verbatim as found in aspencoyle/dennyblaine_analysis police_reports/data/db_call_data.csv
# (commit 3727be8f): a 48-character final call type, a 49-character initial one, the quoted
# "TELEPHONE OTHER, NOT 911" source, an alarm call, an on-view stop, an empty arrival time.
SPD_CALL_DATA = """\
CAD Event Number,Event Clearance Description,Call Type,Priority,Initial Call Type,Final Call Type,\
Original Time Queued,Arrived Time,Precinct,Sector,Beat,Blurred_Longitude,Blurred_Latitude
2023000184092,REPORT WRITTEN (NO ARREST),911,1,"OBS - DOA - CASUALTY, DEAD BODY",\
--CASUALTY NON-TRAF NON-CRIM - DRUG RELATED (OD),07/01/2023 8:49:41 AM,07/01/2023 8:55:35 AM,EAST,CHARLIE,C3,\
-122.2826444,47.61703071
2020000088332,FALSE COMPLAINT/UNFOUNDED,911,1,UNKNOWN - ANI/ALI - LANDLINE (INCLUDES OPEN LINE),\
--ALARM-RESIDENTIAL PANIC OR DURESS,03/10/2020 7:13:59 PM,03/10/2020 7:25:01 PM,EAST,CHARLIE,C3,\
-122.2826444,47.61703071
2018000290319,ASSISTANCE RENDERED,"TELEPHONE OTHER, NOT 911",5,TRU - MVC - HIT AND RUN,\
--TRAFFIC - MV COLLISION INVESTIGATION,08/05/2018 7:00:36 PM,08/05/2018 7:36:43 PM,EAST,CHARLIE,C3,\
-122.2811368,47.61705036
2018000255841,FALSE COMPLAINT/UNFOUNDED,ALARM CALL (NOT POLICE ALARM),3,\
"ALARM - RESIDENTIAL - BURGLARY, SILENT/AUDIBLE",--ALARM-RESIDENTIAL BURG,07/12/2018 11:43:53 AM,\
07/12/2018 12:52:47 PM,EAST,CHARLIE,C3,-122.2811368,47.61705036
2023000366170,ORAL WARNING GIVEN,ONVIEW,7,TRAFFIC STOP - OFFICER INITIATED ONVIEW,--TRAFFIC - MOVING VIOLATION,\
12/21/2023 6:15:36 PM,12/21/2023 6:15:36 PM,EAST,CHARLIE,C3,-122.2891759,47.61763948
2020000209411,ASSISTANCE RENDERED,911,2,"SUSPICIOUS PERSON, VEHICLE, OR INCIDENT",\
--SUSPICIOUS CIRCUM. - SUSPICIOUS PERSON,07/09/2020 11:10:31 PM,,EAST,CHARLIE,C3,-122.2816141,47.6176553
"""


def test_spd_call_data_keeps_long_call_types_call_source_and_blurred_locations(home, tmp_path):
    path = tmp_path / "call_data.csv"
    path.write_text(SPD_CALL_DATA)

    out = import_cad(path, "spd_call_data.json", home.code)

    assert "incidents: 6 created, 0 updated, 0 unchanged, 0 rejected (of 6 rows)" in out
    overdose = Incident.objects.get(cad_number="2023000184092")
    assert overdose.type_code == "--CASUALTY NON-TRAF NON-CRIM - DRUG RELATED (OD)"  # 48 characters
    assert overdose.disposition == "REPORT WRITTEN (NO ARREST)" and overdose.location_approximate is True
    assert overdose.attributes == {"Precinct": "EAST", "Sector": "CHARLIE", "Beat": "C3"}
    assert Incident.objects.get(cad_number="2020000088332").type_description == (
        "UNKNOWN - ANI/ALI - LANDLINE (INCLUDES OPEN LINE)"
    )
    sources = dict(Incident.objects.values_list("cad_number", "call_source"))
    assert sources == {
        "2023000184092": "911",
        "2020000088332": "911",
        "2018000290319": "phone",
        "2018000255841": "alarm",
        "2023000366170": "onview",
        "2020000209411": "911",
    }
    assert Incident.objects.get(cad_number="2020000209411").on_scene_at is None


def test_spd_call_source_the_mapping_does_not_know_rejects_its_row_with_the_reason(home, tmp_path):
    path = tmp_path / "call_data.csv"
    path.write_text(SPD_CALL_DATA.replace("ONVIEW,7,", "CARRIER PIGEON,7,"))
    report = tmp_path / "rejected.csv"

    out = import_cad(path, "spd_call_data.json", home.code, report=report)

    assert "5 created, 0 updated, 0 unchanged, 1 rejected (of 6 rows)" in out
    assert reasons(report) == ["call_source 'CARRIER PIGEON' has no translation in the mapping's values.call_source"]


def test_join_csv_refuses_a_key_column_one_file_lacks(tmp_path):
    data, lookup = tmp_path / "data.csv", tmp_path / "lookup.csv"
    data.write_text("id,location\nP1,11XX BATES ST\n")
    lookup.write_text("place,lat,lng\n11XX BATES ST,38.56,-90.25\n")
    with pytest.raises(CommandError, match="lookup.csv has no column 'location'; columns are place, lat, lng"):
        run("join_csv", data, lookup, "--on", "location", "--out", tmp_path / "out.csv")
    assert not (tmp_path / "out.csv").exists()
