"""GTFS-Realtime on every real feed in ../shared/data/formats/gtfs_rt/ (see its README.md), protobuf and
JSON, through the adapter and through ingest: what is accepted, what is refused and why, and whose unit
each vehicle's fix lands on."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from google.transit import gtfs_realtime_pb2

from apps.feeds.adapters.base import MisconfiguredError
from apps.feeds.adapters.gtfs_rt import GtfsRealtimeAdapter
from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.services import feed_ingest
from apps.units.models import Unit, UnitPosition

from .. import factories as f
from ..real_samples import real_sample

# file -> (vehicles accepted, rejected): every vehicle of every real feed is usable.
EXPECTED = {
    "caltrain_ct-vehicle-positions.pb": (14, 0),
    "caltrain_ct-vehicle-positions.pb.json": (14, 0),
    "edmonton_ets_VehiclePositions.pb": (268, 0),
    "estonia_maanteeamet_VehiclePositions.pb": (7, 0),
    "halifax_transit_VehiclePositions.pb": (291, 0),
    "hart_tampa_vehicle-positions_EMPTY.pb": (0, 0),
    "marta_atlanta_vehiclepositions.pb": (195, 0),
    "usf_bullrunner_vehicle-positions.pb": (10, 0),
}


def feed(name: str) -> gtfs_realtime_pb2.FeedMessage:
    message = gtfs_realtime_pb2.FeedMessage()
    message.ParseFromString(real_sample("gtfs_rt", name).read_bytes())
    return message


def parse(name: str):
    path = real_sample("gtfs_rt", name)
    return GtfsRealtimeAdapter().parse(
        path.read_bytes(), content_type="application/json" if name.endswith("json") else ""
    )


def source(agency, name: str, **kw) -> FeedSource:
    return FeedSource.objects.create(agency=agency, name=name, kind="gtfs_rt", auto_create_units=True, **kw)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_feed_is_read(name):
    result = parse(name)
    assert (len(result.records), len(result.rejected)) == EXPECTED[name], result.rejected[:3]
    assert len({r.unit_ref for r in result.records}) == len(result.records)  # one fix per vehicle


def test_caltrain_protobuf_and_its_json_rendering_give_the_same_fixes():
    binary, rendered = parse("caltrain_ct-vehicle-positions.pb"), parse("caltrain_ct-vehicle-positions.pb.json")

    def key(r):
        # The JSON rendering rounds floats to 5 decimals.
        return (r.unit_ref, round(r.lon, 5), round(r.lat, 5), r.recorded_at, r.heading, r.speed, r.call_sign)

    assert [key(r) for r in binary.records] == [key(r) for r in rendered.records]
    # Sniffed without a content type too: a polled URL may answer text/plain.
    sniffed = GtfsRealtimeAdapter().parse(real_sample("gtfs_rt", "caltrain_ct-vehicle-positions.pb.json").read_bytes())
    assert sniffed.records == rendered.records


def test_usf_vehicles_without_timestamps_take_the_header_time():
    message = feed("usf_bullrunner_vehicle-positions.pb")
    header = datetime.fromtimestamp(message.header.timestamp, UTC)
    records = parse("usf_bullrunner_vehicle-positions.pb").records
    assert {r.recorded_at for r in records} == {header}
    assert [r.unit_ref for r in records] == [e.vehicle.vehicle.id for e in message.entity]


def test_halifax_vehicles_are_named_by_vehicle_id_not_entity_id():
    message = feed("halifax_transit_VehiclePositions.pb")
    records = parse("halifax_transit_VehiclePositions.pb").records
    differing = [e for e in message.entity if e.id != e.vehicle.vehicle.id]
    assert differing  # the quirk is there
    assert [r.unit_ref for r in records] == [e.vehicle.vehicle.id for e in message.entity]
    assert sum(r.heading is None for r in records) == 36  # bearing missing on 36: unknown, not 0


def test_estonia_version_2_feed_without_vehicle_timestamps():
    message = feed("estonia_maanteeamet_VehiclePositions.pb")
    assert message.header.gtfs_realtime_version == "2.0"
    records = parse("estonia_maanteeamet_VehiclePositions.pb").records
    assert {r.recorded_at.timestamp() for r in records} == {message.header.timestamp}
    assert "535 Paldiski" in {r.call_sign for r in records}


def test_marta_invalid_direction_ids_do_not_cost_a_fix():
    message = feed("marta_atlanta_vehiclepositions.pb")
    assert sum(e.vehicle.trip.direction_id > 1 for e in message.entity) == 151
    assert len(parse("marta_atlanta_vehiclepositions.pb").records) == 195


def test_hart_empty_feed_is_accepted_with_zero_records(home):
    hart = source(home, "HART")
    report = feed_ingest(
        source_id=hart.pk, payload=real_sample("gtfs_rt", "hart_tampa_vehicle-positions_EMPTY.pb").read_bytes()
    )
    assert (report.accepted, len(report.rejected), report.ignored) == (0, 0, {})
    hart.refresh_from_db()
    assert hart.health == "healthy" and hart.last_success_at is not None


@pytest.mark.parametrize("name", ["edmonton_ets_VehiclePositions.pb", "marta_atlanta_vehiclepositions.pb"])
def test_stale_vehicles_are_kept_as_history_not_as_a_newer_position(home, name):
    """Edmonton and MARTA carry vehicles minutes older than the header. Their fix is stored at its own
    time; a unit we already saw later does not move back to it."""
    message = feed(name)
    stale = min((e for e in message.entity), key=lambda e: e.vehicle.timestamp)
    assert message.header.timestamp - stale.vehicle.timestamp > 600
    later = datetime.fromtimestamp(message.header.timestamp, UTC)
    transit = source(home, name)
    # The vehicle is already known to this source, seen at the header's time (newer than its stale fix).
    known = f.unit(agency=home, call_sign="KNOWN", lon=-100.0, lat=40.0, last_seen=later)
    known.identities.create(namespace=f"feed:{transit.pk}", external_id=stale.vehicle.vehicle.id)

    report = feed_ingest(source_id=transit.pk, payload=real_sample("gtfs_rt", name).read_bytes())

    assert report.accepted == len(message.entity) and report.rejected == []
    known.refresh_from_db()
    assert known.last_seen == later and known.last_location.coords == (-100.0, 40.0)
    kept = UnitPosition.objects.get(unit=known)
    assert kept.recorded_at == datetime.fromtimestamp(stale.vehicle.timestamp, UTC)
    # Every other vehicle is new; the known one did not move, so no unit counts as updated.
    assert (report.units_created, report.units_updated) == (len(message.entity) - 1, 0)


def test_two_real_feeds_in_one_agency_never_share_a_unit(home):
    """Real clashes between real feeds: Edmonton's vehicle 2240 is labelled "4608" and MARTA has a vehicle
    whose id is 4608; Edmonton and Halifax share 51 vehicle ids. Matching ids against call signs, or one
    agency-wide id space, would put one city's bus on the other's unit."""
    feeds = {
        "edmonton_ets_VehiclePositions.pb": source(home, "ETS"),
        "marta_atlanta_vehiclepositions.pb": source(home, "MARTA"),
        "halifax_transit_VehiclePositions.pb": source(home, "Halifax"),
    }
    for name, transit in feeds.items():
        report = feed_ingest(source_id=transit.pk, payload=real_sample("gtfs_rt", name).read_bytes())
        assert report.accepted == report.units_created == EXPECTED[name][0] and report.rejected == []

    assert Unit.objects.filter(agency=home).count() == 268 + 195 + 291
    assert not Unit.objects.filter(positions__source="ETS").filter(positions__source="MARTA").exists()
    assert not Unit.objects.filter(positions__source="ETS").filter(positions__source="Halifax").exists()
    labelled = Unit.objects.get(agency=home, call_sign="4608")  # Edmonton's vehicle 2240
    assert labelled.identities.get().external_id == "2240"
    marta_4608 = Unit.objects.get(
        identities__namespace=f"feed:{feeds['marta_atlanta_vehiclepositions.pb'].pk}", identities__external_id="4608"
    )
    assert marta_4608.pk != labelled.pk

    # The next poll of each feed updates its own units only.
    for name, transit in feeds.items():
        again = feed_ingest(source_id=transit.pk, payload=real_sample("gtfs_rt", name).read_bytes())
        assert (again.duplicates, again.units_created) == (EXPECTED[name][0], 0)


def _relabelled_caltrain(*, keep_ids: bool) -> bytes:
    """Two real Caltrain entities re-encoded with one label, "1717" (a real transit feed labels a bus and a
    rail car both 1717; no such pair is in the corpus, so it is built here from real entities)."""
    message = feed("caltrain_ct-vehicle-positions.pb")
    del message.entity[2:]
    for entity in message.entity:
        entity.vehicle.vehicle.label = "1717"
        if not keep_ids:
            entity.vehicle.vehicle.ClearField("id")
    return message.SerializeToString()


def test_a_shared_label_with_vehicle_ids_is_two_units(home):
    transit = source(home, "Caltrain")
    report = feed_ingest(source_id=transit.pk, payload=_relabelled_caltrain(keep_ids=True))
    assert (report.accepted, report.units_created) == (2, 2)
    units = Unit.objects.filter(agency=home).order_by("pk")
    assert [u.call_sign for u in units] == ["1717", "125"]  # the label, then the id when the label is taken
    assert [u.identities.get().external_id for u in units] == ["124", "125"]


def test_a_shared_label_without_vehicle_ids_is_refused_as_ambiguous(home):
    transit = source(home, "Caltrain")
    report = feed_ingest(source_id=transit.pk, payload=_relabelled_caltrain(keep_ids=False))
    assert (report.accepted, report.ambiguous, len(report.rejected)) == (0, 2, 2)
    assert report.rejected[0].reason.startswith("ambiguous unit id '1717': 2 entities without a vehicle id")
    assert not Unit.objects.filter(agency=home).exists()
    transit.refresh_from_db()
    assert transit.ambiguous_count == 2 and transit.health == "failing"


def _trip_updates_from_caltrain() -> bytes:
    """Caltrain's real trips as a TripUpdates feed: what a vehicle source gets when pointed at the wrong URL."""
    vehicles = feed("caltrain_ct-vehicle-positions.pb")
    updates = gtfs_realtime_pb2.FeedMessage()
    updates.header.CopyFrom(vehicles.header)
    for entity in vehicles.entity:
        update = updates.entity.add(id=entity.id)
        update.trip_update.trip.CopyFrom(entity.vehicle.trip)
        update.trip_update.timestamp = entity.vehicle.timestamp
    return updates.SerializeToString()


def test_trip_updates_on_a_vehicle_source_are_refused_and_the_source_is_misconfigured(home, commander_client):
    transit = source(home, "Caltrain")
    with pytest.raises(MisconfiguredError, match=r"no VehiclePositions \(14 TripUpdate\)"):
        feed_ingest(source_id=transit.pk, payload=_trip_updates_from_caltrain())
    transit.refresh_from_db()
    assert transit.health == "misconfigured" and "VehiclePositions" in transit.misconfigured_reason
    assert DeadLetter.objects.get(source=transit).index == -1
    row = commander_client.get("/api/feeds/").json()[0]
    assert row["health"] == "misconfigured" and "VehiclePositions" in row["misconfigured_reason"]

    # Pushed, it is a 400 naming the reason.
    token = transit.issue_token()
    from rest_framework.test import APIClient

    pushed = APIClient().post(
        "/api/feeds/push/",
        data=_trip_updates_from_caltrain(),
        content_type="application/x-protobuf",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert pushed.status_code == 400 and "no VehiclePositions" in pushed.json()["detail"]

    # Once the right feed arrives the source is healthy again.
    feed_ingest(source_id=transit.pk, payload=real_sample("gtfs_rt", "caltrain_ct-vehicle-positions.pb").read_bytes())
    transit.refresh_from_db()
    assert transit.health == "healthy" and transit.misconfigured_reason == ""


def test_alerts_only_feed_is_misconfigured_too():
    message = feed("caltrain_ct-vehicle-positions.pb")
    alerts = gtfs_realtime_pb2.FeedMessage()
    alerts.header.CopyFrom(message.header)
    alert = alerts.entity.add(id="a1").alert
    alert.informed_entity.add(route_id=message.entity[0].vehicle.trip.route_id)
    with pytest.raises(MisconfiguredError, match=r"1 Alert"):
        GtfsRealtimeAdapter().parse(alerts.SerializeToString())


def test_a_polled_json_feed_then_trip_updates_at_the_same_url(home):
    """Polled as agencies serve it: Caltrain's real JSON rendering, then (the URL changed upstream) its
    trips as TripUpdates. The source goes from healthy to misconfigured, and says why."""
    from apps.feeds.tasks import feed_poll

    from .test_poll import Upstream

    upstream = Upstream()
    try:
        json_body = real_sample("gtfs_rt", "caltrain_ct-vehicle-positions.pb.json").read_bytes()
        upstream.routes["/vp"] = (200, json_body, "application/json")
        transit = FeedSource.objects.create(
            agency=home, name="Caltrain", kind="gtfs_rt", mode="poll", url=upstream.base + "/vp", auto_create_units=True
        )
        report = feed_poll.apply(args=[transit.pk]).get()
        assert (report["accepted"], report["units"]) == (14, {"created": 14, "updated": 0, "ambiguous": 0})
        transit.refresh_from_db()
        assert transit.health == "healthy" and transit.units_created_count == 14

        upstream.routes["/vp"] = (200, _trip_updates_from_caltrain(), "application/x-protobuf")
        assert feed_poll.apply(args=[transit.pk]).get() is None
        transit.refresh_from_db()
        assert transit.health == "misconfigured" and "14 TripUpdate" in transit.last_error
    finally:
        upstream.close()


def test_a_feed_of_only_deleted_vehicles_is_not_misconfigured():
    """An incremental VehiclePositions feed may only remove vehicles: nothing to store, nothing wrong."""
    message = feed("caltrain_ct-vehicle-positions.pb")
    for entity in message.entity:
        entity.is_deleted = True
    result = GtfsRealtimeAdapter().parse(message.SerializeToString())
    assert (result.records, result.rejected, result.ignored) == ([], [], {"deleted entity": 14})
