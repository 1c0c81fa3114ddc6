"""Queue a Celery task when the current transaction commits, and say so when the broker is down.

A row that waits for a task (a pending hotspot run, a source marked as polled) and a task that
never reached the broker is an orphan: the row waits forever. Every call site goes through
enqueue_on_commit(), which on a broker failure runs the caller's `on_failure(reason)` (mark the run
failed, put the source back in line) and raises BrokerUnavailable, which the API answers with 503
naming the broker (apps.core.unavailable).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db import transaction

from .unavailable import BROKER, DOWN_ERRORS, ServiceUnavailable

logger = logging.getLogger(__name__)

BROKER_ERRORS = DOWN_ERRORS[BROKER]


class BrokerUnavailable(ServiceUnavailable):
    """The task (`what`) could not be handed to the broker; the caller's on_failure has recorded it."""

    def __init__(self, what: str) -> None:
        super().__init__(BROKER, what=what)


def enqueue_on_commit(
    task: Any,
    *args: Any,
    on_failure: Callable[[str], None] | None = None,
    reraise: bool = True,
    what: str = "",
    **kwargs: Any,
) -> None:
    """`task.delay(*args, **kwargs)` once the transaction commits (at once outside one).

    On a broker failure: `on_failure(reason)` runs (in its own autocommit: the transaction that
    created the row is already committed), then BrokerUnavailable is raised unless `reraise` is
    False (a periodic task going through many rows). `what` names the job in the message."""

    def send() -> None:
        try:
            task.delay(*args, **kwargs)
        except BROKER_ERRORS as exc:
            label = what or getattr(task, "name", "task")
            reason = f"{label} could not be queued: the task broker (Redis) is down ({type(exc).__name__}: {exc})"
            logger.warning("%s", reason)
            if on_failure is not None:
                on_failure(reason)
            if reraise:
                raise BrokerUnavailable(label) from exc

    transaction.on_commit(send)
