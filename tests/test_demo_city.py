"""The simulated demo city: what `load_demo_city` creates, where, when, and that it loads once.

The city is loaded once for the module inside a transaction that is rolled back at the end; each
test runs in a savepoint on top of it, so the tests that reload or reset disturb no other test.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.gis.geos import Point
from django.contrib.gis.measure import D
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from django.utils.html import escape

from apps.accounts.models import Agency, User
from apps.alpr.models import AlprRead, AlprSite, HotlistEntry
from apps.audit.models import AuditAction, AuditEvent
from apps.audit.services import audit_record
from apps.cameras.models import Camera
from apps.demo import city
from apps.demo.services import DEFAULT_PASSWORD, demo_city_counts
from apps.incidents.choices import OPEN_STATUSES
from apps.incidents.models import Incident
from apps.sensors.models import Alert, GunshotDetection
from apps.units.models import Unit, UnitPosition
from apps.zones.models import Zone

INCIDENTS = 1500
LA = ZoneInfo("America/Los_Angeles")


def _load(**options) -> str:
    out = io.StringIO()
    call_command("load_demo_city", incidents=options.pop("incidents", INCIDENTS), stdout=out, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            _load(seed=7)
            yield Agency.objects.get(code="DEMO")
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def spec():
    return city.load_spec()


@pytest.fixture
def city_zone(demo, db):
    return Zone.objects.get(agency=demo, kind="city")


def _closed_local_times(agency):
    return [
        t.astimezone(LA)
        for t in Incident.objects.filter(agency=agency, status="closed").values_list("received_at", flat=True)
    ]


def test_counts_are_roughly_as_asked(demo, db):
    counts = demo_city_counts(agency=demo)
    assert counts["incidents"] == INCIDENTS + 15
    assert counts["open_incidents"] == 15
    assert 30 <= counts["beats"] <= 50
    assert counts["zones"] == 1 + 5 + counts["beats"]
    assert counts["users"] == 5
    assert 280 <= counts["cameras"] <= 320
    assert 18 <= counts["units"] <= 25
    assert counts["unit_positions"] == counts["units"] * 60
    assert AlprSite.objects.filter(agency=demo, kind="fixed", location__isnull=False).count() == 12
    assert AlprSite.objects.filter(agency=demo, kind="mobile", location__isnull=True).count() == 4
    assert counts["hotlist_entries"] == 25
    assert counts["alpr_reads"] == 2000
    assert 10 <= counts["hotlist_hits"] <= 40
    assert counts["gunshots"] == 60
    assert {"hotlist_hit", "gunshot", "panic", "sensor"} <= set(
        Alert.objects.filter(agency=demo).values_list("kind", flat=True)
    )
    assert Alert.objects.filter(agency=demo, status="acknowledged", acknowledged_by__isnull=False).exists()
    assert set(User.objects.filter(agency=demo).values_list("username", "role")) == {
        ("operator", "operator"),
        ("commander", "watch_commander"),
        ("planner", "planner"),
        ("admin", "agency_admin"),
        ("auditor", "auditor"),
    }
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser and admin.check_password(DEFAULT_PASSWORD)


def test_every_record_is_inside_the_city(demo, city_zone):
    outline = city_zone.geom
    assert not Incident.objects.filter(agency=demo).exclude(location__coveredby=outline).exists()
    assert not Camera.objects.filter(agency=demo).exclude(location__coveredby=outline).exists()
    assert not Unit.objects.filter(agency=demo).exclude(last_location__coveredby=outline).exists()
    assert not UnitPosition.objects.filter(unit__agency=demo).exclude(location__coveredby=outline).exists()
    assert not AlprRead.objects.filter(agency=demo).exclude(location__coveredby=outline).exists()
    assert not GunshotDetection.objects.filter(agency=demo).exclude(location__coveredby=outline).exists()


def test_beats_are_valid_tile_the_city_and_carry_the_incidents(demo, city_zone):
    beats = list(Zone.objects.filter(agency=demo, kind="beat").select_related("parent"))
    for beat in beats:
        assert beat.geom.valid, beat.code
        assert beat.geom.geom_type == "MultiPolygon"
        assert beat.parent.kind == "district" and beat.code.startswith(beat.parent.code)
        assert beat.code[len(beat.parent.code) :].isdigit()
    assert {z.code for z in Zone.objects.filter(agency=demo, kind="district")} == {"N", "E", "W", "S", "SW"}
    union = beats[0].geom
    for beat in beats[1:]:
        union = union.union(beat.geom)
    assert union.sym_difference(city_zone.geom).area < city_zone.geom.area * 1e-6
    total = Incident.objects.filter(agency=demo).count()
    without_beat = Incident.objects.filter(agency=demo, beat__isnull=True).count()
    assert without_beat <= total * 0.002


def test_calls_follow_the_hour_of_day(demo, db):
    hours = Counter(t.hour for t in _closed_local_times(demo))
    evening = sum(hours[h] for h in range(18, 22)) / 4
    small_hours = sum(hours[h] for h in range(3, 6)) / 3
    assert evening > 1.6 * small_hours


def test_friday_and_saturday_are_busier_than_early_week(demo, db):
    times = _closed_local_times(demo)
    per_weekday = Counter(t.weekday() for t in times)
    first, last = min(t.date() for t in times), max(t.date() for t in times)
    days = Counter((first + timedelta(days=i)).weekday() for i in range((last - first).days + 1))
    weekend = (per_weekday[4] + per_weekday[5]) / (days[4] + days[5])
    early = (per_weekday[0] + per_weekday[1] + per_weekday[2]) / (days[0] + days[1] + days[2])
    assert weekend > early


def test_incidents_cluster_around_the_top_hotspot(demo, city_zone, spec):
    top = max(spec.hotspots, key=lambda h: h.weight)
    centre = Point(top.lon, top.lat, srid=4326)
    qs = Incident.objects.filter(agency=demo)
    near = qs.filter(location__distance_lte=(centre, D(m=800))).count()
    share = near / qs.count()
    circle_km2 = 3.14159 * 0.8**2
    city_km2 = city_zone.geom.transform(32610, clone=True).area / 1e6
    assert share > 8 * circle_km2 / city_km2, share


def test_history_spans_a_year_and_is_handled_in_order(demo, db):
    now = timezone.now()
    closed = Incident.objects.filter(agency=demo, status="closed")
    oldest = closed.order_by("received_at").first().received_at
    assert now - timedelta(days=366) <= oldest <= now - timedelta(days=350)
    for inc in closed.order_by("?")[:200]:
        assert inc.received_at <= inc.dispatched_at <= inc.closed_at <= now
        assert inc.on_scene_at is None or inc.dispatched_at <= inc.on_scene_at <= inc.closed_at
    cads = list(Incident.objects.filter(agency=demo).values_list("cad_number", flat=True))
    assert len(set(cads)) == len(cads) and all(c.startswith("DEMO-20") for c in cads)


def test_open_calls_are_live_with_narrative_and_units(demo, db):
    now = timezone.now()
    open_calls = Incident.objects.filter(agency=demo, status__in=OPEN_STATUSES).prefetch_related(
        "narrative", "assigned_units"
    )
    assert Counter(i.status for i in open_calls) == {"pending": 5, "dispatched": 5, "on_scene": 5}
    assert sum(1 for i in open_calls if i.priority == 1) >= 3
    for inc in open_calls:
        assert now - timedelta(hours=1) <= inc.received_at <= now
        assert inc.closed_at is None
        assert 1 <= len(inc.narrative.all()) <= 2
        if inc.status == "pending":
            assert not inc.assigned_units.all()
        else:
            assert all(u.status == inc.status for u in inc.assigned_units.all())
    assert sum(1 for i in open_calls if i.assigned_units.all()) >= 8


def test_units_have_fresh_positions_and_a_half_hour_trail(demo, db):
    now = timezone.now()
    units = list(Unit.objects.filter(agency=demo))
    statuses = Counter(u.status for u in units)
    assert statuses["available"] > len(units) / 3
    assert statuses["dispatched"] and statuses["on_scene"]
    for unit in units:
        assert now - timedelta(minutes=3) <= unit.last_seen <= now
        trail = list(unit.positions.order_by("recorded_at"))
        assert trail[-1].recorded_at == unit.last_seen
        assert trail[-1].location.equals_exact(unit.last_location, tolerance=1e-9)
        assert timedelta(minutes=29) <= unit.last_seen - trail[0].recorded_at <= timedelta(minutes=30)
    call_signs = [u.call_sign for u in units]
    assert len(set(call_signs)) == len(call_signs) and all(cs[0] == "2" for cs in call_signs)


def test_cameras_mix_owners_and_see_from_where_they_stand(demo, db):
    cams = list(Camera.objects.filter(agency=demo))
    owners = Counter(c.owner_kind for c in cams)
    assert owners["agency"] > owners["community"] > owners["partner"] > 50
    statuses = Counter(c.status for c in cams)
    assert 0.05 < statuses["offline"] / len(cams) < 0.16 and statuses["unknown"] > 0
    assert Counter(c.sharing for c in cams)["on_request"] > 50
    assert any(c.ptz and c.heading is None and c.fov_angle == 360 for c in cams)
    for cam in cams:
        assert cam.view.valid and cam.view.covers(cam.location), cam.external_id
        assert 30 <= cam.fov_range <= 150
        assert cam.ptz or 60 <= cam.fov_angle <= 120
        if cam.sharing == "live" and cam.stream_kind == "hls":  # the ffmpeg test pattern (scripts/demo.sh)
            assert cam.owner_kind == "agency" and cam.status == "online"
            assert cam.stream_url == f"/demo/cameras/{cam.external_id}/hls/index.m3u8"
        elif cam.sharing == "live":
            assert cam.stream_kind == "snapshot"
            assert cam.stream_url == f"/demo/cameras/{cam.external_id}/snapshot.svg"
        else:
            assert cam.stream_url == ""
        if cam.status == "online":
            assert cam.last_seen is not None
    community = [c for c in cams if c.owner_kind == "community"]
    assert Counter(c.sharing for c in community).most_common(1)[0][0] == "on_request"


def test_hotlist_hits_raise_alerts(demo, db):
    hits = list(AlprRead.objects.filter(agency=demo, hit__isnull=False).select_related("hit"))
    assert hits
    alerts = {a.alpr_read_id: a for a in Alert.objects.filter(agency=demo, kind="hotlist_hit")}
    assert set(alerts) == {r.pk for r in hits}
    for read in hits:
        assert read.plate == read.hit.plate
        assert alerts[read.pk].title.startswith(f"Hotlist hit: {read.plate} (")
        assert alerts[read.pk].raised_at == read.read_at
    entries = set(HotlistEntry.objects.filter(hotlist__agency=demo).values_list("plate", flat=True))
    assert not AlprRead.objects.filter(agency=demo, hit__isnull=True, plate__in=entries).exists()
    assert HotlistEntry.objects.filter(hotlist__agency=demo, reason="AMBER alert").exists()


def test_gunshots_cluster_and_recent_ones_alert(demo, db):
    now = timezone.now()
    shots = GunshotDetection.objects.filter(agency=demo)
    assert shots.filter(source="demo-acoustic").count() == 60
    recent = shots.filter(detected_at__gte=now - timedelta(days=1))
    assert 1 <= recent.count() <= 5
    alerted = set(Alert.objects.filter(agency=demo, kind="gunshot").values_list("gunshot_id", flat=True))
    assert alerted == set(recent.values_list("id", flat=True))
    assert Alert.objects.filter(agency=demo, kind="gunshot", status="open").count() == 1


def test_same_seed_same_city(spec):
    now = timezone.now()
    a = city.IncidentPlanner(spec, random.Random(3), now).historical(50)
    b = city.IncidentPlanner(spec, random.Random(3), now).historical(50)
    c = city.IncidentPlanner(spec, random.Random(4), now).historical(50)
    key = [(p.type.code, p.lon, p.lat, p.received_at, p.address) for p in a]
    assert key == [(p.type.code, p.lon, p.lat, p.received_at, p.address) for p in b]
    assert key != [(p.type.code, p.lon, p.lat, p.received_at, p.address) for p in c]


def test_calendar_stays_within_the_past_year(spec):
    now = timezone.now()
    calendar = city.Calendar(spec, now)
    rng = random.Random(1)
    times = [calendar.sample(rng, "night", now - timedelta(hours=2)) for _ in range(4000)]
    assert max(times) <= now - timedelta(hours=2)
    assert min(times).astimezone(LA).date() >= now.astimezone(LA).date() - timedelta(days=364)
    hours = Counter(t.astimezone(LA).hour for t in times)
    assert hours[22] > 2 * hours[5]


def test_second_load_without_reset_changes_nothing(demo, db):
    before = demo_city_counts(agency=demo)
    first_cad = Incident.objects.filter(agency=demo).order_by("id").values_list("cad_number", flat=True).first()
    out = _load(seed=99, incidents=10, password="another-long-demo-pass-9")
    assert "already loaded" in out
    assert demo_city_counts(agency=demo) == before
    assert Incident.objects.filter(agency=demo).order_by("id").values_list("cad_number", flat=True).first() == first_cad
    assert User.objects.get(username="operator").check_password("another-long-demo-pass-9")


def test_reset_reloads_and_keeps_the_audit_trail(demo, db):
    operator = User.objects.get(username="operator")
    event = audit_record(user=operator, action=AuditAction.CAMERA_STREAM_OPEN, object_type="camera", object_id="1")
    _load(seed=8, incidents=200, reset=True)
    counts = demo_city_counts(agency=demo)
    assert counts["incidents"] == 215 and counts["cameras"] == 300 and counts["users"] == 5
    assert Agency.objects.get(code="DEMO").pk == demo.pk
    assert User.objects.get(username="operator").pk == operator.pk
    assert AuditEvent.objects.filter(pk=event.pk, user=operator).exists()
    assert AuditEvent.objects.filter(action=AuditAction.IMPORT, object_id="DEMO").count() == 2


def test_weak_password_is_refused(demo, db):
    with pytest.raises(CommandError, match="too weak"):
        _load(password="short")


def test_snapshot_feed(demo, db):
    snapshots = Camera.objects.filter(agency=demo, stream_kind="snapshot")
    live = snapshots.filter(sharing="live", status="online").order_by("id").first()
    offline = Camera.objects.filter(agency=demo, sharing="live", status="offline").order_by("id").first()
    on_request = Camera.objects.filter(agency=demo, sharing="on_request").order_by("id").first()
    url = "/demo/cameras/{}/snapshot.svg".format

    anonymous = Client().get(url(live.external_id))
    assert anonymous.status_code == 302

    client = Client()
    client.force_login(User.objects.get(username="operator"))

    def watch(camera):
        """Through the stream proxy, on the grant of an audited open: the only way to a frame."""
        opened = client.post(f"/api/cameras/{camera.pk}/stream/", {"reason": "demo"}, content_type="application/json")
        return client.get(opened.json()["url"]) if opened.status_code == 200 else opened

    assert client.get(url(live.external_id)).status_code == 403  # directly, with a session only
    response = watch(live)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert body.startswith("<svg") and "SIMULATED" in body
    assert escape(live.name) in body
    assert "NO SIGNAL" in watch(offline).content.decode()
    assert watch(on_request).status_code == 403 and on_request.stream_url == ""
    assert client.get(url("DEMO-CAM-9999")).status_code == 403

    planner = Client()
    planner.force_login(User.objects.get(username="planner"))
    assert planner.get(url(live.external_id)).status_code == 403
    refused = planner.post(f"/api/cameras/{live.pk}/stream/", {"reason": "x"}, content_type="application/json")
    assert refused.status_code == 403


def test_snapshot_feed_is_scoped_to_the_agency(demo, db):
    from . import factories as f

    other = f.agency("KCSO")
    outsider = f.user(agency=other, role="operator", username="outsider")
    live = Camera.objects.filter(agency=demo, sharing="live").order_by("id").first()
    client = Client()
    client.force_login(outsider)
    assert client.get(f"/demo/cameras/{live.external_id}/snapshot.svg").status_code == 403
    opened = client.post(f"/api/cameras/{live.pk}/stream/", {"reason": "x"}, content_type="application/json")
    assert opened.status_code == 404
