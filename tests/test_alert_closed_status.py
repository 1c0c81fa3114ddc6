"""The `closed` alert status everywhere alerts are reasoned over (issue 11): live messages say
alert.closed, retention purges closed alerts a period after they closed, measures count an alert an
operator acknowledged before its source closed it, and not one closed unseen."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.gis.geos import MultiPolygon, Polygon
from django.utils import timezone

from apps.live.publish import publish
from apps.playback.selectors import playback_frames, playback_state_at
from apps.retention.models import RetentionPolicy
from apps.retention.services import retention_purge
from apps.sensors.choices import AlertStatus
from apps.sensors.models import Alert

from . import factories as f
from .test_measures import WEEK, la_home, local  # noqa: F401 - la_home is a fixture


def days_ago(days: float):
    return timezone.now() - timedelta(days=days)


def test_live_event_of_each_status_and_the_area_in_the_feature(home):
    square = Polygon.from_bbox((f.LON - 0.01, f.LAT - 0.01, f.LON + 0.01, f.LAT + 0.01))
    square.srid = 4326
    alert = f.alert(agency=home, area=MultiPolygon(square, srid=4326), area_desc="Pioneer Square")
    assert publish(layer="alerts", instance=alert)["type"] == "alert.raised"
    alert.status = AlertStatus.ACKNOWLEDGED
    assert publish(layer="alerts", instance=alert)["type"] == "alert.acknowledged"
    alert.status, alert.close_reason = AlertStatus.CLOSED, "expired at 2026-01-01"
    body = publish(layer="alerts", instance=alert)
    assert body["type"] == "alert.closed"
    props = body["feature"]["properties"]
    assert (props["status"], props["close_reason"]) == ("closed", "expired at 2026-01-01")
    assert props["area_desc"] == "Pioneer Square"
    assert props["area"]["type"] == "MultiPolygon"


def test_closed_alerts_are_purged_counted_from_their_closing(home, operator):
    old_closed = f.alert(agency=home, raised_at=days_ago(900), status="closed", closed_at=days_ago(400))
    recent_closed = f.alert(agency=home, raised_at=days_ago(900), status="closed", closed_at=days_ago(10))
    # Acknowledged long ago, but closed by its source recently: kept from the closing.
    acked_then_closed = f.alert(
        agency=home,
        raised_at=days_ago(900),
        status="closed",
        acknowledged_by=operator,
        acknowledged_at=days_ago(800),
        closed_at=days_ago(20),
    )
    open_old = f.alert(agency=home, raised_at=days_ago(900))
    retention_purge(policy=RetentionPolicy.objects.get(data_class="alerts"))
    kept = set(Alert.objects.values_list("pk", flat=True))
    assert kept == {recent_closed.pk, acked_then_closed.pk, open_old.pk}
    assert old_closed.pk not in kept


def test_measures_count_acknowledgements_of_alerts_closed_later(la_home, operator, planner_client):  # noqa: F811
    f.alert(
        agency=la_home,
        kind="sensor",
        raised_at=local(3, 8),
        status="closed",
        acknowledged_by=operator,
        acknowledged_at=local(3, 8, 2),
        closed_at=local(3, 9),
    )
    f.alert(agency=la_home, kind="sensor", raised_at=local(3, 10), status="closed", closed_at=local(3, 11))
    f.alert(agency=la_home, kind="hotlist_hit", raised_at=local(4, 10), status="closed", closed_at=local(4, 11))
    f.alert(agency=la_home, kind="hotlist_hit", raised_at=local(4, 12))
    data = planner_client.get("/api/measures/", WEEK).json()
    alerts = data["alerts"]
    assert (alerts["total"], alerts["acknowledged"], alerts["closed_unacknowledged"]) == (4, 1, 2)
    assert alerts["ack_p50_s"] == 120.0
    assert data["hotlist_hits"]["open"] == 1  # the closed hit is not waiting for anyone


def test_playback_drops_an_alert_from_its_closing(home, operator):
    t0 = timezone.now() - timedelta(hours=2)
    at = lambda minutes: t0 + timedelta(minutes=minutes)  # noqa: E731
    f.alert(agency=home, title="Cancelled", raised_at=at(0), status="closed", closed_at=at(30))
    f.alert(agency=home, title="Closed before", raised_at=at(-60), status="closed", closed_at=at(-10))
    assert [a["title"] for a in playback_state_at(user=operator, at=at(20))["alerts"]] == ["Cancelled"]
    assert playback_state_at(user=operator, at=at(30))["alerts"] == []  # closed exactly at T
    frames = playback_frames(user=operator, start=at(0), end=at(60))
    assert [(a["title"], a["closed_at"]) for a in frames["alerts"]] == [("Cancelled", at(30))]
