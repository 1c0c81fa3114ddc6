"""Celery tasks for polled sources. Beat runs `feeds_poll_due` every few seconds; it hands each due
source to `feed_poll` on a worker, so more workers means more sources polled in parallel."""

from __future__ import annotations

import base64
import logging
import os
import urllib.error
import urllib.request
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.queue import enqueue_on_commit

from .adapters.base import PayloadError, TransientError
from .cap_poll import cap_index_poll, cap_index_root
from .choices import FeedMode
from .models import FeedSource
from .services import FeedUnavailable, feed_ingest

log = logging.getLogger(__name__)


# soft < hard: without its own soft limit the global one (240 s) is above 30 s and Celery refuses to send it.
@shared_task(soft_time_limit=25, time_limit=30)
def feeds_poll_due() -> int:
    """Queue a poll for every enabled polled source whose interval has passed. Rows are claimed
    under SKIP LOCKED, so two beats (or a slow one) never queue the same poll twice."""
    now = timezone.now()
    queued: list[tuple[int, object]] = []
    with transaction.atomic():
        due = (
            FeedSource.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, mode=FeedMode.POLL)
            .exclude(url="")
        )
        for source in due:
            if source.last_polled_at and source.last_polled_at + timedelta(seconds=source.poll_interval) > now:
                continue
            queued.append((source.pk, source.last_polled_at))
            source.last_polled_at = now
            source.save(update_fields=["last_polled_at"])
    for pk, previous in queued:
        # A poll the broker did not take puts its source back in line for the next beat, rather
        # than leaving it marked as polled for a whole interval.
        enqueue_on_commit(
            feed_poll,
            pk,
            what=f"poll of feed source {pk}",
            reraise=False,
            on_failure=lambda _reason, pk=pk, previous=previous: FeedSource.objects.filter(
                pk=pk, last_polled_at=now
            ).update(last_polled_at=previous),
        )
    return len(queued)


def credentials_header(source: FeedSource) -> str:
    """The Authorization header value for the source's poll credentials ("" when it has none)."""
    if not source.credentials_ref:
        return ""
    secret = os.environ.get(source.credentials_ref, "")
    if not secret:
        raise PayloadError(f"environment variable {source.credentials_ref} (credentials) is not set")
    if ":" in secret:  # user:password
        return "Basic " + base64.b64encode(secret.encode()).decode()
    return f"Bearer {secret}"


def _fetch(source: FeedSource) -> tuple[bytes, str]:
    request = urllib.request.Request(source.url, headers={"User-Agent": "rtcc-gis feed poller"})
    if authorization := credentials_header(source):
        request.add_header("Authorization", authorization)
    limit = settings.RTCC_FEED_MAX_BYTES
    try:
        with urllib.request.urlopen(request, timeout=settings.RTCC_FEED_POLL_TIMEOUT) as response:  # noqa: S310
            body = response.read(limit + 1)
            content_type = response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientError(f"upstream answered {exc.code}") from None
        raise PayloadError(f"upstream answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise TransientError(f"could not reach {source.url}: {getattr(exc, 'reason', exc)}") from None
    if len(body) > limit:
        raise PayloadError(f"upstream payload is over the {limit} byte limit")
    return body, content_type


@shared_task(bind=True, time_limit=120, soft_time_limit=100, max_retries=3)
def feed_poll(self, source_id: int) -> dict | None:
    """Fetch one polled source and ingest it. Transient failures retry with backoff; permanent ones
    are recorded on the source (and as a dead letter when the payload was unusable)."""
    source = FeedSource.objects.filter(pk=source_id, enabled=True, mode=FeedMode.POLL).first()
    if source is None:
        return None  # disabled or deleted since it was queued
    try:
        body, content_type = _fetch(source)
        if source.kind == "cap" and (root := cap_index_root(body)) is not None:
            # An ATOM/RSS index: its entries' linked CAP documents are fetched too (apps.feeds.cap_poll).
            return cap_index_poll(source, body, content_type, root)
        return feed_ingest(source_id=source.pk, payload=body, content_type=content_type).as_dict()
    except TransientError as exc:
        _note_error(source, str(exc))
        if self.request.retries >= self.max_retries:
            # An upstream that stays down is the source's state (last_error, the feed health page), not a
            # fault of ours: no traceback in the worker's log. Its next scheduled poll is the next try.
            log.warning("feed %s poll gave up after %s retries: %s", source.pk, self.max_retries, exc)
            return None
        raise self.retry(exc=exc, countdown=min(60, 5 * 2**self.request.retries)) from None
    except PayloadError as exc:
        _note_error(source, str(exc))
        log.warning("feed %s poll failed: %s", source.pk, exc)
        return None
    except FeedUnavailable:
        return None


def _note_error(source: FeedSource, message: str) -> None:
    FeedSource.objects.filter(pk=source.pk).update(
        last_error_at=timezone.now(), last_error=message[:2000], updated_at=timezone.now()
    )
