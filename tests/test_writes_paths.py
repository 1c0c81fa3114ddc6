"""The other writes outside the feeds reach the maps too: file imports of cameras, zones and unit rosters, the
`recompute_beats` command and a demo reset. Each publishes on commit; the test runs the commit callbacks and
reads the agency's live stream, as its maps would receive it."""

from __future__ import annotations

import io
import json

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.cameras.models import Camera
from apps.incidents.models import Incident
from apps.intake.importer import import_layer
from apps.intake.mapping import MappingSpec
from apps.units.models import Unit
from apps.zones.services import zone_upsert

from . import factories as f
from .stream_support import stream_events

pytestmark = pytest.mark.django_db

SAMPLES = settings.BASE_DIR / "fixtures" / "samples"


def kinds(agency_id: int) -> list[tuple]:
    return [(e["type"], e["layer"], e.get("id") or e.get("feature", {}).get("id")) for e in stream_events(agency_id)]


def test_a_camera_import_reloads_the_camera_layer_once(home, live, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = import_layer(layer="cameras", path=SAMPLES / "cameras.geojson", agency=home, spec=MappingSpec())
    assert result.created == 2
    assert kinds(home.pk) == [("layer.reloaded", "cameras", None)]


def test_a_dry_run_import_publishes_nothing(home, live, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        import_layer(layer="cameras", path=SAMPLES / "cameras.geojson", agency=home, spec=MappingSpec(), dry_run=True)
    assert not Camera.objects.exists()
    assert stream_events(home.pk) == []


def test_a_beat_import_puts_incidents_on_their_beats_with_one_reload(home, live, django_capture_on_commit_callbacks):
    inside = f.incident(agency=home)  # inside beat T1 of the sample
    spec = MappingSpec(fields={"code": ("beat_id",), "name": ("label",)}, constants={"kind": "beat"})
    with django_capture_on_commit_callbacks(execute=True):
        result = import_layer(layer="zones", path=SAMPLES / "zones.geojson", agency=home, spec=spec)
    assert result.created == 2
    assert Incident.objects.get(pk=inside.pk).beat.code == "T1"
    assert kinds(home.pk) == [("layer.reloaded", "incidents", None)]


def test_a_new_beat_publishes_the_incidents_it_takes(home, live, django_capture_on_commit_callbacks):
    inside = f.incident(agency=home)
    f.incident(agency=home, lon=f.LON + 0.5)  # outside
    beat_shape = f.zone(agency=home, kind="sector", code="shape").geom
    with django_capture_on_commit_callbacks(execute=True):
        zone_upsert(agency_id=home.pk, kind="beat", code="K9", geom=beat_shape)
    (event,) = stream_events(home.pk)
    assert (event["type"], event["feature"]["id"], event["feature"]["properties"]["beat"]) == (
        "feature.upserted",
        inside.pk,
        "K9",
    )


def test_recompute_beats_publishes_the_incidents_that_changed_beat(home, live, django_capture_on_commit_callbacks):
    beat = f.zone(agency=home, code="K2")
    moved, stays = f.incident(agency=home), f.incident(agency=home)
    Incident.objects.filter(pk=stays.pk).update(beat=beat)  # `moved` was loaded before its beat
    with django_capture_on_commit_callbacks(execute=True):
        call_command("recompute_beats", "--agency", home.code, stdout=io.StringIO())
    assert kinds(home.pk) == [("feature.upserted", "incidents", moved.pk)]


def test_a_roster_that_retires_a_unit_takes_it_off_the_map(home, live, django_capture_on_commit_callbacks):
    mapping = json.loads((SAMPLES / "units_mapping.json").read_text())
    spec = MappingSpec(fields={k: (v,) for k, v in mapping["fields"].items()})
    with django_capture_on_commit_callbacks(execute=True):
        import_layer(layer="units", path=SAMPLES / "units.csv", agency=home, spec=spec)
    retired = Unit.objects.get(call_sign="M22", active=False)
    events = kinds(home.pk)
    assert ("feature.removed", "units", retired.pk) in events
    assert ("feature.upserted", "units", retired.pk) not in events
    assert sorted(pk for kind, _layer, pk in events if kind == "feature.upserted") == sorted(
        Unit.objects.filter(active=True).values_list("pk", flat=True)
    )


def test_a_demo_reset_reloads_every_live_layer_of_the_demo_agency(db, live, django_capture_on_commit_callbacks):
    from apps.demo.services import demo_city_load
    from apps.live.layers import LAYERS

    with django_capture_on_commit_callbacks(execute=True):
        demo_city_load(seed=1, incidents=0, reset=False, password="a-long-demo-password-42")
    agency_id = Camera.objects.values_list("agency_id", flat=True).first()
    assert stream_events(agency_id) == []  # a first load: no map follows an agency that did not exist
    with django_capture_on_commit_callbacks(execute=True):
        demo_city_load(seed=2, incidents=0, reset=True, password="a-long-demo-password-42")
    assert kinds(agency_id) == [("layer.reloaded", layer, None) for layer in LAYERS]


def test_a_feed_update_of_a_retired_camera_keeps_it_off_the_map(home, live, django_capture_on_commit_callbacks):
    from apps.feeds.models import FeedSource
    from apps.feeds.services import feed_ingest

    source = FeedSource.objects.create(agency=home, name="TAK server", kind="cot")
    retired = f.camera(agency=home, external_id="CAM-7", active=False, heading=10)
    sensor_point = (
        b'<event version="2.0" uid="CAM-7" type="b-m-p-s-p-loc" how="h-g-i-g-o" time="2024-05-01T12:00:00Z" '
        b'start="2024-05-01T12:00:00Z" stale="2024-05-02T12:00:00Z">'
        b'<point lat="47.6097" lon="-122.3422" hae="0" ce="10" le="10"/>'
        b'<detail><contact callsign="Dock camera"/><sensor azimuth="90" fov="60" range="100"/></detail></event>'
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert feed_ingest(source_id=source.pk, payload=sensor_point).accepted == 1
    assert Camera.objects.get(pk=retired.pk).heading == 90  # updated, still retired (the admin's choice)
    assert kinds(home.pk) == [("feature.removed", "cameras", retired.pk)]
