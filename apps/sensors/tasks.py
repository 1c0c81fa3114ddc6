"""Periodic alert upkeep: alerts whose `expires` has passed are closed (CAP `expires`)."""

from __future__ import annotations

from celery import shared_task

from .services import alerts_close_expired


# soft < hard (tests/test_tasks.py checks every beat entry): a slow run stops cleanly, the next beat goes on.
@shared_task(soft_time_limit=50, time_limit=60)
def alerts_close_expired_task() -> int:
    """Close every open or acknowledged alert past its expiry; returns how many."""
    return alerts_close_expired()
