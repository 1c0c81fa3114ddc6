"""Live updates across processes: two Daphne servers, one publisher, every map gets the message.

This is the production shape: several ASGI processes behind a balancer, Celery workers and web
workers publishing. Only Redis (channel layer + streams) and the database are shared.
"""
from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from django.utils import timezone
from websockets.exceptions import InvalidStatus
from websockets.sync.client import ClientConnection, connect

from apps.core.geo import make_point
from apps.live.publish import publish
from apps.units.models import Unit

from . import factories as f
from .live_support import free_port, test_database_url

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)




def _wait_listening(proc: subprocess.Popen, port: int, log: Path, deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daphne on {port} exited:\n{log.read_text()}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"daphne on {port} did not start:\n{log.read_text()}")




@pytest.fixture
def servers(live_prefix, transactional_db) -> Iterator[list[int]]:
    """Two Daphne processes on the test database and the test's Redis prefixes; always stopped."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings",
        "DATABASE_URL": test_database_url(),
        "DB_CONN_MAX_AGE": "0",
        "REDIS_URL": django_settings.REDIS_URL,
        "CHANNELS_PREFIX": live_prefix,
        "RTCC_LIVE_KEY_PREFIX": f"{live_prefix}:live",
        "DJANGO_DEBUG": "1",
        "DJANGO_ALLOWED_HOSTS": "localhost,127.0.0.1",
    }
    daphne = str(Path(sys.executable).with_name("daphne"))
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as logs:
        try:
            ports = [free_port(), free_port()]
            started = []
            for port in ports:
                log = Path(logs) / f"daphne-{port}.log"
                with log.open("wb") as out:
                    proc = subprocess.Popen(
                        [daphne, "-b", "127.0.0.1", "-p", str(port), "rtcc_gis.asgi:application"],
                        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                    )
                procs.append(proc)
                started.append((proc, port, log))
            deadline = time.monotonic() + 15
            for proc, port, log in started:
                _wait_listening(proc, port, log, deadline)
            yield ports
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)


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
    client = Client()
    client.force_login(operator)  # committed: this is a transactional test
    name = django_settings.SESSION_COOKIE_NAME
    cookie = f"{name}={client.cookies[name].value}"

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
