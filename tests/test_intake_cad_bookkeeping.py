"""Incident bookkeeping: beats that arrive after the incidents, unchanged rows counted as unchanged, a bad
row in a bulk chunk losing only itself, and one live resync for a bulk import instead of an event per row."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

import pytest
from channels.db import database_sync_to_async
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.core.geo import make_point
from apps.feeds.models import FeedSource
from apps.incidents.bulk import LIVE_ROWS_MAX, incident_bulk_upsert
from apps.incidents.locations import address_is_masked
from apps.incidents.models import Incident
from apps.intake.specs import LAYERS
from apps.zones.models import Zone
from apps.zones.services import zone_upsert

from . import factories as f
from .live_support import drain, headers_for, live_test, subscribe

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def box(lon: float, lat: float, size: float = 0.01) -> Polygon:
    return Polygon(((lon, lat), (lon + size, lat), (lon + size, lat + size), (lon, lat + size), (lon, lat)), srid=4326)


def row(cad: str, lon: float, lat: float, **kw) -> dict:
    return {"cad_number": cad, "type_code": "DIST", "location": make_point(lon, lat), "received_at": AT, **kw}


# --- beats that come after the incidents ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_loading_a_beat_gives_it_to_the_incidents_inside_that_have_none(home, other_agency):
    inside = f.incident(agency=home, lon=-122.335, lat=47.605)
    outside = f.incident(agency=home, lon=-122.2, lat=47.7)
    old_beat = f.zone(agency=home, code="OLD", bbox=(-122.34, 47.60, -122.33, 47.61))
    kept = f.incident(agency=home, lon=-122.335, lat=47.605, beat=old_beat)
    partner = f.incident(agency=other_agency, lon=-122.335, lat=47.605)
    assert inside.beat is None

    beat, _ = zone_upsert(agency_id=home.pk, kind="beat", code="K2", geom=box(-122.34, 47.60))

    got = dict(Incident.objects.values_list("pk", "beat_id"))
    assert got[inside.pk] == beat.pk
    assert got[outside.pk] is None
    assert got[kept.pk] == old_beat.pk  # a beat it has is the recompute command's business
    assert got[partner.pk] is None  # another agency's beat map is not ours


@pytest.mark.django_db
def test_a_district_is_not_a_beat(home):
    inside = f.incident(agency=home, lon=-122.335, lat=47.605)
    zone_upsert(agency_id=home.pk, kind="district", code="W", geom=box(-122.34, 47.60))
    inside.refresh_from_db()
    assert inside.beat is None


@pytest.mark.django_db
def test_recompute_beats_follows_redrawn_beats(home):
    moved = f.incident(agency=home, lon=-122.335, lat=47.605)
    beat_a, _ = zone_upsert(agency_id=home.pk, kind="beat", code="A", geom=box(-122.34, 47.60))
    beat_b, _ = zone_upsert(agency_id=home.pk, kind="beat", code="B", geom=box(-122.50, 47.50))
    moved.refresh_from_db()
    assert moved.beat_id == beat_a.pk
    # Beats redrawn: A no longer covers the incident, B now does.
    Zone.objects.filter(pk=beat_a.pk).update(geom=MultiPolygon(box(-122.60, 47.40), srid=4326))
    Zone.objects.filter(pk=beat_b.pk).update(geom=MultiPolygon(box(-122.34, 47.60), srid=4326))
    out = StringIO()

    call_command("recompute_beats", "--agency", home.code, stdout=out)

    moved.refresh_from_db()
    assert moved.beat_id == beat_b.pk
    assert f"{home.code}: 1 incidents changed beat" in out.getvalue()
    assert AuditEvent.objects.filter(detail__operation="recompute_beats").count() == 1
    with pytest.raises(CommandError, match="unknown agency"):
        call_command("recompute_beats", "--agency", "NOPE", stdout=StringIO())


# --- bulk writes -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_bulk_upsert_counts_created_updated_unchanged_and_finds_beats_in_sql(home):
    beat = f.zone(agency=home, code="K2", bbox=(-122.34, 47.60, -122.33, 47.61))
    rows = [row("A", -122.335, 47.605), row("B", -122.2, 47.7, address="11XX BATES ST")]

    first = incident_bulk_upsert(agency_id=home.pk, rows=rows, source="test")
    second = incident_bulk_upsert(agency_id=home.pk, rows=[rows[0], {**rows[1], "priority": 1}], source="test")

    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    assert (second.created, second.updated, second.unchanged) == (0, 1, 1)
    a, b = Incident.objects.get(cad_number="A"), Incident.objects.get(cad_number="B")
    assert a.beat_id == beat.pk and b.beat_id is None
    assert b.priority == 1 and b.location_approximate is True and a.location_approximate is False
    assert second.changed_ids == [b.pk]


@pytest.mark.django_db
def test_bulk_attributes_and_units_grow_and_are_never_forgotten(home, other_agency):
    f.unit(agency=home, call_sign="M12")
    f.unit(agency=other_agency, call_sign="E5")  # another agency's E5 is not ours
    incident_bulk_upsert(
        agency_id=home.pk, rows=[row("A", -122.3, 47.6, units="E5", attributes={"district": "4"})], source="t"
    )
    again = incident_bulk_upsert(
        agency_id=home.pk, rows=[row("A", -122.3, 47.6, units="M12; E5", attributes={"ward": "13"})], source="t"
    )
    same = incident_bulk_upsert(agency_id=home.pk, rows=[row("A", -122.3, 47.6, units="E5")], source="t")

    incident = Incident.objects.get()
    assert incident.unit_call_signs == ["E5", "M12"]
    assert [u.call_sign for u in incident.assigned_units.all()] == ["M12"]  # the one the agency has
    assert incident.attributes == {"district": "4", "ward": "13"}
    assert (again.updated, same.unchanged) == (1, 1)


@pytest.mark.django_db
def test_a_row_the_database_refuses_loses_only_itself(home):
    rows = [row(f"C{i}", -122.3, 47.6) for i in range(5)]
    rows[2]["type_description"] = "NUL \x00 byte"  # PostgreSQL text cannot hold it

    outcome = incident_bulk_upsert(agency_id=home.pk, rows=rows, source="t")

    assert outcome.created == 4 and list(outcome.rejected) == [2]
    assert outcome.rejected[2].reason.startswith("refused by the database")
    assert set(Incident.objects.values_list("cad_number", flat=True)) == {"C0", "C1", "C3", "C4"}


@pytest.mark.django_db
def test_bulk_rejects_bad_values_with_the_field_named(home):
    rows = [
        row("A", -122.3, 47.6, status="enroute"),
        row("B", -122.3, 47.6, call_source="pigeon"),
        {**row("C", 0, 0), "location": None},
        row("D", -122.3, 47.6),
    ]
    outcome = incident_bulk_upsert(agency_id=home.pk, rows=rows, source="t")
    assert outcome.rejected[0].reason.startswith("status must be one of") and outcome.rejected[0].field == "status"
    assert outcome.rejected[1].reason.startswith("call_source must be one of")
    assert outcome.rejected[2] == ("no location: no coordinates and no beat", "location")
    assert outcome.created == 1


def test_masked_addresses_are_recognised():
    for masked in ("11XX BATES ST", "XX S EUCLID AVE", "1200 BLOCK OF MAIN ST", "12## PINE", "BLK 300 PIKE ST"):
        assert address_is_masked(masked), masked
    for door in ("1100 BATES ST", "N BROADWAY / PINE ST", "XAVIER ST", "", "1X MAIN ST"):
        assert not address_is_masked(door), door


# --- feeds: the ingest reply says what incident records did ---------------------------------------------------------


@pytest.mark.django_db
def test_feed_ingest_reply_counts_incidents_created_updated_unchanged(home):
    source = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    token = source.issue_token()
    client = APIClient()

    def push(records: list[dict]) -> dict:
        response = client.post(
            "/api/feeds/push/", data=json.dumps(records), content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )  # fmt: skip
        assert response.status_code == 200, response.content
        return response.json()["incidents"]

    def cad(number: str, priority: int) -> dict:
        return {"cad_number": number, "type_code": "ROBB", "priority": priority, "lon": f.LON, "lat": f.LAT,
                "received_at": "2024-05-01T12:00:00Z"}  # fmt: skip

    assert push([cad("C1", 2), cad("C2", 2)]) == {"created": 2, "updated": 0, "unchanged": 0}
    assert push([cad("C1", 2), cad("C2", 1)]) == {"created": 0, "updated": 1, "unchanged": 1}
    # A live CAD feed's block-masked address marks the location approximate too.
    assert push([{**cad("C3", 2), "address": "11XX BATES ST"}])["created"] == 1
    assert Incident.objects.get(cad_number="C3").location_approximate is True
    assert Incident.objects.get(cad_number="C1").location_approximate is False


# --- live: one resync for a bulk import ------------------------------------------------------------------------------


def write_csv(path: Path, count: int) -> Path:
    lines = ["cad,type,lon,lat,at"]
    start = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for i in range(count):
        at = (start + timedelta(minutes=i)).isoformat()
        lines.append(f"B-{i},DIST,{f.LON + (i % 50) * 0.0001},{f.LAT},{at}")
    path.write_text("\n".join(lines) + "\n")
    return path


@database_sync_to_async
def import_rows(path: Path, agency_code: str) -> str:
    out = StringIO()
    call_command(
        "import_layer", "incidents", str(path), "--agency", agency_code,
        "--map", "cad_number=cad", "--map", "type_code=type", "--map", "received_at=at", stdout=out,
    )  # fmt: skip
    return out.getvalue()


@live_test
async def test_bulk_import_reaches_the_map_as_one_resync(ws, home, operator, tmp_path):
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    subscribed = await subscribe(comm, layers=["incidents"])

    out = await import_rows(write_csv(tmp_path / "big.csv", LIVE_ROWS_MAX + 30), home.code)

    assert f"{LIVE_ROWS_MAX + 30} created" in out
    got = await drain(comm)
    assert got == [{"type": "resync", "reason": "bulk_import", "seq": subscribed["seq"] + 1}]


@live_test
async def test_small_import_still_publishes_each_incident(ws, home, operator, tmp_path):
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    await subscribe(comm, layers=["incidents"])

    await import_rows(write_csv(tmp_path / "small.csv", 3), home.code)

    got = await drain(comm)
    assert [m["type"] for m in got] == ["feature.upserted"] * 3
    assert sorted(m["feature"]["properties"]["cad_number"] for m in got) == ["B-0", "B-1", "B-2"]


@live_test
async def test_bulk_import_of_another_agency_sends_no_resync(ws, home, operator, other_agency, tmp_path):
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    await subscribe(comm, layers=["incidents"])

    await import_rows(write_csv(tmp_path / "big.csv", LIVE_ROWS_MAX + 1), other_agency.code)

    assert await drain(comm) == []


# --- the importer reads ahead in a thread while the database writes ---------------------------------------------------


@pytest.mark.django_db
def test_a_file_unreadable_half_way_rolls_back_every_chunk_already_written(home, tmp_path):
    plain = write_csv(tmp_path / "calls.csv", 3000)
    whole = gzip.compress(plain.read_bytes())
    broken = tmp_path / "calls.csv.gz"
    broken.write_bytes(whole[: len(whole) * 2 // 3])  # a download cut off: more than one chunk is readable

    with pytest.raises(CommandError, match="cannot read past line"):
        call_command(
            "import_layer", "incidents", str(broken), "--agency", home.code,
            "--map", "cad_number=cad", "--map", "type_code=type", "--map", "received_at=at", stdout=StringIO(),
        )  # fmt: skip

    assert not Incident.objects.exists() and not AuditEvent.objects.exists()


@pytest.mark.django_db
def test_max_errors_stops_the_read_ahead_and_keeps_the_rows_before(home, tmp_path):
    path = write_csv(tmp_path / "calls.csv", 3000)
    lines = path.read_text().splitlines()
    lines[1500:] = [line.replace(",DIST,", ",,") for line in lines[1500:]]  # no type from row 1500 on
    path.write_text("\n".join(lines) + "\n")
    out = StringIO()

    call_command(
        "import_layer", "incidents", str(path), "--agency", home.code, "--max-errors", "3",
        "--map", "cad_number=cad", "--map", "type_code=type", "--map", "received_at=at", stdout=out,
    )  # fmt: skip

    assert "1499 created, 0 updated, 0 unchanged, 3 rejected (of 1502 rows)" in out.getvalue()
    assert Incident.objects.count() == 1499


@pytest.mark.django_db
def test_bulk_rejects_a_call_sign_longer_than_the_column(home):
    outcome = incident_bulk_upsert(
        agency_id=home.pk, rows=[row("A", -122.3, 47.6, units="E5, " + "X" * 65)], source="t"
    )
    assert outcome.rejected[0].reason.startswith("unit call sign 'XXXXXXXXXXXXXXXXXXXX'... is longer than 64")
    assert not Incident.objects.exists()


@pytest.mark.django_db
def test_the_one_row_service_takes_every_field_of_the_incidents_import(home):
    """The layer's `write` (one row, as feeds write) takes what the bulk writer takes: units, a beat code."""
    beat = f.zone(agency=home, code="K2", bbox=(-122.34, 47.60, -122.33, 47.61))
    write = LAYERS["incidents"].write

    incident, created = write(
        agency_id=home.pk, cad_number="D1", type_code="DIST", location=None, beat_code="K2",
        received_at=AT, units="E5, M12", attributes={"block": "3000"},
    )  # fmt: skip
    again, _ = write(agency_id=home.pk, cad_number="D1", type_code="DIST", location=None, beat_code="K2",
                     received_at=AT, units="B7")  # fmt: skip

    assert created and incident.beat_id == beat.pk and incident.location_approximate is True
    assert beat.geom.covers(incident.location)
    again.refresh_from_db()
    assert again.unit_call_signs == ["B7", "E5", "M12"] and again.attributes == {"block": "3000"}
    with pytest.raises(ValueError, match="beat 'NOPE' is not one of the agency's beats"):
        write(agency_id=home.pk, cad_number="D2", type_code="DIST", location=None, beat_code="NOPE", received_at=AT)
