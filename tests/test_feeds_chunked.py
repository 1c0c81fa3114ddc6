"""A feed push sent with Transfer-Encoding: chunked (no Content-Length) through the real ASGI server: read and
ingested under the size limit, 413 above it (apps.core.httplimits.ChunkedBodyLimit and the push view)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from apps.feeds.models import FeedSource
from apps.incidents.models import Incident

from .live_support import DaphneServer, test_database_url

pytestmark = pytest.mark.django_db(transaction=True)
LIMIT = 64 * 1024


@pytest.fixture
def server(transactional_db, live_prefix) -> Iterator[DaphneServer]:
    env = {"DATABASE_URL": test_database_url(), "RTCC_FEED_MAX_BYTES": str(LIMIT), "CHANNELS_PREFIX": live_prefix}
    with DaphneServer(env) as daphne:
        yield daphne


def chunks(text: str, size: int = 1000) -> Iterator[bytes]:
    data = text.encode()
    for start in range(0, len(data), size):
        yield data[start : start + size]


def rows(count: int) -> str:
    lines = ["cad_number,type_code,lon,lat,received_at"]
    lines += [f"CH-{i},ALRM,-122.3405,47.6097,2024-05-02T08:00:00Z" for i in range(count)]
    return "\n".join(lines) + "\n"


def test_chunked_push_is_read_and_an_oversized_one_is_413(server, home):
    source = FeedSource.objects.create(agency=home, name="chunked CAD", kind="cad_csv")
    token = source.issue_token()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}
    body = rows(40)
    assert len(body) < LIMIT

    with httpx.Client(base_url=server.url, timeout=30) as client:
        request = client.build_request("POST", "/api/feeds/push/", content=chunks(body), headers=headers)
        assert "content-length" not in request.headers and request.headers["transfer-encoding"] == "chunked"
        response = client.send(request)
        assert response.status_code == 200, response.text
        assert (response.json()["accepted"], response.json()["rejected"]) == (40, 0)

        too_big = rows(2000)
        assert len(too_big) > LIMIT
        response = client.post("/api/feeds/push/", content=chunks(too_big), headers=headers)
        assert response.status_code == 413, response.text
        assert f"over the {LIMIT} byte limit" in response.json()["detail"]

    assert Incident.objects.filter(agency=home, cad_number__startswith="CH-").count() == 40
    assert "Traceback" not in server.logs()
