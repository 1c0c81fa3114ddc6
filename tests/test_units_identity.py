"""Unit identity: a fix lands on exactly one unit, keyed by (source, external id), or is refused with the
reason. Never matched to another unit's call sign, never merged across sources, never guessed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.utils import timezone
from rest_framework.test import APIClient

from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_ingest
from apps.units.choices import UnitIdMode
from apps.units.models import Unit, UnitIdentity, UnitPosition
from apps.units.services import Fix, unit_fixes_record, units_resolve

from . import factories as f


def osmand(source: FeedSource, device: str, at, lon: float = f.LON):
    params = {"id": device, "lat": f"{f.LAT}", "lon": f"{lon}", "timestamp": str(int(at.timestamp()))}
    return feed_ingest(source_id=source.pk, payload=b"", params=params)


@pytest.fixture
def now():
    return timezone.now().replace(microsecond=0)


def test_a_device_id_is_never_matched_to_a_units_call_sign(home, now):
    bus = f.unit(agency=home, call_sign="1717", lon=None)
    source = FeedSource.objects.create(agency=home, name="tracker", kind="osmand", auto_create_units=True)

    report = osmand(source, "1717", now)

    assert report.accepted == 1 and report.units_created == 1
    bus.refresh_from_db()
    assert bus.last_location is None and not bus.positions.exists()
    new = Unit.objects.get(identities__namespace=f"feed:{source.pk}", identities__external_id="1717")
    assert new.pk != bus.pk and new.call_sign != "1717"  # the call sign is taken: the unit gets another


def test_a_unit_s_configured_device_id_still_reports_on_any_source(home, now):
    # Units made before identities existed keep working through the device_id an admin set on them.
    unit = f.unit(agency=home, call_sign="2A1", device_id="AVL-0042", lon=None)
    source = FeedSource.objects.create(agency=home, name="avl", kind="osmand")

    assert osmand(source, "AVL-0042", now).accepted == 1
    unit.refresh_from_db()
    assert unit.last_seen == now
    assert osmand(source, "2A1", now).rejected[0].reason == "unknown unit '2A1'"  # not by call sign


def test_call_sign_sources_match_call_signs(home, now):
    unit = f.unit(agency=home, call_sign="2A1", lon=None)
    source = FeedSource.objects.create(agency=home, name="our cad avl", kind="osmand", unit_ids=UnitIdMode.CALL_SIGN)
    report = osmand(source, "2A1", now)
    assert (report.accepted, report.units_updated) == (1, 1)
    unit.refresh_from_db()
    assert unit.last_seen == now


def test_an_id_naming_two_units_is_refused_as_ambiguous_and_counted(home, now):
    one = f.unit(agency=home, call_sign="2A1", device_id="PHONE-9", lon=None)
    two = f.unit(agency=home, call_sign="PHONE-9", lon=None)  # someone's call sign is that id
    shared = [f.unit(agency=home, device_id="TRK", lon=None) for _ in range(2)]
    source = FeedSource.objects.create(agency=home, name="mixed", kind="osmand", unit_ids=UnitIdMode.CALL_SIGN)

    first = osmand(source, "PHONE-9", now)
    second = osmand(source, "TRK", now)

    assert (first.accepted, first.ambiguous) == (0, 1)
    assert first.rejected[0].reason == (
        "ambiguous unit id 'PHONE-9': it is the device id of '2A1', call sign of 'PHONE-9'; not put on any unit"
    )
    assert second.ambiguous == 1 and "device id of" in second.rejected[0].reason
    assert first.as_dict()["units"] == {"created": 0, "updated": 0, "ambiguous": 1}
    assert not UnitPosition.objects.filter(unit__in=[one, two, *shared]).exists()
    source.refresh_from_db()
    assert (source.ambiguous_count, source.rejected_count, source.accepted_count) == (2, 2, 0)
    assert DeadLetter.objects.filter(source=source, reason__startswith="ambiguous unit id").count() == 2

    # The same id on a device-id source only considers device ids: one unit, no ambiguity.
    device_source = FeedSource.objects.create(agency=home, name="phones", kind="osmand")
    assert osmand(device_source, "PHONE-9", now).accepted == 1
    assert UnitPosition.objects.get().unit == one


def test_the_same_id_on_two_sources_is_two_units(home, now):
    east = FeedSource.objects.create(agency=home, name="east", kind="osmand", auto_create_units=True)
    west = FeedSource.objects.create(agency=home, name="west", kind="osmand", auto_create_units=True)

    assert osmand(east, "17", now, lon=-122.30).units_created == 1
    assert osmand(west, "17", now, lon=-122.40).units_created == 1
    again = osmand(east, "17", now + timedelta(seconds=5), lon=-122.31)

    assert (again.units_created, again.units_updated) == (0, 1)
    east_unit = Unit.objects.get(identities__namespace=f"feed:{east.pk}")
    west_unit = Unit.objects.get(identities__namespace=f"feed:{west.pk}")
    assert east_unit.pk != west_unit.pk
    assert east_unit.last_location.x == pytest.approx(-122.31) and west_unit.last_location.x == pytest.approx(-122.40)
    east.refresh_from_db()
    assert (east.units_created_count, east.units_updated_count) == (1, 1)


def test_a_retired_unit_s_identity_refuses_its_fixes(home, now):
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)
    osmand(source, "P1", now)
    Unit.objects.filter(identities__external_id="P1").update(active=False)
    report = osmand(source, "P1", now + timedelta(seconds=1))
    assert report.accepted == 0 and "is retired" in report.rejected[0].reason
    assert Unit.objects.count() == 1  # not a second unit for the same id


def test_units_resolve_is_one_call_for_other_listeners(home, now):
    """The function a listener (CoT PLI) uses: refs to units, with refusals and new units listed."""
    unit = f.unit(agency=home, call_sign="ADAM-12", device_id="ANDROID-1", lon=None)
    fixes = [
        Fix(unit_ref="ANDROID-1", lon=f.LON, lat=f.LAT, recorded_at=now),
        Fix(unit_ref="ANDROID-2", lon=f.LON, lat=f.LAT, recorded_at=now, call_sign="BAKER-3"),
    ]
    strict = units_resolve(agency_id=home.pk, namespace="feed:x", fixes=fixes)
    assert strict.units == {"ANDROID-1": unit} and strict.refused == {"ANDROID-2": "unknown unit 'ANDROID-2'"}
    made = units_resolve(agency_id=home.pk, namespace="feed:x", fixes=fixes, auto_create=True)
    assert [u.call_sign for u in made.created] == ["BAKER-3"]
    assert UnitIdentity.objects.get(external_id="ANDROID-2").unit == made.created[0]
    assert made.created[0].device_id == ""  # the admin's field stays the admin's


def test_a_taken_label_gives_the_new_unit_a_free_call_sign(home, now):
    f.unit(agency=home, call_sign="1717")
    f.unit(agency=home, call_sign="R9")
    fixes = [Fix(unit_ref="R9", lon=f.LON, lat=f.LAT, recorded_at=now, call_sign="1717")]
    result = unit_fixes_record(agency_id=home.pk, fixes=fixes, namespace="feed:rail", auto_create=True)
    assert [u.call_sign for u in result.created] == ["1717~2"] and result.inserted == 1


def test_existing_sources_keep_call_sign_matching_after_the_migration(home):
    from importlib import import_module

    migration = import_module("apps.feeds.migrations.0002_identity_counters_health")
    avl = FeedSource.objects.create(agency=home, name="avl", kind="osmand")
    transit = FeedSource.objects.create(agency=home, name="transit", kind="gtfs_rt")
    migration.keep_call_sign_matching(django_apps, None)
    avl.refresh_from_db()
    transit.refresh_from_db()
    assert (avl.unit_ids, transit.unit_ids) == (UnitIdMode.CALL_SIGN, UnitIdMode.DEVICE)


def test_demo_sources_report_by_call_sign(home):
    from apps.demo.sources import demo_sources_ensure

    sources = demo_sources_ensure(agency=home)
    assert {s.unit_ids for s in sources.values()} == {UnitIdMode.CALL_SIGN}


# --- health ------------------------------------------------------------------------------------------


def test_health_follows_what_the_source_last_received(home, now, commander_client):
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)

    def health():
        source.refresh_from_db()
        return source.health

    assert health() == "healthy"  # new, within its expected interval
    osmand(source, "P1", now)
    assert health() == "healthy"
    report = osmand(source, "P1", now, lon=200.0)  # every record of the payload refused
    assert report.accepted == 0 and health() == "failing"
    assert "all 1 records rejected" in source.last_error
    osmand(source, "P1", now + timedelta(seconds=1))
    assert health() == "healthy"
    FeedSource.objects.filter(pk=source.pk).update(
        last_success_at=now - timedelta(hours=1), last_error_at=now - timedelta(hours=2)
    )
    assert health() == "stale"
    FeedSource.objects.filter(pk=source.pk).update(enabled=False)
    assert health() == "disabled"

    row = commander_client.get("/api/feeds/").json()[0]
    assert row["health"] == "disabled"
    assert (row["units_created_count"], row["units_updated_count"], row["ambiguous_count"]) == (1, 1, 0)
    assert row["unit_ids"] == "device"


def test_ingest_reply_carries_unit_counts(home, now):
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)
    token = source.issue_token()
    query = {"id": "P7", "lat": f.LAT, "lon": f.LON, "timestamp": int(now.timestamp())}
    reply = APIClient().get(f"/api/feeds/osmand/{token}/", query).json()
    assert reply["units"] == {"created": 1, "updated": 0, "ambiguous": 0} and reply["ignored_types"] == {}


def test_osmand_json_bodies_follow_the_same_rules(home, now):
    """Traccar Client 9's JSON `device_id` is the device's id on the source, like the query's `id`."""
    f.unit(agency=home, call_sign="4815", lon=None)  # a call sign equal to the phone's id
    phone = f.unit(agency=home, call_sign="2B7", device_id="4815", lon=None)
    source = FeedSource.objects.create(agency=home, name="traccar", kind="osmand")
    body = (
        b'{"device_id": "4815", "location": {"timestamp": "%s", "coords": {"latitude": 47.61, "longitude": -122.33}}}'
        % now.isoformat().encode()
    )
    report = feed_ingest(source_id=source.pk, payload=body, content_type="application/json")
    assert (report.accepted, report.units_updated, report.ambiguous) == (1, 1, 0)
    assert UnitPosition.objects.get().unit == phone


def test_admin_shows_health_and_a_unit_s_identities(client, home, now):
    admin = f.user(agency=home, role="agency_admin", is_staff=True, is_superuser=True)
    client.force_login(admin)
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)
    osmand(source, "PHONE-42", now)
    FeedSource.objects.filter(pk=source.pk).update(misconfigured_reason="sent trip updates")

    listing = client.get("/admin/feeds/feedsource/").content.decode()
    assert "Misconfigured (it sends the wrong kind of data)" in listing
    unit = Unit.objects.get(identities__external_id="PHONE-42")
    page = client.get(f"/admin/units/unit/{unit.pk}/change/").content.decode()
    assert "PHONE-42" in page and f"feed:{source.pk}" in page


def test_an_id_introduced_meanwhile_by_another_ingest_is_reused(home, now):
    """Two ingests of one source racing to introduce the same id: the loser uses the winner's unit."""
    from apps.units.services import _unit_introduce

    winner = f.unit(agency=home, call_sign="W1")
    winner.identities.create(namespace="feed:race", external_id="R1")
    fix = Fix(unit_ref="R1", lon=f.LON, lat=f.LAT, recorded_at=now)
    assert _unit_introduce(agency_id=home.pk, namespace="feed:race", fix=fix) == winner
    assert Unit.objects.filter(agency=home).count() == 1
