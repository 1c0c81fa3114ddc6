"""The daily purge. Beat runs `retention_purge_all` once a day; a run that hits its time budget leaves the rest
for the next one (each class's receipt says whether it completed)."""

from __future__ import annotations

from celery import shared_task

from . import services

# The worker's limits sit above the purge's own budget: the budget ends the run cleanly between batches, the soft
# limit only fires if a single batch hangs, and the hard limit after that.
_BUDGET = services.budget_default()


@shared_task(soft_time_limit=_BUDGET + 120, time_limit=_BUDGET + 180)
def retention_purge_all() -> dict[str, int]:
    """Purge every enabled retention class; returns the rows deleted per class."""
    return {r.data_class: r.rows_deleted for r in services.retention_purge_all(budget_seconds=_BUDGET)}
