"""The demo's HLS test pattern and SVG snapshots (apps/demo/views.py): served only through the stream
proxy, on a grant from an audited open of that very camera, and only the playlist and its segments.
A browser asking /demo/cameras/... directly with just a session gets nothing to watch."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest
from django.test import Client

from apps.audit.models import AuditAction, AuditEvent
from apps.demo import views

from . import factories as f

pytestmark = pytest.mark.django_db

HLS = "/demo/cameras/{}/hls/index.m3u8"
SNAPSHOT = "/demo/cameras/{}/snapshot.svg"


@pytest.fixture
def hls_dir(tmp_path, monkeypatch):
    (tmp_path / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nindex7.ts\n")
    (tmp_path / "index7.ts").write_bytes(b"G" + bytes(187))
    (tmp_path / "secret.txt").write_text("not part of the stream")
    monkeypatch.setattr(views, "HLS_DIR", tmp_path)
    return tmp_path


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def open_stream(client: Client, camera):
    return client.post(f"/api/cameras/{camera.pk}/stream/", {"reason": "demo 1"}, content_type="application/json")


def test_playlist_and_segments_through_the_proxy(operator, home, hls_dir):
    camera = f.camera(agency=home, external_id="CAM-7", stream_kind="hls", stream_url=HLS.format("CAM-7"))
    client = signed_in(operator)
    opened = open_stream(client, camera).json()
    assert "/demo/" not in opened["url"]
    playlist = client.get(opened["url"])
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "no-store"
    text = playlist.content.decode()
    assert "#EXTINF:2.0," in text and "index7.ts" not in text and "/demo/" not in text
    [relative] = [line for line in text.splitlines() if line and not line.startswith("#")]
    segment_uri = urljoin(opened["url"], relative)  # relative, as the player resolves it
    assert relative.startswith("part/") and re.match(r"^/api/streams/[^/]+/part/[^/]+$", segment_uri)
    segment = client.get(segment_uri)
    assert segment.status_code == 200
    assert segment["Content-Type"] == "video/mp2t"
    assert segment.content[:1] == b"G"
    assert AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).count() == 1


def test_snapshot_through_the_proxy(operator, home):
    camera = f.camera(agency=home, external_id="CAM-5", stream_kind="snapshot", stream_url=SNAPSHOT.format("CAM-5"))
    client = signed_in(operator)
    frame = client.get(open_stream(client, camera).json()["url"])
    assert frame.status_code == 200 and frame["Content-Type"] == "image/svg+xml"
    assert b"SIMULATED" in frame.content


def test_no_way_to_watch_without_an_audited_open(operator, commander, planner, outsider, home, hls_dir):
    """Every role, signed in, asking the demo's routes directly: refused, and no audit record needed
    to be skipped because nothing was shown."""
    f.camera(agency=home, external_id="CAM-7", sharing="live", stream_kind="hls", stream_url=HLS.format("CAM-7"))
    f.camera(agency=home, external_id="CAM-5", stream_kind="snapshot", stream_url=SNAPSHOT.format("CAM-5"))
    for user in (operator, commander, planner, outsider):
        client = signed_in(user)
        for url in (HLS.format("CAM-7"), "/demo/cameras/CAM-7/hls/index7.ts", SNAPSHOT.format("CAM-5")):
            response = client.get(url)
            assert response.status_code == 403, (user, url)
            assert b"G" + bytes(10) not in response.content and b"<svg" not in response.content
    assert Client().get(HLS.format("CAM-7")).status_code == 302
    assert Client().get(SNAPSHOT.format("CAM-5")).status_code == 302
    assert not AuditEvent.objects.filter(action=AuditAction.CAMERA_STREAM_OPEN).exists()


def test_a_grant_opens_only_its_own_camera(operator, home, hls_dir):
    """A camera whose stream path names another demo camera gets nothing: the demo view checks the
    grant's camera, not just that some grant is present."""
    f.camera(agency=home, external_id="CAM-7", sharing="live", stream_kind="hls", stream_url=HLS.format("CAM-7"))
    borrower = f.camera(agency=home, external_id="CAM-9", stream_kind="hls", stream_url=HLS.format("CAM-7"))
    client = signed_in(operator)
    response = client.get(open_stream(client, borrower).json()["url"])
    assert response.status_code == 502 and "answered 403" in response.json()["detail"]


def test_only_stream_parts_and_stream_sources(operator, home, hls_dir):
    camera = f.camera(
        agency=home, external_id="CAM-7", stream_kind="hls", stream_url="/demo/cameras/CAM-7/hls/secret.txt"
    )
    client = signed_in(operator)
    assert client.get(open_stream(client, camera).json()["url"]).status_code == 502  # not an HLS file name
    not_a_source = f.camera(agency=home, external_id="CAM-3", stream_kind="snapshot", stream_url="/api/audit/")
    response = client.get(open_stream(client, not_a_source).json()["url"])
    assert response.status_code == 502 and "not a stream source" in response.json()["detail"]
    (hls_dir / "index7.ts").unlink()  # not (or no longer) written by ffmpeg
    stale = f.camera(agency=home, external_id="CAM-8", stream_kind="hls", stream_url=HLS.format("CAM-8"))
    url = open_stream(client, stale).json()["url"]
    text = client.get(url).content.decode()
    segment = urljoin(url, [line for line in text.splitlines() if line and not line.startswith("#")][0])
    assert client.get(segment).status_code == 502
