"""The map's search box (apps.search): each kind, tenancy and sharing, plate searches (permission,
reason, audit), and bad input."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.choices import Role
from apps.accounts.permissions import Layer
from apps.accounts.services import agency_sharing_create
from apps.audit.models import AuditAction, AuditEvent

from . import factories as f

URL = "/api/search/"
PLATES = "/api/search/plates/"


def _client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user=user)
    return client


def _groups(response) -> dict[str, list[dict]]:
    assert response.status_code == 200, response.content
    return {group["kind"]: group["results"] for group in response.json()["groups"]}


def _labels(response, kind: str) -> list[str]:
    return [r["label"] for r in _groups(response)[kind]]


@pytest.fixture
def town(home):
    """Home-agency records named so each search below finds exactly what it should."""
    now = timezone.now()
    beat = f.zone(agency=home, kind="beat", code="K2", name="Beat K2 Belltown", bbox=(-122.35, 47.61, -122.34, 47.62))
    return {
        "robbery": f.incident(
            agency=home,
            cad_number="SPD-24-001234",
            address="1500 Pike Pl",
            beat=beat,
            received_at=now - timedelta(hours=2),
            lon=-122.3412,
            lat=47.6091,
        ),
        "newer": f.incident(
            agency=home, cad_number="SPD-24-001240", address="200 Pine St", received_at=now - timedelta(minutes=5)
        ),
        "closed": f.incident(agency=home, cad_number="SPD-24-000999", status="closed", address="1500 Pike Pl"),
        "unit": f.unit(agency=home, call_sign="2B11", lon=-122.3301, lat=47.6101),
        "unit2": f.unit(agency=home, call_sign="12B11"),
        "retired": f.unit(agency=home, call_sign="2B19", active=False),
        "nowhere": f.unit(agency=home, call_sign="2B12", lon=None, lat=None),
        "camera": f.camera(agency=home, name="Pike St & 1st Ave", external_id="CAM-0017", lon=-122.3405, lat=47.6088),
        "removed": f.camera(agency=home, name="Pike St old mast", active=False),
        "beat": beat,
        "district": f.zone(agency=home, kind="district", code="WEST", name="West Precinct"),
    }


def test_incidents_by_cad_number_whole_prefix_or_tail(operator_client, town):
    # The whole number first, even though a newer call also starts with the same prefix.
    response = operator_client.get(URL, {"q": "spd-24-001234"})
    assert _labels(response, "incident") == ["SPD-24-001234"]
    # Operators often type the tail of a number; several matches come newest first.
    assert _labels(operator_client.get(URL, {"q": "0012"}), "incident") == ["SPD-24-001240", "SPD-24-001234"]
    hit = _groups(response)["incident"][0]
    assert hit["id"] == town["robbery"].pk
    assert hit["kind"] == "incident"
    assert hit["point"] == [-122.3412, 47.6091]
    assert hit["bbox"] is None
    assert "1500 Pike Pl" in hit["sublabel"] and "K2" in hit["sublabel"] and "P1" in hit["sublabel"]


def test_incidents_by_address_include_closed_calls(operator_client, town):
    labels = _labels(operator_client.get(URL, {"q": "PIKE PL", "kinds": "incident"}), "incident")
    assert sorted(labels) == ["SPD-24-000999", "SPD-24-001234"]


def test_units_by_call_sign_active_only_shortest_first(operator_client, town):
    response = operator_client.get(URL, {"q": "2b1", "kinds": "unit"})
    assert list(_groups(response)) == ["unit"]
    results = _groups(response)["unit"]
    assert [r["label"] for r in results] == ["2B11", "2B12", "12B11"]  # the retired 2B19 is not on the map
    assert results[0]["point"] == [-122.3301, 47.6101]
    assert results[1]["point"] is None and "no position" in results[1]["sublabel"]


def test_cameras_by_name_or_owner_id(operator_client, town):
    by_name = _groups(operator_client.get(URL, {"q": "pike st", "kinds": "camera"}))["camera"]
    assert [r["label"] for r in by_name] == ["Pike St & 1st Ave"]  # the removed camera is not offered
    assert by_name[0]["id"] == town["camera"].pk
    assert by_name[0]["point"] == [-122.3405, 47.6088]
    assert _labels(operator_client.get(URL, {"q": "cam-0017", "kinds": "camera"}), "camera") == ["Pike St & 1st Ave"]


def test_zones_by_code_or_name_with_a_box_to_fit(operator_client, town):
    results = _groups(operator_client.get(URL, {"q": "k2", "kinds": "zone"}))["zone"]
    assert [r["label"] for r in results] == ["Beat K2"]
    assert results[0]["sublabel"] == "Beat K2 Belltown"
    assert results[0]["bbox"] == [-122.35, 47.61, -122.34, 47.62]
    lon, lat = results[0]["point"]
    assert -122.35 <= lon <= -122.34 and 47.61 <= lat <= 47.62
    assert _labels(operator_client.get(URL, {"q": "precinct", "kinds": "zone"}), "zone") == ["District / precinct WEST"]


def test_groups_follow_the_kinds_asked_and_the_limit(operator_client, town):
    response = operator_client.get(URL, {"q": "2B1", "kinds": "zone,unit", "limit": 1})
    groups = response.json()["groups"]
    assert [g["kind"] for g in groups] == ["zone", "unit"]
    assert [len(g["results"]) for g in groups] == [0, 1]


def test_text_search_is_not_audited(operator_client, town):
    assert operator_client.get(URL, {"q": "pike"}).status_code == 200
    assert not AuditEvent.objects.filter(action__in=[AuditAction.SEARCH, AuditAction.PLATE_SEARCH]).exists()


def test_a_whole_number_beats_a_prefix_and_a_prefix_beats_a_match_inside(operator_client, home):
    now = timezone.now()
    f.incident(agency=home, cad_number="SPD-24-0001", received_at=now - timedelta(days=30))
    f.incident(agency=home, cad_number="SPD-24-00017", received_at=now - timedelta(days=2))
    f.incident(agency=home, cad_number="X-SPD-24-0001", received_at=now)
    labels = _labels(operator_client.get(URL, {"q": "spd-24-0001", "kinds": "incident"}), "incident")
    assert labels == ["SPD-24-0001", "SPD-24-00017", "X-SPD-24-0001"]
    assert _labels(operator_client.get(URL, {"q": "spd-24-0001", "kinds": "incident", "limit": 2}), "incident") == [
        "SPD-24-0001",
        "SPD-24-00017",
    ]


def test_two_characters_match_the_start_only(operator_client, town):
    # Anywhere-in-the-value needs three (trigrams); two would scan every row.
    assert _labels(operator_client.get(URL, {"q": "2b", "kinds": "unit"}), "unit") == ["2B11", "2B12"]
    assert _labels(operator_client.get(URL, {"q": "b1", "kinds": "unit"}), "unit") == []
    assert _labels(operator_client.get(URL, {"q": "b11", "kinds": "unit"}), "unit") == ["2B11", "12B11"]


def test_all_kinds_in_a_bounded_number_of_queries(operator_client, town, django_assert_max_num_queries):
    # Incidents: at most one query per tier (whole value, prefix, anywhere); one for each other kind.
    # The sharing rules are a subquery inside each.
    with django_assert_max_num_queries(6):
        response = operator_client.get(URL, {"q": "pike"})
    assert response.status_code == 200


# ---- tenancy and sharing -----------------------------------------------------------------------------


def test_another_agency_finds_nothing_of_ours(outsider, other_agency, town):
    f.incident(agency=other_agency, cad_number="KCSO-24-001234")
    response = _client(outsider).get(URL, {"q": "1234"})
    assert _labels(response, "incident") == ["KCSO-24-001234"]
    for q in ("pike", "2B11", "CAM-0017", "K2", "SPD"):
        assert all(results == [] for results in _groups(_client(outsider).get(URL, {"q": q})).values()), q


def test_a_partner_finds_only_the_layers_shared_with_it(home, town):
    partner_agency = f.agency("BPD", name="Bellevue Police Department")
    partner = f.user(agency=partner_agency, role=Role.PARTNER, username="partner")
    agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=[Layer.INCIDENTS, Layer.ZONES])
    client = _client(partner)
    assert _labels(client.get(URL, {"q": "001234"}), "incident") == ["SPD-24-001234"]
    assert _labels(client.get(URL, {"q": "K2"}), "zone") == ["Beat K2"]
    assert _labels(client.get(URL, {"q": "2B11"}), "unit") == []
    assert _labels(client.get(URL, {"q": "pike st"}), "camera") == []


def test_an_ended_sharing_rule_shares_nothing(home, town):
    partner_agency = f.agency("BPD", name="Bellevue Police Department")
    partner = f.user(agency=partner_agency, role=Role.PARTNER, username="partner")
    now = timezone.now()
    agency_sharing_create(
        owner_id=home.pk,
        partner_id=partner_agency.pk,
        layers=list(Layer),
        starts_at=now - timedelta(days=2),
        ends_at=now - timedelta(days=1),
    )
    assert all(r == [] for r in _groups(_client(partner).get(URL, {"q": "pike"})).values())


def test_signed_out_and_audit_only_roles_are_refused(anon_client, auditor_client, planner_client, town):
    assert anon_client.get(URL, {"q": "pike"}).status_code == 401
    assert auditor_client.get(URL, {"q": "pike"}).status_code == 403
    assert _labels(planner_client.get(URL, {"q": "001234"}), "incident") == ["SPD-24-001234"]


# ---- plates ------------------------------------------------------------------------------------------


@pytest.fixture
def reads(home, other_agency):
    site = f.alpr_site(agency=home, name="Alaskan Way NB", lon=-122.35, lat=47.60)
    entry = f.hotlist_entry(agency=home, plate="BXR4471", reason="Stolen vehicle")
    now = timezone.now()
    made = [
        f.alpr_read(
            agency=home,
            plate="BXR4471",
            state="WA",
            site=site,
            hit=entry,
            read_at=now - timedelta(hours=1),
            lon=-122.35,
            lat=47.60,
        ),
        f.alpr_read(agency=home, plate="BXR4471", state="WA", read_at=now - timedelta(hours=3)),
        f.alpr_read(agency=home, plate="BXR4479", read_at=now - timedelta(hours=2)),
    ]
    f.alpr_read(agency=other_agency, plate="BXR4471", read_at=now)
    return made


def test_plate_search_returns_reads_newest_first_and_is_audited(operator_client, operator, reads):
    response = operator_client.get(PLATES, {"plate": "bxr 4471", "reason": "case 26-0412"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == 2 and body["truncated"] is False
    first, second = body["results"]
    assert [first["id"], second["id"]] == [reads[0].pk, reads[1].pk]
    assert first["kind"] == "plate" and first["plate"] == "BXR4471" and first["state"] == "WA"
    assert first["site"] == "Alaskan Way NB" and first["point"] == [-122.35, 47.6]
    assert first["hit"] == {"reason": "Stolen vehicle", "hotlist": reads[0].hit.hotlist.name}
    assert second["site"] is None and second["hit"] is None
    event = AuditEvent.objects.get(action=AuditAction.PLATE_SEARCH)
    assert event.user == operator
    assert event.reason == "case 26-0412"
    assert event.object_type == "alpr.alprread"
    assert event.detail["query"]["plate"] == "bxr 4471"
    assert event.detail["count"] == 2


def test_plate_search_with_wildcards_and_a_limit(operator_client, reads):
    body = operator_client.get(PLATES, {"plate": "BXR44*", "reason": "case 1", "limit": 2}).json()
    assert body["count"] == 3 and body["truncated"] is True
    assert [r["id"] for r in body["results"]] == [reads[0].pk, reads[2].pk]


def test_plate_search_needs_a_reason_and_a_real_plate(operator_client, reads):
    for params, name in [
        ({"plate": "BXR4471"}, "reason"),
        ({"plate": "BXR4471", "reason": "   "}, "reason"),
        ({"plate": "BXR4471", "reason": "x" * 501}, "reason"),
        ({"reason": "case 1"}, "plate"),
        ({"plate": "B*", "reason": "case 1"}, "plate"),
        ({"plate": "B" * 21, "reason": "case 1"}, "plate"),
        ({"plate": "BXR\x004471", "reason": "case 1"}, "plate"),
        ({"plate": "BXR4471", "reason": "case 1", "limit": "0"}, "limit"),
    ]:
        response = operator_client.get(PLATES, params)
        assert response.status_code == 400, params
        assert name in response.json(), (params, response.json())
    assert not AuditEvent.objects.filter(action=AuditAction.PLATE_SEARCH).exists()


def test_plate_search_needs_the_permission(planner_client, auditor_client, anon_client, home, reads):
    partner_agency = f.agency("BPD", name="Bellevue Police Department")
    partner = f.user(agency=partner_agency, role=Role.PARTNER, username="partner")
    # Even with the reads shared, a partner's role takes no look at plates.
    agency_sharing_create(owner_id=home.pk, partner_id=partner_agency.pk, layers=[Layer.ALPR_READS])
    params = {"plate": "BXR4471", "reason": "case 1"}
    assert planner_client.get(PLATES, params).status_code == 403
    assert auditor_client.get(PLATES, params).status_code == 403
    assert _client(partner).get(PLATES, params).status_code == 403
    assert anon_client.get(PLATES, params).status_code == 401
    assert not AuditEvent.objects.filter(action=AuditAction.PLATE_SEARCH).exists()


def test_plate_search_sees_only_the_agencys_own_reads(outsider_client, reads):
    body = outsider_client.get(PLATES, {"plate": "BXR4471", "reason": "case 9"}).json()
    assert body["count"] == 1
    assert all(r["id"] not in {read.pk for read in reads} for r in body["results"])


# ---- bad input -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({}, "q"),
        ({"q": " "}, "q"),
        ({"q": "a"}, "q"),
        ({"q": " a "}, "q"),
        ({"q": "x" * 101}, "q"),
        ({"q": "pi\x00ke"}, "q"),
        ({"q": "pike", "kinds": "incident,plate"}, "kinds"),
        ({"q": "pike", "kinds": ","}, "kinds"),
        ({"q": "pike", "limit": "0"}, "limit"),
        ({"q": "pike", "limit": "26"}, "limit"),
        ({"q": "pike", "limit": "many"}, "limit"),
    ],
)
def test_bad_input_is_a_400_naming_the_parameter(operator_client, params, name):
    response = operator_client.get(URL, params)
    assert response.status_code == 400
    assert name in response.json()


def test_like_wildcards_in_the_query_are_literal(operator_client, town):
    assert all(r == [] for r in _groups(operator_client.get(URL, {"q": "%%"})).values())
    assert all(r == [] for r in _groups(operator_client.get(URL, {"q": "__"})).values())
