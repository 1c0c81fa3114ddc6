"""Reading what the maps receive, for tests that write outside a WebSocket test: the events in an agency's
live stream, in order, once the writes committed (or their commit callbacks ran)."""

from __future__ import annotations

import json

import redis
from django.conf import settings

from apps.live import conf


def stream_events(agency_id: int) -> list[dict]:
    """The events of the agency's feed stream (its own maps'), oldest first."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        entries = client.xrange(f"{conf.key_prefix()}:agency.{int(agency_id)}")
    finally:
        client.close()
    return [json.loads(fields[b"m"]) for _id, fields in entries]
