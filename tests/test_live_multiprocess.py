"""Live updates across processes: two Daphne servers, one publisher, every map gets the message.

This is the production shape: several ASGI processes behind a balancer, Celery workers and web
workers publishing. Only Redis (channel layer + streams) and the database are shared.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from apps.core.geo import make_point
from apps.live.publish import publish
from apps.units.models import Unit

from . import factories as f
from .live_support import DaphneServer, session_cookie, test_database_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def servers(live_prefix, transactional_db) -> Iterator[list[int]]:
    """Two server processes on the test database and the test's Redis prefixes; always stopped."""
    env = {
        "DATABASE_URL": test_database_url(),
        "REDIS_URL": django_settings.REDIS_URL,
        "CHANNELS_PREFIX": live_prefix,
        "RTCC_LIVE_KEY_PREFIX": f"{live_prefix}:live",
    }
    started = [DaphneServer(env), DaphneServer(env)]
    try:
        for server in started:
            server.start()
        yield [server.port for server in started]
    finally:
        for server in started:
            server.stop()


def _open(port: int, cookie: str) -> ClientConnection:
    return connect(
        f"ws://127.0.0.1:{port}/ws/live/",
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        open_timeout=5,
    )


def _recv(ws: ClientConnection) -> dict:
    return json.loads(ws.recv(timeout=5))


def test_a_message_published_here_reaches_maps_on_two_servers(servers, home, operator):
    unit = f.unit(agency=home)
    cookie = session_cookie(operator)  # committed: this is a transactional test

    with contextlib.ExitStack() as stack:
        maps = [stack.enter_context(_open(port, cookie)) for port in servers]
        for ws in maps:
            ws.send(json.dumps({"action": "subscribe", "layers": ["units"]}))
            assert _recv(ws) == {"type": "subscribed", "layers": ["units"], "seq": 0}

        with transaction.atomic():
            unit.last_location = make_point(f.LON + 0.005, f.LAT)
            unit.last_seen = timezone.now()
            unit.save(update_fields=["last_location", "last_seen", "updated_at"])
            publish(layer="units", instance=unit)

        got = [_recv(ws) for ws in maps]
        assert [m["type"] for m in got] == ["feature.upserted", "feature.upserted"]
        assert [m["seq"] for m in got] == [1, 1]
        assert got[0] == got[1]
        assert got[0]["feature"]["id"] == unit.pk
        assert Unit.objects.get(pk=unit.pk).last_location.x == pytest.approx(f.LON + 0.005)


def test_servers_refuse_a_map_without_a_session(servers):
    with pytest.raises(InvalidStatus) as refused, _open(servers[0], "sessionid=nobody"):
        pass
    assert refused.value.response.status_code == 403
