"""End to end: a record pushed to a feed endpoint reaches a connected map as a live message."""

import json
from datetime import UTC, datetime

from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from apps.feeds.models import FeedSource

from . import factories as f
from .live_support import drain, headers_for, live_test, subscribe


@database_sync_to_async
def make_source(agency, kind):
    source = FeedSource.objects.create(agency=agency, name=f"{kind} e2e", kind=kind)
    return source.issue_token()


@database_sync_to_async
def post(url, token=None, body=None, params=None):
    client = APIClient()
    if body is None:
        return client.get(url, params)
    return client.post(
        url, data=json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


@live_test
async def test_osmand_fix_reaches_the_map(ws, home, operator):
    unit = await database_sync_to_async(f.unit)(agency=home, call_sign="1K7", lon=None, device_id="1K7")
    token = await make_source(home, "osmand")
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    await subscribe(comm, layers=["units"])
    stamp = int(datetime.now(UTC).timestamp())
    response = await post(
        f"/api/feeds/osmand/{token}/", params={"id": "1K7", "lat": f.LAT, "lon": f.LON, "timestamp": stamp}
    )
    assert response.status_code == 200 and response.json()["accepted"] == 1
    messages = await drain(comm)
    moved = [m for m in messages if m["type"] == "feature.upserted" and m["layer"] == "units"]
    assert moved and moved[-1]["feature"]["id"] == unit.pk
    assert moved[-1]["feature"]["geometry"]["coordinates"] == [f.LON, f.LAT]


@live_test
async def test_cad_push_and_hotlist_hit_reach_the_map(ws, home, operator):
    await database_sync_to_async(f.hotlist_entry)(agency=home, plate="HOT999")
    cad_token = await make_source(home, "cad_json")
    alpr_token = await make_source(home, "alpr_json")
    comm = await ws(await database_sync_to_async(headers_for)(operator))
    await subscribe(comm, layers=["incidents", "alerts", "alpr_reads"])
    now = datetime.now(UTC).isoformat()
    incident = {
        "cad_number": "E2E-1",
        "type_code": "SHOTS",
        "priority": 1,
        "lon": f.LON,
        "lat": f.LAT,
        "received_at": now,
    }
    assert (await post("/api/feeds/push/", cad_token, [incident])).json()["accepted"] == 1
    read = {"plate": "HOT999", "read_at": now, "lon": f.LON, "lat": f.LAT}
    assert (await post("/api/feeds/push/", alpr_token, [read])).json()["accepted"] == 1
    # The same CAD record again changes nothing, so nothing more is pushed for it.
    assert (await post("/api/feeds/push/", cad_token, [incident])).json()["duplicates"] == 1
    messages = await drain(comm)
    kinds = [(m["type"], m["layer"]) for m in messages]
    assert kinds.count(("feature.upserted", "incidents")) == 1
    assert ("alert.raised", "alerts") in kinds and ("feature.upserted", "alpr_reads") in kinds
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(seqs)
