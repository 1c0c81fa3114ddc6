"""PostgreSQL stopped under a running Daphne: 503s during the outage, recovery without a restart, and a
push cut off by a crash stores nothing.

The server under test runs on a private PostgreSQL cluster (tests/fault_support.py) holding a copy of
the test database made after the test wrote its rows; the cluster is really stopped and started.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apps.feeds.models import FeedSource
from apps.incidents.models import Incident

from . import factories as f
from .fault_support import DaphneServer, PrivatePostgres, session_headers, wait_for
from .live_support import test_database_url

pytestmark = pytest.mark.django_db(transaction=True)

INCIDENTS = Incident._meta.db_table
SOURCES = FeedSource._meta.db_table


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def on_private_pg(private_pg, live_prefix) -> Iterator:
    """Call it once the test's rows are written: copies the test database into the private cluster
    and starts Daphne on the copy (Redis is the shared one, under this test's prefixes)."""
    started: list[DaphneServer] = []

    def start() -> tuple[DaphneServer, str]:
        dbname = f"faults_{uuid.uuid4().hex[:8]}"
        url = private_pg.clone(test_database_url(), dbname)
        server = DaphneServer(
            {
                "DATABASE_URL": url,
                "CHANNELS_PREFIX": live_prefix,
                "RTCC_LIVE_KEY_PREFIX": f"{live_prefix}:live",
                "CACHE_KEY_PREFIX": f"{live_prefix}:cache",
            }
        )
        started.append(server)
        return server.start(), dbname

    yield start
    for server in started:
        server.stop()
    if not private_pg.running:
        private_pg.start()


def _ws_close_code(server: DaphneServer, cookie: str) -> int | None:
    with (
        connect(
            server.ws_url,
            origin="http://localhost",
            additional_headers={"Cookie": cookie},
            open_timeout=10,  # type: ignore[arg-type]
        ) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    return closed.value.rcvd.code if closed.value.rcvd else None


def test_api_answers_503_while_postgres_is_down_and_recovers_without_restart(private_pg, on_private_pg, planner, home):
    f.incident(agency=home)
    api = session_headers(planner)
    server, _ = on_private_pg()
    status, _, body = server.request("GET", "/api/incidents/", headers=api)
    assert status == 200, body[:3000]

    # Under load: map clients keep reading the layer through the stop and the start.
    statuses: list[int] = []
    done = threading.Event()

    def keep_reading() -> None:
        while not done.is_set():
            statuses.append(server.request("GET", "/api/incidents/", headers=api)[0])

    with ThreadPoolExecutor(3) as pool:
        readers = [pool.submit(keep_reading) for _ in range(3)]
        time.sleep(0.3)
        private_pg.stop()
        status, headers, body = server.request("GET", "/api/incidents/", headers=api)
        assert status == 503, body[:3000]
        assert json.loads(body)["unavailable"] == "database"
        assert headers["Retry-After"].isdigit()
        # A page (not the API) gets the same answer as HTML.
        status, headers, body = server.request("GET", "/", headers={"Cookie": api["Cookie"], "Accept": "text/html"})
        assert status == 503, body[:3000]
        assert headers["Content-Type"].startswith("text/html")
        assert "database" in body.decode() and "Traceback" not in body.decode()
        # A map connecting now is told to come back later, not handed a 500.
        assert _ws_close_code(server, api["Cookie"]) == 4503
        private_pg.start()
        time.sleep(0.3)
        done.set()
        for reader in readers:
            reader.result()  # a dropped connection would raise here
    seen = Counter(statuses)
    assert set(seen) <= {200, 503} and seen[503] > 0, seen

    status, _, body = server.request("GET", "/api/incidents/", headers=api)
    assert status == 200, body[:3000]
    assert len(json.loads(body)["features"]) == 1
    with connect(
        server.ws_url,
        origin="http://localhost",
        additional_headers={"Cookie": api["Cookie"]},
        open_timeout=10,  # type: ignore[arg-type]
    ) as ws:
        ws.send(json.dumps({"action": "subscribe", "layers": ["incidents"]}))
        assert json.loads(ws.recv(timeout=10))["type"] == "subscribed"
    assert server.alive  # the same Daphne: nothing was restarted but PostgreSQL


def test_a_push_cut_off_by_a_postgres_crash_stores_nothing(private_pg, on_private_pg, home):
    source = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    token = source.issue_token()
    server, dbname = on_private_pg()
    payload = json.dumps(
        [
            {
                "cad_number": f"CUT-{i}",
                "type_code": "ROBB",
                "lon": f.LON,
                "lat": f.LAT,
                "received_at": "2024-05-01T21:14:05Z",
            }
            for i in range(3)
        ]
    ).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    # Hold the feed source table so the push stops at its last statement (the source's counters),
    # after every incident is written; then crash PostgreSQL under it.
    holder = private_pg.connect(dbname)
    holder.execute(f'LOCK TABLE "{SOURCES}" IN EXCLUSIVE MODE')
    watcher = private_pg.connect(dbname, autocommit=True)  # its own snapshot of pg_stat_activity each time
    with ThreadPoolExecutor(1) as pool:
        pushed = pool.submit(server.request, "POST", "/api/feeds/push/", body=payload, headers=headers)

        def blocked() -> bool:
            row = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                [f'UPDATE "{SOURCES}"%'],
            ).fetchone()
            return bool(row and row[0])

        wait_for(blocked, 20, "the push to reach the feed source update")
        private_pg.stop(mode="immediate")
        status, _, body = pushed.result(timeout=30)
    holder.close()
    watcher.close()
    assert status == 503, body[:3000]
    assert json.loads(body)["unavailable"] == "database"

    private_pg.start()
    with private_pg.connect(dbname) as conn:
        stored = conn.execute(f'SELECT count(*) FROM "{INCIDENTS}" WHERE cad_number LIKE %s', ["CUT-%"]).fetchone()
    assert stored == (0,), "a push cut off half way left part of itself stored"

    # The sender retries: all of it is stored once.
    deadline = time.monotonic() + 10
    while True:
        status, _, body = server.request("POST", "/api/feeds/push/", body=payload, headers=headers)
        if status != 503 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200, body[:3000]
    assert json.loads(body)["accepted"] == 3
    assert server.alive
