"""Hardening: input limits: size caps on feed pushes and API bodies (413 or 400 before anything is read),
NUL characters refused rather than a 500, query-parameter counts and bounding boxes.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apps.feeds.models import DeadLetter, FeedSource

from . import factories as f


@pytest.fixture
def cad_feed(home) -> tuple[FeedSource, str]:
    source = FeedSource.objects.create(agency=home, name="cad", kind="cad_json")
    return source, source.issue_token()


def test_push_over_the_size_cap_is_413_before_anything_is_read(cad_feed, settings):
    settings.RTCC_FEED_MAX_BYTES = 1000
    _, token = cad_feed
    response = APIClient().post(
        "/api/feeds/push/",
        data=b"[" + b" " * 2000 + b"]",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 413
    assert not DeadLetter.objects.exists()


def test_push_size_cap_is_checked_before_the_token(db, settings):
    """An unauthenticated sender cannot make us read a large body to find out its token is wrong."""
    settings.RTCC_FEED_MAX_BYTES = 1000
    response = APIClient().post(
        "/api/feeds/push/", data=b"x" * 2000, content_type="application/json", HTTP_AUTHORIZATION="Bearer nope"
    )
    assert response.status_code == 413


def test_osmand_form_post_over_the_cap_is_413(home, settings):
    settings.RTCC_FEED_MAX_BYTES = 1000
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand")
    token = source.issue_token()
    response = APIClient().post(
        f"/api/feeds/osmand/{token}/", data="id=1&x=" + "a" * 2000, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


NUL_NOW = "2024-05-01T12:00:00Z"
# PostgreSQL text cannot hold a NUL character: each of these once reached the database and was a 500.
NUL_PAYLOADS = [
    ("cad_json", b"\x00"),
    ("cad_csv", b"cad_number,cad_number\n\x00"),
    ("cot", b"<event \x00"),
    (
        "cad_json",
        json.dumps(
            [{"cad_number": "C\x001", "type_code": "ROBB", "lon": f.LON, "lat": f.LAT, "received_at": NUL_NOW}]
        ).encode(),
    ),
    ("gunshot_json", json.dumps([{"id": "G\x001", "lon": f.LON, "lat": f.LAT, "detected_at": NUL_NOW}]).encode()),
    (
        "alert_json",
        json.dumps(
            [{"id": "A1", "kind": "panic", "title": "T\x00", "lon": f.LON, "lat": f.LAT, "raised_at": NUL_NOW}]
        ).encode(),
    ),
    (
        "osmand",
        json.dumps(
            {
                "device_id": "D\x001",
                "location": {"timestamp": NUL_NOW, "coords": {"latitude": f.LAT, "longitude": f.LON}},
            }
        ).encode(),
    ),
]


@pytest.mark.parametrize("kind, body", NUL_PAYLOADS)
def test_a_nul_character_in_a_feed_is_a_refusal_not_a_server_error(home, kind, body):
    source = FeedSource.objects.create(agency=home, name=kind, kind=kind, auto_create_units=True)
    token = source.issue_token()
    response = APIClient().post(
        "/api/feeds/push/", data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert response.json()["rejected"] == 1
    assert DeadLetter.objects.filter(source=source).exists()


def test_a_nul_character_in_an_osmand_query_is_a_refusal_not_a_server_error(home):
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)
    token = source.issue_token()
    response = APIClient().get(f"/api/feeds/osmand/{token}/?id=D%001&lat={f.LAT}&lon={f.LON}&timestamp=1714564800")
    assert response.status_code == 200 and response.json()["rejected"] == 1


def test_form_posts_are_capped_by_data_upload_max_memory_size(db, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = Client().post("/accounts/login/", data={"username": "x" * 20_000, "password": "y"})
    assert response.status_code == 400


def test_json_api_posts_are_capped_by_data_upload_max_memory_size(operator_client, home, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    camera = f.camera(agency=home, sharing="live")
    # A valid request padded past the cap: refused as a whole (400) before the serializer reads it.
    body = {"reason": "Case 24-031337", "padding": "x" * 20_000}
    response = operator_client.post(f"/api/cameras/{camera.pk}/stream/", data=body, format="json")
    assert response.status_code == 400
    assert not response["Content-Type"].startswith("application/json"), "the cap, not a validation error"


def test_too_many_query_parameters_is_400(operator_client):
    query = "&".join(f"p{i}=1" for i in range(1500))
    assert operator_client.get(f"/api/incidents/?{query}").status_code == 400


@pytest.mark.parametrize(
    "bbox",
    [
        "-181,47,-122,48",
        "-122,47,-121,91",
        "-122,47,-122,48",
        "1e400,0,2,2",
        "nan,0,1,1",
        "-122,47,-121",
        "-122,47,-121,48,5",
        "0x10,0,1,1",
        "",
        ",",
    ],
)
def test_bbox_out_of_range_or_malformed_is_400(operator_client, bbox):
    response = operator_client.get("/api/incidents/", {"in_bbox": bbox})
    assert response.status_code == (200 if bbox == "" else 400)
