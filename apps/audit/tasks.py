"""Periodic audit work: the signed checkpoint of the chain's head (apps/audit/checkpoints.py)."""

from celery import shared_task

from .checkpoints import audit_checkpoint_write


# Reads one row and a count and appends one line: seconds at most, even on a large trail.
@shared_task(soft_time_limit=60, time_limit=90)
def audit_checkpoint_task() -> dict:
    return audit_checkpoint_write()
