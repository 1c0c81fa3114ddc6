"""Two pushes of one record at the same instant (a sender's retry racing its first try)."""

import threading
from datetime import UTC

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.feeds.models import FeedSource
from apps.feeds.services import feed_ingest
from apps.sensors.models import GunshotDetection

from .. import factories as f

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_record_another_push_commits_meanwhile_is_a_duplicate_not_a_500():
    # The other push inserts the same detection and holds its transaction open: our look-up cannot see it,
    # our insert waits on the unique index until the other commits, then fails. That record is a
    # duplicate (it is stored, once), and the good record beside it is still stored.
    home = f.agency("RACE")
    source = FeedSource.objects.create(agency=home, name="gunshots", kind="gunshot_json")
    detected = timezone.now().replace(microsecond=0)
    inserted, release = threading.Event(), threading.Event()

    def other_push():
        try:
            with transaction.atomic():
                f.gunshot(agency=home, source=source.name, source_id="G-1", detected_at=detected)
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    other = threading.Thread(target=other_push)
    other.start()
    assert inserted.wait(10)
    threading.Timer(1.0, release.set).start()  # commits while our insert waits on the unique index
    when = detected.astimezone(UTC).isoformat().replace("+00:00", "Z")
    body = (
        f'[{{"id": "G-1", "lon": {f.LON}, "lat": {f.LAT}, "detected_at": "{when}", "rounds": 2}},'
        f' {{"id": "G-2", "lon": {f.LON}, "lat": {f.LAT}, "detected_at": "{when}", "rounds": 1}}]'
    )
    try:
        report = feed_ingest(source_id=source.pk, payload=body.encode())
    finally:
        release.set()
        other.join(10)
    assert (report.accepted, report.duplicates, report.rejected) == (1, 1, [])
    assert sorted(GunshotDetection.objects.values_list("source_id", flat=True)) == ["G-1", "G-2"]
