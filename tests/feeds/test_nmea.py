"""NMEA 0183 on every real log in ../shared/data/formats/nmea/ (see its README.md), and the edge cases
those logs show: checksums, skipped sentences, dates from RMC/ZDA, midnight in GGA-only logs, signed
coordinates beside a hemisphere letter, and whose unit the fixes land on."""

from __future__ import annotations

from datetime import UTC, date, datetime
from itertools import pairwise

import pytest

from apps.feeds.adapters.base import PayloadError
from apps.feeds.adapters.nmea import NmeaAdapter
from apps.feeds.models import FeedSource
from apps.feeds.services import feed_ingest
from apps.units.models import Unit, UnitPosition

from ..real_samples import real_sample

KNOT = 1852.0 / 3600.0

# file -> (fixes, rejected lines, skipped by reason, unit ref when no device id is configured)
EXPECTED = {
    "gpsbabel_reference_track_backfilldate_GGAonly.nmea": (500, 0, {}, "GP"),
    "gpsbabel_reference_track_nmea+ms_2007.nmea": (
        32,
        0,
        {"GSA sentence": 29, "VTG sentence": 31, "GSV sentence": 5},
        "GP",
    ),
    "gpsbabel_reference_track_nmea_2004.nmea": (
        154,
        0,
        {"GSA sentence": 154, "VTG sentence": 154, "GSV sentence": 93, "GPMSS sentence (unknown)": 31},
        "GP",
    ),
    "josm_btnmeatrack_2016-01-25.nmea": (30, 0, {"GSA sentence": 12, "VTG sentence": 6, "GSV sentence": 10}, "GP"),
    "josm_regress2147_SonyGPS_WG20080203171807.log.nmea": (
        487,
        0,
        {"non-NMEA line": 1, "GSA sentence": 487, "GSV sentence": 1461, "VTG sentence": 487},
        "Sonygps",
    ),
}
REGRESS_1853 = "josm_regress1853_PosData-20081216-115434.nmea"


def log(name: str) -> bytes:
    return real_sample("nmea", name).read_bytes()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_real_log_is_read(name):
    fixes, rejected, skipped, unit_ref = EXPECTED[name]
    result = NmeaAdapter().parse(log(name))
    assert (len(result.records), len(result.rejected), result.ignored) == (fixes, rejected, skipped)
    assert {r.unit_ref for r in result.records} == {unit_ref}
    times = [r.recorded_at for r in result.records]
    assert len(set(times)) == len(times)  # GGA + RMC of one instant are one fix


def test_gga_and_rmc_of_one_instant_merge_with_rmc_speed_and_course():
    [first, *_] = NmeaAdapter().parse(log("gpsbabel_reference_track_nmea_2004.nmea")).records
    # $GPGGA,032908.379,4231.8291,N,08807.3033,W,... / $GPRMC,032908.379,A,...,0.17,138.92,070804
    assert first.recorded_at == datetime(2004, 8, 7, 3, 29, 8, 379000, tzinfo=UTC)
    assert (first.lat, first.lon) == pytest.approx((42 + 31.8291 / 60, -(88 + 7.3033 / 60)))
    assert first.heading == 138.92 and first.speed == pytest.approx(0.17 * KNOT)


def test_gga_only_log_crossing_midnight_takes_its_date_from_the_zda_after_it():
    records = NmeaAdapter().parse(log("gpsbabel_reference_track_backfilldate_GGAonly.nmea")).records
    days = sorted({r.recorded_at.date() for r in records})
    assert days == [date(2019, 3, 8), date(2019, 3, 9)]
    assert records[0].recorded_at == datetime(2019, 3, 8, 23, 56, tzinfo=UTC)
    assert records[-1].recorded_at.date() == date(2019, 3, 9)
    assert all(a.recorded_at < b.recorded_at for a, b in pairwise(records))


def test_sub_second_fixes_and_crlf():
    records = NmeaAdapter().parse(log("gpsbabel_reference_track_nmea+ms_2007.nmea")).records
    assert {r.recorded_at.microsecond for r in records} >= {0, 500000, 750000}
    assert records[0].recorded_at.date() == date(2007, 8, 17)


def test_regress1853_without_a_date_is_refused_with_the_reason():
    """Its RMC date is 000070 (day 0, month 0: the receiver had no date) and it has no ZDA."""
    with pytest.raises(PayloadError, match="no valid date .* params.date"):
        NmeaAdapter().parse(log(REGRESS_1853))


def test_regress1853_negative_values_beside_n_and_e_are_south_and_west():
    """Decided: a minus sign wins over the letter. The log's vehicle drives around Porto Alegre, Brazil
    (-30.05, -51.44); reading the letters would put it in Iran (30.05 N, 51.44 E)."""
    result = NmeaAdapter().parse(log(REGRESS_1853), params={"date": "2008-12-16"})
    assert (len(result.records), len(result.rejected)) == (1285, 0)
    first = result.records[0]
    assert (first.lat, first.lon) == pytest.approx((-(30 + 3.1914 / 60), -(51 + 26.2728 / 60)))
    assert all(-31 < r.lat < -29 and -53 < r.lon < -50 for r in result.records)
    assert first.recorded_at == datetime(2008, 12, 16, 11, 54, 34, tzinfo=UTC)
    assert max(r.speed for r in result.records) == pytest.approx(44 * KNOT, abs=1.0)  # a vehicle, up to 44 kn


def test_a_bad_checksum_rejects_its_line_only():
    lines = log("josm_btnmeatrack_2016-01-25.nmea").decode().splitlines()
    # The third line is a real GGA with checksum *7E; change one digit of its latitude.
    assert lines[2].startswith("$GPGGA,050509.400,4659.2842")
    lines[2] = lines[2].replace("4659.2842", "4659.2843")
    result = NmeaAdapter().parse("\n".join(lines).encode())
    assert [(r.index, r.reason) for r in result.rejected] == [(2, "line 3: checksum does not match the sentence")]
    assert len(result.records) == 30  # that instant still has its RMC


def test_no_fix_sentences_and_garbage_lines_are_counted_not_stored():
    body = (
        b"$GPGGA,120000.000,,,,,0,00,99.9,,M,,M,,\r\n"  # no fix yet
        b"$GPRMC,120001.000,V,4659.2842,N,00124.0315,W,0.0,0.0,250116,,,N\r\n"  # void
        b"$GPXYZ,1,2,3\r\n"
        b"hello\r\n"
        b"$GPRMC,120002.000,A,4659.2842,N,00124.0315,W,0.0,0.0,250116,,,A\r\n"
    )
    result = NmeaAdapter().parse(body, params={"device_id": "truck-7"})
    assert [(r.unit_ref, r.recorded_at) for r in result.records] == [
        ("truck-7", datetime(2016, 1, 25, 12, 0, 2, tzinfo=UTC))
    ]
    assert result.ignored == {
        "GGA without a fix": 1,
        "RMC without a valid fix": 1,
        "GPXYZ sentence (unknown)": 1,
        "non-NMEA line": 1,
    }


def test_several_talkers_without_a_device_id_are_refused():
    body = (
        b"$GPRMC,120002.000,A,4659.2842,N,00124.0315,W,0.0,0.0,250116,,,A\n"
        b"$GNRMC,120003.000,A,4659.2842,N,00124.0315,W,0.0,0.0,250116,,,A\n"
    )
    with pytest.raises(PayloadError, match="2 talkers .*params.device_id"):
        NmeaAdapter().parse(body)
    assert len(NmeaAdapter().parse(body, params={"device_id": "rx"}).records) == 2


def test_an_nmea_source_lands_its_log_on_its_device_unit(home):
    source = FeedSource.objects.create(
        agency=home, name="Sony logger", kind="nmea", auto_create_units=True, params={"device_id": "GPS-CS1"}
    )
    name = "josm_regress2147_SonyGPS_WG20080203171807.log.nmea"
    report = feed_ingest(source_id=source.pk, payload=log(name), content_type="text/plain")
    assert (report.accepted, len(report.rejected), report.units_created) == (487, 0, 1)
    assert report.as_dict()["ignored_types"]["GSV sentence"] == 1461
    unit = Unit.objects.get(identities__namespace=f"feed:{source.pk}", identities__external_id="GPS-CS1")
    assert UnitPosition.objects.filter(unit=unit).count() == 487
    assert unit.last_seen == datetime(2008, 2, 3, 19, 24, 57, tzinfo=UTC)
    again = feed_ingest(source_id=source.pk, payload=log(name))
    assert (again.accepted, again.duplicates) == (0, 487)


def test_unreadable_fields_reject_their_line_and_time_less_positions_are_skipped():
    body = (
        b"$GPRMC,120002.000,A,4659.2842,N,00124.0315,W,abc,0.0,250116,,,A\n"  # speed is not a number
        b"$GPGGA,12x000.000,4659.2842,N,00124.0315,W,1,08,0.8,46.1,M,,,\n"  # time is not a time
        b"$GPRMC,120003.000,A,4659.9942,N,00124.0315,W,0.0,0.0,250116,,,A\n"  # 59.9942 minutes: fine
        b"$GPRMC,120004.000,A,4661.0000,N,00124.0315,W,0.0,0.0,250116,,,A\n"  # 61 minutes
        b"$GPGLL,4916.45,N,12311.12,W\n"  # NMEA 1.5 GLL: no time, no status
        b"!AIVDM,1,1,,A,13aEOK?P00PD2wVMdLDRhgvL289?,0*26\n"
    )
    result = NmeaAdapter().parse(body, params={"device_id": "d"})
    assert [r.recorded_at.second for r in result.records] == [3]
    assert [(r.index, r.reason) for r in result.rejected] == [
        (0, "line 1: RMC speed 'abc' is not a number"),
        (1, "line 2: GGA time '12x000.000' is not a time of day"),
        (3, "line 4: latitude '4661.0000' has 61.0000 minutes (must be under 60)"),
    ]
    assert result.ignored == {"GLL without a valid fix": 1, "encapsulated sentence (AIS)": 1}


def test_exponents_and_broken_zda_times_found_by_mutating_real_lines():
    """Mutated real lines once crashed the adapter: `float()` reads "-5130E4950" as infinity, and pynmea2
    hands back a ZDA time it could not read as text."""
    body = (
        b"$GPRMC,120316.741,A,-3003.4968,N,-5130E4950,E,44.3,266.0,000070,,,A\n"
        b"$GPZDA,N05759.600,25,01,2016,00,00\n"
        b"$GPRMC,120317.000,A,-3003.4968,N,-5130.4950,E,44.3,266.0,160108,,,A\n"
    )
    result = NmeaAdapter().parse(body, params={"device_id": "d"})
    assert len(result.records) == 1
    assert result.rejected[0].reason == "line 1: longitude '-5130E4950' is not degrees and minutes (DDMM.mmmm)"
    assert result.ignored == {"ZDA without a time": 1}


def test_a_payload_without_any_nmea_is_a_misconfigured_source(home):
    source = FeedSource.objects.create(agency=home, name="gps", kind="nmea", params={"device_id": "d"})
    gtfs_json = real_sample("gtfs_rt", "caltrain_ct-vehicle-positions.pb.json").read_bytes()
    with pytest.raises(PayloadError, match="no NMEA sentences"):
        feed_ingest(source_id=source.pk, payload=gtfs_json)
    source.refresh_from_db()
    assert source.health == "misconfigured"
    # An empty push (a keep-alive) is nothing, not an error.
    assert feed_ingest(source_id=source.pk, payload=b"\r\n").accepted == 0
    source.refresh_from_db()
    assert source.health == "healthy"
