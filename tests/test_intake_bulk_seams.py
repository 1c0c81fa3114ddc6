"""Where the merged importer's pieces meet: the bulk incident writer, the service-area flag, per-row
rejections with their field, --max-errors, --dry-run, and the unchanged count of each layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.incidents.models import Incident
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec

from . import factories as f

pytestmark = pytest.mark.django_db

HEADER = "cad_number,type_code,received_at,lon,lat,units,beat_code"
FAR = (f.LON + 0.6, f.LAT)  # ~45 km east of the one beat: outside the service area
LONG_SIGN = "U" * 70  # longer than a unit call sign may be: refused by the bulk writer


@pytest.fixture
def seattle(home):
    f.zone(agency=home, code="M1")
    return home


def _calls(tmp_path: Path, *rows: tuple[str, ...]) -> Path:
    path = tmp_path / "calls.csv"
    path.write_text("\n".join([HEADER, *(",".join(r) for r in rows)]) + "\n", encoding="utf-8")
    return path


def _row(cad: str, lon: float = f.LON, lat: float = f.LAT, units: str = "", beat: str = "") -> tuple[str, ...]:
    return (
        cad,
        "DIST",
        "2024-05-01T12:00:00Z",
        str(lon) if lon is not None else "",
        str(lat) if lat is not None else "",
        units,
        beat,
    )


def test_a_flagged_row_the_bulk_writer_refuses_is_rejected_not_also_flagged(seattle, tmp_path):
    path = _calls(tmp_path, _row("C1"), _row("C2", *FAR), _row("C3", *FAR, units=LONG_SIGN))
    result = import_layer(layer="incidents", path=path, agency=seattle, spec=MappingSpec(), outside_area="flag")
    assert result.created == 2
    assert [(r.line, r.field) for r in result.rejected] == [(4, "units")]
    assert [r.line for r in result.flagged] == [3]  # C3 was not imported: not "imported with a flag"
    assert "1 rejected" in result.summary() and "1 flagged" in result.summary()
    # The flag is on the incident too, as it is on gunshots and ALPR sites, not only in this run's report.
    assert Incident.objects.get(cad_number="C2").attributes["service_area"].startswith("outside service area by")
    assert "service_area" not in Incident.objects.get(cad_number="C1").attributes


def test_bulk_writer_rejections_name_their_field(seattle, tmp_path):
    path = _calls(tmp_path, _row("C1", None, None), _row("C2", None, None, beat="NOPE"), _row("C3", units=LONG_SIGN))
    result = import_layer(layer="incidents", path=path, agency=seattle, spec=MappingSpec())
    assert [(r.line, r.field) for r in result.rejected] == [(2, "location"), (3, "beat_code"), (4, "units")]


def test_max_errors_with_the_bulk_writer_says_what_it_did(seattle, tmp_path):
    # The bulk writer refuses rows when it writes its chunk: a small file is read whole, its good rows
    # imported, and the summary must not claim that the rest was not read.
    path = _calls(tmp_path, _row("C1", units=LONG_SIGN), _row("C2"), _row("C3", units=LONG_SIGN), _row("C4"))
    result = import_layer(layer="incidents", path=path, agency=seattle, spec=MappingSpec(), max_errors=1)
    assert result.rows == 4 and result.created == 2 and len(result.rejected) == 2
    assert not result.stopped_early and "not read" not in result.summary()

    # A row the converter refuses still stops the read where it is; the rows read before are imported.
    bad = _row("C9")[:2] + ("yesterday-ish",) + _row("C9")[3:]
    path = _calls(tmp_path, _row("C5"), bad, _row("C6"))
    result = import_layer(layer="incidents", path=path, agency=seattle, spec=MappingSpec(), max_errors=1)
    assert result.stopped_early and result.rows == 2 and result.created == 1
    assert set(Incident.objects.values_list("cad_number", flat=True)) == {"C2", "C4", "C5"}


def test_dry_run_through_the_bulk_writer_counts_and_writes_nothing(seattle, tmp_path):
    path = _calls(tmp_path, _row("C1"), _row("C2", *FAR), _row("C3", units=LONG_SIGN))
    result = import_layer(
        layer="incidents", path=path, agency=seattle, spec=MappingSpec(), dry_run=True, outside_area="flag"
    )
    assert (result.created, len(result.rejected), len(result.flagged)) == (2, 1, 1)
    assert not Incident.objects.exists()


def test_layers_that_cannot_tell_unchanged_from_updated_do_not_claim_zero_unchanged(seattle, tmp_path):
    path = tmp_path / "cams.csv"
    path.write_text(f"name,external_id,lon,lat\nNorth,C1,{f.LON},{f.LAT}\n", encoding="utf-8")
    import_layer(layer="cameras", path=path, agency=seattle, spec=MappingSpec())
    again = import_layer(layer="cameras", path=path, agency=seattle, spec=MappingSpec())
    assert again.updated == 1 and again.unchanged is None
    assert "1 updated or unchanged" in again.summary() and "0 unchanged" not in again.summary()
    assert again.detail()["unchanged"] is None

    calls = _calls(tmp_path, _row("C1"))
    import_layer(layer="incidents", path=calls, agency=seattle, spec=MappingSpec())
    again = import_layer(layer="incidents", path=calls, agency=seattle, spec=MappingSpec())
    assert (again.updated, again.unchanged) == (0, 1) and "0 updated, 1 unchanged" in again.summary()


def test_a_service_refusal_names_its_field_in_the_report(seattle, tmp_path):
    path = tmp_path / "sites.csv"
    path.write_text(
        f"external_id,direction,lon,lat\nnode/1,Flock Raven,{f.LON},{f.LAT}\nnode/2,45;225,{f.LON},{f.LAT}\n",
        encoding="utf-8",
    )
    result = import_layer(layer="alpr_sites", path=path, agency=seattle, spec=MappingSpec())
    assert result.created == 1
    assert [(r.line, r.field) for r in result.rejected] == [(2, "direction")]
    assert result.rejected[0].reason.startswith("direction 'Flock Raven'")


def test_a_live_cad_push_places_a_beat_code_row_on_its_beat_and_refuses_an_unknown_beat(seattle):
    # The incidents mapping lets a row without coordinates through when it has a beat_code; the live feed
    # uses the same mapping (it once crashed on the missing point): the call is placed on its beat, marked
    # approximate, as a file import does, and a beat the agency lacks refuses that row alone.
    from apps.feeds.models import FeedSource
    from apps.feeds.services import feed_ingest

    fields = {"cad_number": "cad", "type_code": "type", "received_at": "at", "beat_code": "beat"}
    source = FeedSource.objects.create(
        agency=seattle, name="cad", kind="cad_csv", params={"mapping": {"fields": fields}}
    )
    body = (
        "cad,type,at,lon,lat,beat\nA1,DIST,2024-05-01T12:00:00Z,,,M1\n"
        f"A2,DIST,2024-05-01T12:00:00Z,{f.LON},{f.LAT},\nA3,DIST,2024-05-01T12:00:00Z,,,Z9\n"
    )
    report = feed_ingest(source_id=source.pk, payload=body.encode()).as_dict()
    assert report["accepted"] == 2
    assert len(report["rejections"]) == 1 and "Z9" in report["rejections"][0]["reason"]
    placed = Incident.objects.get(cad_number="A1")
    assert placed.location_approximate and placed.beat is not None and placed.beat.code == "M1"
    assert sorted(Incident.objects.values_list("cad_number", flat=True)) == ["A1", "A2"]


def test_join_csv_reads_headers_with_spaces_and_short_lookup_rows(tmp_path):
    # Real exports pad their header names ("id, location"); the key column and every data column must still
    # be found and written, and a lookup row cut short must not stop the join.
    from io import StringIO

    from django.core.management import CommandError, call_command

    data, lookup, out = tmp_path / "data.csv", tmp_path / "lookup.csv", tmp_path / "out.csv"
    data.write_text("id, location\nP1,11XX BATES ST\nP2,0XX MAIN ST\n", encoding="utf-8")
    lookup.write_text("location ,lat,lng\n11XX BATES ST,38.56,-90.25\n\n", encoding="utf-8")
    lookup.write_text(lookup.read_text() + "ORPHAN\n", encoding="utf-8")
    call_command("join_csv", str(data), str(lookup), "--on", "location", "--out", str(out), stdout=StringIO())
    assert out.read_text(encoding="utf-8").splitlines() == [
        "id,location,lat,lng",
        "P1,11XX BATES ST,38.56,-90.25",
        "P2,0XX MAIN ST,,",
    ]
    with pytest.raises(CommandError, match="cannot write"):
        call_command(
            "join_csv", str(data), str(lookup), "--on", "location", "--out", str(tmp_path / "no" / "o.csv"),
            stdout=StringIO(),
        )  # fmt: skip


def _kml_polygon(x: float, y: float) -> str:
    ring = " ".join(
        f"{lon},{lat},0" for lon, lat in ((x, y), (x + 0.01, y), (x + 0.01, y + 0.01), (x, y + 0.01), (x, y))
    )
    coordinates = f"<LinearRing><coordinates>{ring}</coordinates></LinearRing>"
    return f"<Polygon><outerBoundaryIs>{coordinates}</outerBoundaryIs></Polygon>"


def test_kml_zone_keeps_every_polygon_of_a_multigeometry_and_skips_its_label_point(home, tmp_path):
    from apps.zones.models import Zone

    x, y = f.LON, f.LAT
    path = tmp_path / "beats.kml"
    path.write_text(
        '<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        f"<Placemark><name>B1</name><MultiGeometry>{_kml_polygon(x, y)}{_kml_polygon(x + 0.05, y)}"
        "</MultiGeometry></Placemark>"
        f"<Placemark><name>B2</name><MultiGeometry><Point><coordinates>{x},{y + 0.1}</coordinates></Point>"
        f"{_kml_polygon(x, y + 0.1)}</MultiGeometry></Placemark>"
        "</Document></kml>",
        encoding="utf-8",
    )
    spec = MappingSpec(fields={"code": ("name",)}, constants={"kind": "beat"})
    result = import_layer(layer="zones", path=path, agency=home, spec=spec)
    assert (result.created, result.rejected) == (2, [])
    assert len(Zone.objects.get(code="B1").geom) == 2  # both islands, not only the first
    assert len(Zone.objects.get(code="B2").geom) == 1


def test_a_header_line_the_encoding_cannot_read_is_refused_with_the_reason_not_the_bytes():
    # The message used to carry the undecodable line itself (bytes kept as lone surrogates): a feed push
    # storing it as its last error failed with a 500 (UnicodeEncodeError) instead of a 400.
    from apps.intake.errors import ImportFileError
    from apps.intake.readers import open_source

    with pytest.raises(ImportFileError) as caught, open_source(data=b"cad\x80number,type\nA,B\n", fmt="csv"):
        pass
    message = str(caught.value)
    message.encode("utf-8")  # no lone surrogates
    assert message.startswith("payload: the header line is not valid utf-8-sig text (invalid start byte")


def test_max_errors_stops_at_the_chunk_whose_writer_refused_rows(seattle, tmp_path, monkeypatch):
    from apps.intake import importer

    monkeypatch.setattr(importer, "CHUNK_ROWS", 2)
    rows = [_row("C1", units=LONG_SIGN), *(_row(f"C{n}") for n in range(2, 8))]
    result = import_layer(
        layer="incidents", path=_calls(tmp_path, *rows), agency=seattle, spec=MappingSpec(), max_errors=1
    )
    # The first chunk (C1 refused, C2 written) reached the limit: the rest of the file was not read.
    assert result.stopped_early and "the rest was not read" in result.summary()
    assert (result.rows, result.created, len(result.rejected)) == (2, 1, 1)
    assert list(Incident.objects.values_list("cad_number", flat=True)) == ["C2"]
