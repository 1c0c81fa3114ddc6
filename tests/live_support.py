"""Shared pieces for the WebSocket tests: private Redis prefixes, communicators on the real ASGI app; and for
the tests that run the real server in a subprocess: DaphneServer and a signed-in session to send it; and
SystemProcess for the system's other processes (Celery worker and beat, the CoT listener)."""

from __future__ import annotations

import atexit
import contextlib
import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
import redis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.db import connection, connections
from django.test import Client

from apps.accounts.models import User
from apps.live import streams
from rtcc_gis.asgi import application

ORIGIN = (b"origin", b"http://localhost")
ROOT = Path(__file__).resolve().parent.parent


def live_test(fn: Callable) -> Callable:
    """An async test on committed data (publish() sends on commit only)."""
    return pytest.mark.asyncio(pytest.mark.django_db(transaction=True)(fn))


# ---- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def live(settings):
    """A private channel-layer and stream prefix for this test; its Redis keys are deleted after."""
    prefix = f"rtcc-test-live-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": settings.CHANNEL_LAYER_HOSTS, "prefix": prefix},
        }
    }
    settings.RTCC_LIVE_KEY_PREFIX = f"{prefix}:live"
    settings.RTCC_LIVE_COALESCE_MS = 100
    settings.RTCC_LIVE_ACCESS_TTL = 5
    settings.RTCC_LIVE_CATCH_UP_SECONDS = 5
    redis_url = settings.REDIS_URL
    yield settings
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest_asyncio.fixture
async def ws(live):
    """Opens communicators on the real ASGI application and closes them (and Redis) at the end."""
    opened: list[WebsocketCommunicator] = []

    async def open_(headers: list[tuple[bytes, bytes]], *, refused: bool = False) -> Any:
        """The connected communicator; with refused=True, assert it is refused and return the close code."""
        comm = WebsocketCommunicator(application, "/ws/live/", headers=headers)
        opened.append(comm)
        connected, code = await comm.connect(timeout=5)
        if refused:
            assert not connected
            return code
        assert connected, f"refused with {code}"
        return comm

    yield open_
    for comm in opened:
        await comm.disconnect()
    await streams.aclose_redis()
    # The ORM ran in asgiref's sync thread; close its connection there, or the test database
    # cannot be dropped at the end of the session.
    await database_sync_to_async(connections.close_all)()


def signed_in_client(user: User) -> Client:
    """A test client signed in as `user`: a real session row, which a server subprocess reads too."""
    client = Client()
    client.force_login(user)
    return client


def session_cookie(user: User) -> str:
    """`name=value` of a real session cookie for `user` (the one session builder)."""
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={signed_in_client(user).cookies[name].value}"


def headers_for(user: User | None) -> list[tuple[bytes, bytes]]:
    """Browser-like headers: an allowed Origin and, for a user, a real session cookie."""
    if user is None:
        return [ORIGIN]
    return [ORIGIN, (b"cookie", session_cookie(user).encode())]


async def subscribe(comm: WebsocketCommunicator, **request: Any) -> dict:
    await comm.send_json_to({"action": "subscribe", **request})
    reply = await comm.receive_json_from(timeout=5)
    assert reply["type"] == "subscribed", reply
    return reply


async def drain(comm: WebsocketCommunicator, quiet: float = 0.5) -> list[dict]:
    """Everything the server sends until it has been quiet for `quiet` seconds."""
    # receive_nothing() polls without cancelling the app (receive_output's timeout would).
    got = []
    while not await comm.receive_nothing(timeout=quiet, interval=0.02):
        got.append(await comm.receive_json_from(timeout=1))
    return got


# ---- for tests that run Daphne in a subprocess ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class DaphneServer:
    """The ASGI server as `make demo` starts it (`python -m rtcc_gis.serve`: Daphne with the token-redacting
    access log), in a subprocess on a free port, under the test settings (production's: DEBUG off) with this
    process's environment plus `env`. start() waits until it listens; stop() terminates it (kills it if it
    hangs). Its output, access log included, goes to `log` (a temporary file unless given)."""

    def __init__(self, env: dict[str, str] | None = None, *, log: Path | None = None) -> None:
        self.port = free_port()
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rtcc_gis.settings_test", **(env or {})}
        self.log = log or Path(tempfile.mkstemp(prefix="rtcc-daphne-", suffix=".log")[1])
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> DaphneServer:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "rtcc_gis.serve",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "rtcc_gis.asgi:application",
                ],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(keep_log=True)
                raise AssertionError(f"daphne on {self.port} did not start:\n{self.logs()}")
            time.sleep(0.1)
        return self

    def __enter__(self) -> DaphneServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/live/"

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, *, keep_log: bool = False) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if not keep_log:
            self.log.unlink(missing_ok=True)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, Message, bytes]:
        """One HTTP request (no redirects followed): status, headers (case-free get/get_all), body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Host": "localhost", **(headers or {})})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()


_static_collected: list[bool] = []


def collect_static() -> None:
    """The servers tests start run the test settings (DEBUG off), so WhiteNoise serves STATIC_ROOT, not the
    source tree: collect once per session (only changed files are copied), so a browser test never runs a
    stale copy of the map's JavaScript."""
    if not _static_collected:
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)
        _static_collected.append(True)


def test_database_url() -> str:
    """The pytest-django test database, as a server subprocess must see it."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgis://{auth}@{host}{port}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


@pytest.fixture
def live_prefix(settings) -> Iterator[str]:
    """Private channel-layer and stream prefixes, for this process and the server it starts alike
    (pass the prefix as CHANNELS_PREFIX / RTCC_LIVE_KEY_PREFIX); its Redis keys are deleted after."""
    prefix = f"rtcc-test-srv-{uuid.uuid4().hex[:12]}"
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": settings.CHANNEL_LAYER_HOSTS, "prefix": prefix},
        }
    }
    settings.RTCC_LIVE_KEY_PREFIX = f"{prefix}:live"
    yield prefix
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


# ---- for tests that run the system's other processes (Celery worker and beat, listeners) -----------


_running_groups: set[int] = set()


@atexit.register
def _kill_leftover_groups() -> None:
    """A test process that dies between start() and stop() still ends every group it started."""
    for pgid in list(_running_groups):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


class SystemProcess:
    """One long-running process of the system (a Celery worker or beat, `manage.py cot_listen`), started as
    `make demo` starts it, with this process's environment plus `env`, in a process group of its own (a Celery
    worker's pool children stop with it) and its output in `log`. stop() ends it gently, then the whole group;
    a group left running when the test process exits is killed at exit."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> SystemProcess:
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        _running_groups.add(self.proc.pid)
        return self

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float) -> re.Match:
        """The first match of `pattern` in the log, once it appears; fails (with the log) if the process
        exits first or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.logs())
            if found:
                return found
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                state = "exited" if self.proc is not None and self.proc.poll() is not None else "timed out"
                raise AssertionError(f"{self.name} {state} before logging {pattern!r}:\n{self.logs()[-5000:]}")
            time.sleep(0.2)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        """`sig` to the process, as `make demo`'s Ctrl-C sends it (SIGTERM: a Celery worker's warm shutdown,
        which stops its own pool; a listener's flush), then SIGKILL to whatever is left of the group after
        `timeout` seconds."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        # The leader may be gone while pool children linger: the group goes in any case.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        _running_groups.discard(pgid)
