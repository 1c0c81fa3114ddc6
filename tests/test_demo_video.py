"""The demo's HLS test pattern (apps/demo/views.py camera_hls): served like a snapshot, to users who
may watch a live-shareable camera of their own agency, and only the playlist and its segments."""
from __future__ import annotations

import pytest
from django.test import Client

from apps.demo import views

from . import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def hls_dir(tmp_path, monkeypatch):
    (tmp_path / "index.m3u8").write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nindex7.ts\n")
    (tmp_path / "index7.ts").write_bytes(b"G" + bytes(187))
    (tmp_path / "secret.txt").write_text("not part of the stream")
    monkeypatch.setattr(views, "HLS_DIR", tmp_path)
    return tmp_path


def get(user, url):
    client = Client()
    client.force_login(user)
    return client.get(url)


def test_playlist_and_segments_for_a_user_who_may_watch(operator, home, hls_dir):
    f.camera(agency=home, external_id="CAM-7", sharing="live")
    playlist = get(operator, "/demo/cameras/CAM-7/hls/index.m3u8")
    assert playlist.status_code == 200
    assert playlist["Content-Type"] == "application/vnd.apple.mpegurl"
    assert playlist["Cache-Control"] == "no-store"
    assert b"index7.ts" in playlist.content
    segment = get(operator, "/demo/cameras/CAM-7/hls/index7.ts")
    assert segment.status_code == 200
    assert segment["Content-Type"] == "video/mp2t"
    assert segment.content[:1] == b"G"


def test_refusals(operator, planner, outsider, home, hls_dir):
    f.camera(agency=home, external_id="CAM-7", sharing="live")
    f.camera(agency=home, external_id="CAM-8", sharing="on_request")
    assert get(planner, "/demo/cameras/CAM-7/hls/index.m3u8").status_code == 403
    assert get(outsider, "/demo/cameras/CAM-7/hls/index.m3u8").status_code == 404
    assert get(operator, "/demo/cameras/CAM-8/hls/index.m3u8").status_code == 404
    assert get(operator, "/demo/cameras/CAM-7/hls/secret.txt").status_code == 404
    assert get(operator, "/demo/cameras/CAM-7/hls/index9.ts").status_code == 404  # not (or no longer) written
    assert Client().get("/demo/cameras/CAM-7/hls/index.m3u8").status_code == 302
