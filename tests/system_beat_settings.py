"""Settings for the Celery beat tests/test_running_system.py starts: the test settings with the project's real
beat schedule (the same entries, tasks and options), except that no entry waits longer than EVERY seconds
between runs, so that every one of them (the daily purge included) runs within a minute. Entries already due
more often keep their own interval (the 5 s feed-poll tick stays 5 s)."""

from __future__ import annotations

from rtcc_gis.settings_test import *  # noqa: F403
from rtcc_gis.settings_test import CELERY_BEAT_SCHEDULE as PROJECT_BEAT_SCHEDULE

EVERY = 15.0


def _at_most_every(schedule: object) -> object:
    if isinstance(schedule, int | float) and schedule <= EVERY:
        return schedule
    return EVERY  # a longer interval or a crontab (daily) becomes a short interval


CELERY_BEAT_SCHEDULE = {
    name: {**entry, "schedule": _at_most_every(entry["schedule"])} for name, entry in PROJECT_BEAT_SCHEDULE.items()
}
