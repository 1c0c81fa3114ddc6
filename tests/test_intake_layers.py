"""Every layer importable from files: gunshots (ShotSpotter exports), ALPR sites (OpenStreetMap), unit rosters
and hotlists, and history that never rings the alert queue.

Real data: the OSM ALPR list of the SF Bay Area (../shared/data/formats/alpr, 3,757 nodes, ODbL) for the
`direction` values mappers really write and for the service-area refusal. No public ShotSpotter file is in the
corpus; the gunshot sample is shaped after Washington DC's open data "Shot Spotter Gun Shots" (MPD, Open Data
DC: ID, TYPE spelled `Single_Gunshot` before 2020 and `Single Gunshot` after, DATETIME in UTC like
`2019-07-04T05:12:09.000Z`, LATITUDE/LONGITUDE rounded to 3 decimals) with a ROUNDS column as Chicago's
"ShotSpotter Alerts" have it; no row of either is copied. Hotlists have no public data (they name wanted
plates): the sample follows the NCIC layout parsed by openalpr/openalpr_hotlist_import (list-type letter,
incident date, plate, state, vehicle).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.alpr.directions import parse_direction, sector_centre
from apps.alpr.models import AlprSite, Hotlist, HotlistEntry
from apps.alpr.selectors import hotlist_match
from apps.feeds.models import FeedSource
from apps.feeds.services import feed_ingest
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec, load_mapping_file
from apps.intake.readers import open_source
from apps.sensors.models import Alert, GunshotDetection, rounds_text
from apps.units.models import Unit

from . import factories as f
from .real_samples import real_sample

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "fixtures" / "samples"
OSM_ALPR_MAPPING = ROOT / "fixtures" / "mappings" / "osm_alpr.json"
DEFLOCK = "osm_alpr_california_sf_bay_area_deflockmaps_minified.json"


def run(*args: object) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("import_layer", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def seattle(home):
    """The home agency with a beat around Pike Place (the factories' default spot)."""
    f.zone(agency=home, code="M1")
    return home


# --- gunshots ---------------------------------------------------------------------------------------------------------


def test_shotspotter_export_keeps_unknown_rounds_unknown(seattle, tmp_path):
    path = SAMPLES / "gunshots.csv"
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # the sample keeps the BOM real exports carry
    report = tmp_path / "rejected.csv"

    out, err = run(
        "gunshots", path, "--agency", seattle.code, "--mapping", SAMPLES / "gunshots_mapping.json", "--report", report
    )

    assert out.startswith("gunshots: 5 created, 0 updated, 0 unchanged, 5 rejected (of 10 rows)")
    shots = {g.source_id: g for g in GunshotDetection.objects.filter(agency=seattle)}
    assert {k: (g.rounds, g.kind) for k, g in shots.items()} == {
        "SST-19-0001": (1, "single"),  # Single_Gunshot (the pre-2020 DC spelling)
        "SST-19-0002": (None, "multiple"),  # "Multiple Gunshots" without a count: unknown, not 1
        "SST-19-0003": (4, "multiple"),  # the count when the file has one
        "SST-19-0004": (None, "possible"),
        "SST-19-0005": (1, "single"),
    }
    assert {g.source for g in shots.values()} == {"ShotSpotter"}
    assert str(shots["SST-19-0002"]).startswith("unknown rounds @ 2019-07-04")
    reasons = {row["line"]: row["reason"] for row in csv.DictReader(report.open(encoding="utf-8"))}
    assert reasons["7"].startswith("type 'Fireworks' is not one of Single Gunshot, Multiple Gunshots")
    assert "(0,0) (null island)" in reasons["8"]
    assert reasons["9"].startswith("outside service area by 1,1") and reasons["9"].endswith(" km")
    assert reasons["10"] == "detected_at is missing (column 'DATETIME' is empty)"
    assert reasons["11"] == "rounds 0 is outside 1..200"
    # 2019 is history: importing it raised no alert.
    assert not Alert.objects.exists()
    # The same export again (next quarter's file overlaps) adds nothing.
    out, _ = run("gunshots", path, "--agency", seattle.code, "--mapping", SAMPLES / "gunshots_mapping.json")
    assert out.startswith("gunshots: 0 created, 0 updated, 5 unchanged, 5 rejected")
    assert GunshotDetection.objects.count() == 5


def _gunshot_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["ID,TYPE,DATETIME,LATITUDE,LONGITUDE"]
    lines += [f"{shot_id},Multiple Gunshots,{at},{f.LAT},{f.LON}" for shot_id, at in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def test_only_detections_inside_the_alert_window_alert(seattle, tmp_path, settings):
    settings.RTCC_IMPORT_ALERT_WINDOW_SECONDS = 900
    now = timezone.now().replace(microsecond=0)
    path = _gunshot_csv(
        tmp_path / "shots.csv",
        [("NEW", (now - timedelta(seconds=300)).isoformat()), ("OLD", (now - timedelta(seconds=1800)).isoformat())],
    )
    spec = load_mapping_file(path=SAMPLES / "gunshots_mapping.json")
    spec = MappingSpec(**{**spec.__dict__, "fields": {k: v for k, v in spec.fields.items() if k != "rounds"}})

    result = import_layer(layer="gunshots", path=path, agency=seattle, spec=spec)

    assert result.created == 2
    alert = Alert.objects.get()
    assert alert.gunshot.source_id == "NEW" and alert.kind == "gunshot"
    assert alert.title == f"Gunshots detected: {rounds_text(None)}"  # never "1 round" for an uncounted burst
    # A wider window makes the same history alert: the setting, not a constant, decides.
    settings.RTCC_IMPORT_ALERT_WINDOW_SECONDS = 3600
    path = _gunshot_csv(tmp_path / "again.csv", [("OLD-2", (now - timedelta(seconds=1800)).isoformat())])
    import_layer(layer="gunshots", path=path, agency=seattle, spec=spec)
    assert set(Alert.objects.values_list("gunshot__source_id", flat=True)) == {"NEW", "OLD-2"}


def test_gunshot_feed_without_a_count_stores_unknown_rounds(seattle):
    source = FeedSource.objects.create(agency=seattle, name="shots", kind="gunshot_json")
    body = [{"id": "F-1", "lon": f.LON, "lat": f.LAT, "detected_at": timezone.now().isoformat()}]
    assert feed_ingest(source_id=source.pk, payload=json.dumps(body).encode()).accepted == 1
    shot = GunshotDetection.objects.get(source_id="F-1")
    assert shot.rounds is None
    # A live feed still alerts at once (the window is for imports of history).
    assert Alert.objects.get(gunshot=shot).title == "Gunshots detected: unknown rounds"


def test_gunshot_api_says_unknown_rounds(seattle, operator_client):
    f.gunshot(agency=seattle, rounds=None, source_id="U-1")
    feature = operator_client.get("/api/gunshots/").json()["features"][0]
    assert feature["properties"]["rounds"] is None


# --- ALPR sites from OpenStreetMap --------------------------------------------------------------------------------


def _node(node_id: int, lon: float, lat: float, **tags: str) -> dict:
    return {"type": "node", "id": node_id, "lat": lat, "lon": lon, "tags": {"surveillance:type": "ALPR", **tags}}


def _overpass(path: Path, elements: list[dict]) -> Path:
    # The shape of an Overpass API answer: [out:json]; node["surveillance:type"="ALPR"](bbox); out center;
    body = {"version": 0.6, "generator": "Overpass API", "osm3s": {"copyright": "ODbL"}, "elements": elements}
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def test_overpass_alpr_nodes_become_sites_with_their_views(seattle, tmp_path):
    lon, lat = f.LON, f.LAT
    path = _overpass(
        tmp_path / "overpass.json",
        [
            _node(1, lon, lat, direction="N", manufacturer="Flock Safety"),
            _node(2, lon + 0.001, lat, direction="NB"),
            _node(3, lon + 0.002, lat, direction="45;225", name="Elliott Ave"),
            _node(4, lon + 0.003, lat, direction="252-297", operator="Seattle PD"),
            _node(5, lon + 0.004, lat, direction="79;230"),
            _node(6, lon + 0.005, lat, direction="304-14"),
            _node(7, lon + 0.006, lat),  # no direction: looks all round
            _node(8, lon + 0.007, lat, **{"camera:direction": "120"}),
            _node(9, lon + 0.008, lat, direction="Flock Raven"),
            {"type": "way", "id": 10, "tags": {"surveillance:type": "ALPR"}},  # no `out center`
            _node(11, lon, lat + 0.001, **{"surveillance:type": "camera"}),
        ],
    )

    out, err = run("alpr_sites", path, "--agency", seattle.code, "--mapping", OSM_ALPR_MAPPING)

    assert out.startswith("alpr_sites: 8 created, 0 updated or unchanged, 3 rejected (of 11 rows)")
    sites = {s.external_id: s for s in AlprSite.objects.filter(agency=seattle)}
    views = {key: (site.direction, site.view) for key, site in sites.items()}
    assert views == {
        "node/1": (0.0, [[0.0, 0.0]]),
        "node/2": (0.0, [[0.0, 0.0]]),
        "node/3": (45.0, [[45.0, 45.0], [225.0, 225.0]]),
        "node/4": (274.5, [[252.0, 297.0]]),
        "node/5": (79.0, [[79.0, 79.0], [230.0, 230.0]]),
        "node/6": (339.0, [[304.0, 14.0]]),  # the sector across north
        "node/7": (None, []),
        "node/8": (120.0, [[120.0, 120.0]]),
    }
    assert sites["node/3"].name == "Elliott Ave"
    assert sites["node/1"].name == "ALPR Flock Safety node/1"
    assert sites["node/1"].attributes == {"manufacturer": "Flock Safety"}
    assert sites["node/4"].attributes == {"operator": "Seattle PD"}
    assert "record 9: direction 'Flock Raven': 'Flock Raven' is not a heading" in err
    assert "record 10: OSM way 10 has no position (for ways, ask Overpass for `out center`)" in err
    assert "record 11: surveillance:type is 'camera', not ALPR" in err
    # OSM ids key the sites: the next extract updates them.
    out, _ = run("alpr_sites", path, "--agency", seattle.code, "--mapping", OSM_ALPR_MAPPING)
    assert out.startswith("alpr_sites: 0 created, 8 updated or unchanged, 3 rejected")


def test_every_real_osm_direction_parses_or_is_refused_with_its_reason():
    data = json.loads(real_sample("alpr", DEFLOCK).read_text(encoding="utf-8"))
    values = Counter(cam["tags"].get("direction") or cam["tags"].get("camera:direction") for cam in data["cameras"])
    assert len(values) > 400 and sum(values.values()) == 3757
    refused = {}
    for value in values:
        try:
            views = parse_direction(value)
        except ValueError as exc:
            refused[value] = str(exc)
            continue
        assert all(0 <= a < 360 and 0 <= b < 360 for a, b in views), value
        assert (views == []) == (value is None)
    # The only values no reader could make sense of: a product name and two headings past 360.
    assert set(refused) == {"Flock Raven", "370", "456"}
    assert parse_direction("338-23;265-310;113-158") == [(338.0, 23.0), (265.0, 310.0), (113.0, 158.0)]
    assert parse_direction("0;0;0;0;0;0;0;0") == [(0.0, 0.0)]
    assert parse_direction("SB") == [(180.0, 180.0)] and parse_direction("NW") == [(315.0, 315.0)]
    assert sector_centre((352.0, 37.0)) == pytest.approx(14.5)


def test_deflock_list_reads_as_osm_and_california_is_outside_seattle(seattle):
    path = real_sample("alpr", DEFLOCK)
    with open_source(path=path) as opened:
        assert opened.format == "osm"
        first = next(opened.records)
    assert first.values["_id"] == "node/33219729" and first.geometry["type"] == "Point"

    result = import_layer(layer="alpr_sites", path=path, agency=seattle, spec=load_mapping_file(path=OSM_ALPR_MAPPING))

    # Every one of the 3,757 Bay Area readers is ~1,100 km from the Seattle beat: none is accepted silently.
    assert result.created == result.updated == 0 and len(result.rejected) == 3757
    assert Counter(r.reason.split(" by ")[0] for r in result.rejected) == {"outside service area": 3757}
    assert result.rejected[0].reason in {"outside service area by 1,107 km", "outside service area by 1,106 km"}
    assert not AlprSite.objects.exists()


# --- units and hotlists -----------------------------------------------------------------------------------------------


def test_unit_roster(home):
    f.unit(agency=home, call_sign="1A11", kind="patrol", device_id="")
    out, err = run("units", SAMPLES / "units.csv", "--agency", home.code, "--mapping", SAMPLES / "units_mapping.json")

    assert out.startswith("units: 3 created, 1 updated or unchanged, 3 rejected (of 7 rows)")
    units = {u.call_sign: (u.kind, u.device_id, u.active) for u in Unit.objects.filter(agency=home)}
    assert units == {
        "1A11": ("patrol", "avl-0111", True),
        "1A12": ("patrol", "avl-0112", True),  # "Patrol car", the label, reads as the kind
        "K9-3": ("k9", "", True),
        "M22": ("motor", "avl-0222", False),
    }
    assert "line 6: call_sign is missing" in err
    assert "line 7: kind 'hovercraft' is not one of" in err
    assert "line 8: device_id 'avl-0111' already reports for unit '1A11'" in err


def test_hotlist_in_ncic_layout(home):
    out, err = run(
        "hotlists", SAMPLES / "hotlist.csv", "--agency", home.code, "--mapping", SAMPLES / "hotlist_mapping.json"
    )

    assert out.startswith("hotlists: 3 created, 1 updated or unchanged, 3 rejected (of 7 rows)")
    lists = {h.name: h.source for h in Hotlist.objects.filter(agency=home)}
    assert lists == {"Stolen Vehicle": "NCIC extract", "Stolen Plate": "NCIC extract", "Amber Alert": "NCIC extract"}
    entries = {(e.hotlist.name, e.plate, e.state): e for e in HotlistEntry.objects.select_related("hotlist")}
    assert set(entries) == {
        ("Stolen Vehicle", "ABC1234", "WA"),  # "ABC-1234" and later "abc 1234": one entry, updated
        ("Stolen Plate", "7XYZ123", "CA"),
        ("Amber Alert", "BGT4471", "WA"),
    }
    assert entries[("Stolen Vehicle", "ABC1234", "WA")].reason.endswith("RECOVERED? STILL LISTED")
    assert entries[("Stolen Plate", "7XYZ123", "CA")].reason == "Stolen Plate"  # no vehicle: the list says why
    assert "line 5: plate must have 1..16 letters or digits" in err
    assert "line 6: plate is missing" in err
    assert "line 7: state" in err
    # The imported list is live for matching reads; an expired entry stops matching.
    amber = entries[("Amber Alert", "BGT4471", "WA")]
    assert hotlist_match(agency_id=home.pk, plate="BGT 4471", state="WA", at=amber.expires_at - timedelta(hours=1))
    assert hotlist_match(agency_id=home.pk, plate="BGT4471", state="WA", at=amber.expires_at) is None
    # Loading a hotlist raises no alert (hits come from reads).
    assert not Alert.objects.exists()


def test_layers_without_a_place_need_no_location_mapping(home, tmp_path):
    path = tmp_path / "roster.json"
    path.write_text(json.dumps([{"call_sign": "2B1"}]), encoding="utf-8")
    out, _ = run("units", path, "--agency", home.code)
    assert out.startswith("units: 1 created")
    # Layers with a place still need one: a zones file without geometry is refused before any row.
    with pytest.raises(CommandError, match="zones need a geometry"):
        run("zones", path, "--agency", home.code, "--set", "code=X", "--set", "kind=beat")


HOTLIST_HEADER = "LIST,PLATE,STATE,VEHICLE,EXPIRES"


def test_full_hotlist_with_replace_retires_plates_no_longer_listed(home, tmp_path):
    mapping = SAMPLES / "hotlist_mapping.json"
    first = tmp_path / "monday.csv"
    first.write_text(f"{HOTLIST_HEADER}\nV,ABC1234,WA,,\nV,DEF5678,WA,,\nP,7XYZ123,CA,,\n", encoding="utf-8")
    run("hotlists", first, "--agency", home.code, "--mapping", mapping, "--replace")
    second = tmp_path / "tuesday.csv"  # DEF5678 was recovered overnight; the plate list was not sent
    second.write_text(f"{HOTLIST_HEADER}\nV,ABC1234,WA,,\n", encoding="utf-8")

    out, _ = run("hotlists", second, "--agency", home.code, "--mapping", mapping, "--replace")

    assert out.startswith("hotlists: 0 created, 1 updated or unchanged, 0 rejected (of 1 rows)")
    assert "; 1 retired (no longer on the list)" in out
    active = set(HotlistEntry.objects.filter(active=True).values_list("plate", flat=True))
    assert active == {"ABC1234", "7XYZ123"}  # the Stolen Plate list was not in the file: untouched
    assert hotlist_match(agency_id=home.pk, plate="DEF5678", state="WA", at=timezone.now()) is None


def test_replace_retires_nothing_when_a_row_was_rejected(home):
    run("hotlists", SAMPLES / "hotlist.csv", "--agency", home.code, "--mapping", SAMPLES / "hotlist_mapping.json")
    # On a list the file has, but not in the file: --replace would retire it, were no row rejected.
    f.hotlist_entry(agency=home, plate="OLD0001", hotlist=Hotlist.objects.get(agency=home, name="Stolen Vehicle"))

    out, err = run(
        "hotlists", SAMPLES / "hotlist.csv", "--agency", home.code, "--mapping", SAMPLES / "hotlist_mapping.json",
        "--replace",
    )  # fmt: skip

    assert "retired" not in out
    assert "--replace: 3 rejected row(s), so nothing was retired" in err
    assert HotlistEntry.objects.filter(active=False).count() == 0
    with pytest.raises(CommandError, match="--replace is only for layers imported as full lists \\(hotlists\\)"):
        run("units", SAMPLES / "units.csv", "--agency", home.code, "--replace")


def test_sites_entered_twice_by_hand_do_not_stop_an_import(seattle, tmp_path):
    first = f.alpr_site(agency=seattle, name="by hand", external_id="node/1")
    f.alpr_site(agency=seattle, name="by hand, again", external_id="node/1")
    path = _overpass(tmp_path / "overpass.json", [_node(1, f.LON, f.LAT, direction="SB")])

    out, _ = run("alpr_sites", path, "--agency", seattle.code, "--mapping", OSM_ALPR_MAPPING)

    assert out.startswith("alpr_sites: 0 created, 1 updated or unchanged, 0 rejected")
    first.refresh_from_db()
    assert (first.direction, first.view) == (180.0, [[180.0, 180.0]])
