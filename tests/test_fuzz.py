"""Fuzzing the endpoints that take outside input: every feed kind's push endpoint, the OsmAnd
protocol and the layer API's query parameters. The property is the same everywhere: whatever
arrives, the answer is a 2xx or a 4xx, never a server error; and a feed payload we cannot use
leaves a trace (a 400 and a dead letter, or a dead letter per refused record).

Bounded so the file runs in well under a minute: each test draws 30 to 100 examples, without
deadlines (the database decides the pace) and without an example database on disk. With CI=true
the draws are derandomized, so CI is repeatable while developers' runs keep exploring;
RTCC_FUZZ_SCALE=10 draws ten times as many examples for a deeper search.
"""

from __future__ import annotations

import json
import os
import re
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
from django.db import transaction
from google.transit import gtfs_realtime_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from apps.feeds.adapters.base import adapter_kinds
from apps.feeds.models import DeadLetter, FeedSource

from . import factories as f

pytestmark = pytest.mark.django_db

SCALE = float(os.environ.get("RTCC_FUZZ_SCALE", "1"))


def examples(count: int) -> int:
    return max(1, round(count * SCALE))


FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    database=None,
    derandomize=os.environ.get("CI") == "true",
    # Fixtures (sources, users) are made once per test and shared by its examples on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ---------------------------------------------------------------------------------------------------------------------
# Strategies

# Text as a sender might get it wrong: any code point but lone surrogates (they cannot be encoded at all),
# NUL and control characters included, since a database text column refuses NUL.
any_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
# Values that sit near the edges the parsers check: numbers as text, huge and non-finite numbers, dates.
# fmt: off
edgy_text = st.sampled_from([
    "", " ", "0", "-0", "1e309", "-1e309", "nan", "NaN", "inf", "Infinity", "47.6097", "-122.3422", "91",
    "-181", "9999999", "1e-400", "0x10", "１２", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00",
    "9999-12-31T23:59:59+14:00", "0001-01-01T00:00:00-12:00", "2024-02-30T00:00:00Z", "1714564800",
    "1714564800000", "99999999999999999999", "-1", "true", "false", "null", "\x00", "a\x00b",
    "<script>alert(1)</script>", "' OR 1=1 --", "%00", "..", "/etc/passwd", "EPSG:3857", "x" * 300,
])
# fmt: on
scalar_text = st.one_of(any_text, edgy_text)
json_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([47.6097, -122.3422, 0.0, 1e308, -1e308, 5e-324, 1714564800, 1714564800000, 10**20]),
    scalar_text,
)
json_values = st.recursive(
    json_scalar,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(scalar_text, children, max_size=4),
    max_leaves=20,
)
record_value = st.one_of(json_scalar, json_values)

# The field names each JSON format reads, so that structured payloads get past "not an object" and into
# the per-field checks with wrong values.
JSON_FIELDS: dict[str, list[str]] = {
    "cad_json": """
        cad_number type_code type_description priority status address lon lat received_at dispatched_at
        on_scene_at closed_at narrative units location
    """.split(),
    "alpr_json": "plate state read_at lon lat site image_url location geometry".split(),
    "gunshot_json": "id lon lat detected_at rounds confidence location".split(),
    "alert_json": "id kind title detail lon lat raised_at location".split(),
    "osmand": "device_id location coords latitude longitude timestamp speed heading mock".split(),
    "eido": """
        $id incidentComponent locationComponent callComponent notesComponent dispatchComponent
        emergencyResourceComponent internalIncidentId incidentTypeInternalCode incidentCommonPriorityNumber
        incidentStatusCommonRegistryText locationByValue lastUpdateTimeStamp $ref coordinates type
    """.split(),
}


def records(fields: list[str]) -> st.SearchStrategy[Any]:
    """A list of objects (or one object) keyed by the format's own field names, with wrong-ish values."""
    one = st.dictionaries(st.sampled_from(fields) | scalar_text, record_value, max_size=len(fields))
    return st.one_of(st.lists(one, max_size=4), one, st.fixed_dictionaries({"records": st.lists(one, max_size=3)}))


def json_bytes(values: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    return values.map(lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"))


XML_TAGS = """
    event point detail contact track alert info area polygon circle identifier sender sent status msgType
    headline category language areaDesc x feed entry
""".split()
XML_ATTRS = "uid type how time start stale lat lon hae ce le callsign course speed version xmlns".split()
xml_attr_value = st.one_of(edgy_text, st.text(st.sampled_from(string.printable), max_size=20))
xml_text_node = st.one_of(edgy_text, st.text(st.sampled_from(string.printable), max_size=30))


def _element(tag: str, attrs: dict[str, str], children: list[str]) -> str:
    rendered = "".join(f' {name}="{value}"' for name, value in attrs.items())
    return f"<{tag}{rendered}>{''.join(children)}</{tag}>"


xml_documents = st.recursive(
    xml_text_node,
    lambda children: st.builds(
        _element,
        st.sampled_from(XML_TAGS),
        st.dictionaries(st.sampled_from(XML_ATTRS), xml_attr_value, max_size=4),
        st.lists(children, max_size=4),
    ),
    max_leaves=15,
)
# fmt: off
xml_noise = st.sampled_from([
    '<?xml version="1.0"?>', "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>", "&e;", "<![CDATA[x]]>",
    "<event", "</event>", "<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'>", "\x00", "<", "&", "\ufeff",
])
# fmt: on
xml_bytes = st.lists(st.one_of(xml_documents, xml_noise), min_size=1, max_size=4).map(
    lambda parts: "".join(parts).encode("utf-8", "surrogatepass")
)

CSV_COLUMNS = "cad_number type_code priority status lon lat received_at units narrative closed_at Extra".split()
csv_cell = st.one_of(edgy_text, st.text(st.characters(exclude_categories=("Cs",)), max_size=15))
csv_bytes = st.builds(
    lambda header, rows, sep: "\n".join(sep.join(row) for row in [header, *rows]).encode("utf-8"),
    st.lists(st.sampled_from(CSV_COLUMNS), min_size=1, max_size=9),
    st.lists(st.lists(csv_cell, max_size=10), max_size=5),
    st.sampled_from([",", ";", "\t", '"']),
)


def _feed_message(entities: list[dict[str, Any]], header_time: int) -> bytes:
    """A GTFS-Realtime FeedMessage of vehicle positions, every field as drawn (NaN and all)."""
    message = gtfs_realtime_pb2.FeedMessage()
    message.header.gtfs_realtime_version = "2.0"
    message.header.timestamp = header_time
    for index, fields in enumerate(entities):
        entity = message.entity.add()
        entity.id = fields["id"] or str(index)
        vehicle = entity.vehicle
        vehicle.vehicle.id = fields["vehicle"]
        vehicle.vehicle.label = fields["label"]
        vehicle.position.latitude = fields["lat"]
        vehicle.position.longitude = fields["lon"]
        if fields["bearing"] is not None:
            vehicle.position.bearing = fields["bearing"]
        if fields["speed"] is not None:
            vehicle.position.speed = fields["speed"]
        vehicle.timestamp = fields["time"]
    return message.SerializeToString()


float32 = st.floats(width=32)
proto_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
uint64 = st.one_of(st.integers(min_value=0, max_value=2**64 - 1), st.integers(1_700_000_000, 1_800_000_000))
gtfs_entity = st.fixed_dictionaries(
    {
        "id": proto_text,
        "vehicle": proto_text,
        "label": proto_text,
        "lat": float32,
        "lon": float32,
        "bearing": st.none() | float32,
        "speed": st.none() | float32,
        "time": uint64,
    }
)
gtfs_bytes = st.builds(_feed_message, st.lists(gtfs_entity, max_size=4), uint64)

# Near misses: the recorded payloads of tests/feeds/payloads/ (real formats, valid records) with one or
# two values swapped for something wrong. These get past the format checks into every field's
# validation and on to the database writes, where random payloads rarely reach.
PAYLOADS = Path(__file__).resolve().parent / "feeds" / "payloads"
SAMPLES: dict[str, list[str]] = {
    "cad_json": ["cad_incidents.json", "cad_mixed.json"],
    "cad_csv": ["cad_incidents.csv", "cad_bad_rows.csv"],
    "eido": ["eido_call.json", "eido_incident.json"],
    "gtfs_rt": ["gtfs_vehicle_positions.pb"],
    "cot": ["cot_sa_atak.xml", "cot_stream.xml"],
    "osmand": ["osmand_traccar_client.json", "osmand_traccar_client_batch.json", "osmand_query.txt"],
    "alpr_json": ["alpr_reads.json"],
    "gunshot_json": ["gunshot_detections.json"],
    "alert_json": ["alerts.json"],
    "cap": ["cap_panic.xml", "cap_feed.xml", "cap_multi_info.xml", "cap_cancel.xml"],
}


def _sample(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


def _json_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _json_paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _json_paths(child, (*path, index))
    return found


def _replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    return [_replaced(child, rest, new) if index == head else child for index, child in enumerate(value)]


@st.composite
def mutated_json(draw: st.DrawFn, raw: bytes) -> bytes:
    """The JSON document with one or two of its values (or whole objects) replaced."""
    data = json.loads(raw)
    for _ in range(draw(st.integers(1, 2))):
        path = draw(st.sampled_from(_json_paths(data)))
        data = _replaced(data, path, draw(record_value))
    return json.dumps(data, ensure_ascii=False).encode("utf-8", "surrogatepass")


# A value in markup or a delimited line: an XML attribute value, XML text, a CSV cell, a query value.
_SLOTS = re.compile(rb'(?<==")[^"]*(?=")|(?<=>)[^<>]+(?=<)|(?<=[,=\n])[^,&\n]*')


@st.composite
def mutated_text(draw: st.DrawFn, raw: bytes) -> bytes:
    """The XML, CSV or query text with one or two values replaced (escaped or not: both happen)."""
    for _ in range(draw(st.integers(1, 2))):
        slots = list(_SLOTS.finditer(raw))
        if not slots:
            break
        slot = draw(st.sampled_from(slots))
        value = draw(scalar_text).encode("utf-8", "surrogatepass")
        raw = raw[: slot.start()] + value + raw[slot.end() :]
    return raw


@st.composite
def mutated_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    """A binary payload with a few bytes overwritten."""
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def near_misses(kind: str) -> st.SearchStrategy[bytes]:
    strategies = []
    for name in SAMPLES.get(kind, []):
        raw = _sample(name)
        if name.endswith(".json"):
            strategies.append(mutated_json(raw))
        elif name.endswith(".pb"):
            strategies.append(mutated_bytes(raw))
        else:
            strategies.append(mutated_text(raw))
    return st.one_of(*strategies) if strategies else json_bytes(json_values)


# The structured payloads per kind; any kind not listed (a new adapter) still gets bytes and JSON.
STRUCTURED: dict[str, st.SearchStrategy[bytes]] = {
    **{kind: json_bytes(records(fields)) for kind, fields in JSON_FIELDS.items()},
    "cot": xml_bytes,
    "cap": xml_bytes,
    "cad_csv": csv_bytes,
    "gtfs_rt": gtfs_bytes,
}
# fmt: off
CONTENT_TYPES = st.sampled_from([
    "application/json", "application/xml", "text/xml", "text/csv", "application/x-protobuf",
    "application/octet-stream", "text/plain; charset=utf-16", "application/x-www-form-urlencoded", "x/y",
])
# fmt: on


def payloads(kind: str) -> st.SearchStrategy[bytes]:
    """Anything at all, any JSON, the format's own shape with wrong values, and near misses of real payloads."""
    return st.one_of(
        st.binary(max_size=600),
        json_bytes(json_values),
        STRUCTURED.get(kind, json_bytes(json_values)),
        near_misses(kind),
    )


# ---------------------------------------------------------------------------------------------------------------------
# Feeds


def _dead_letters(source: FeedSource) -> int:
    return DeadLetter.objects.filter(source=source).count()


def _check_feed_answer(response: Any, source: FeedSource, letters_before: int) -> None:
    assert response.status_code < 500, response.content[:500]
    added = _dead_letters(source) - letters_before
    if response.status_code == 400:
        # Nothing in the payload was usable: it is kept, whole, as one dead letter.
        assert added == 1
        assert DeadLetter.objects.filter(source=source).order_by("-id").first().index == -1
    else:
        assert response.status_code == 200, response.content[:500]
        # Every refused record is a dead letter; a payload refused by nothing was entirely usable.
        assert added == response.json()["rejected"]


def _in_savepoint(call: Callable[[], Any]) -> Any:
    """One example's request in a savepoint, so an example that broke the transaction cannot fail the next."""
    with transaction.atomic():
        return call()


@pytest.mark.parametrize("kind", [kind for kind, _ in adapter_kinds()])
def test_push_of_any_payload_is_answered_without_a_server_error(kind):
    home = f.agency("FZ", name="Fuzz agency")
    source = FeedSource.objects.create(agency=home, name=f"{kind} fuzz", kind=kind, auto_create_units=True)
    token = source.issue_token()
    client = APIClient()

    @FUZZ
    @given(body=payloads(kind), content_type=CONTENT_TYPES)
    def push(body: bytes, content_type: str) -> None:
        before = _dead_letters(source)
        response = _in_savepoint(
            lambda: client.generic("POST", "/api/feeds/push/", body, content_type, HTTP_AUTHORIZATION=f"Bearer {token}")
        )
        _check_feed_answer(response, source, before)

    push()


OSMAND_KEYS = "id deviceid lat lon location timestamp speed bearing heading valid altitude accuracy batt hdop".split()
osmand_params = st.dictionaries(st.sampled_from(OSMAND_KEYS) | any_text.filter(bool), scalar_text, max_size=8)


def _quoted(text: str) -> str:
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"))


def _query(params: dict[str, str]) -> str:
    return "&".join(f"{_quoted(key)}={_quoted(value)}" for key, value in params.items())


def test_osmand_with_any_query_is_answered_without_a_server_error():
    home = f.agency("FZ", name="Fuzz agency")
    source = FeedSource.objects.create(agency=home, name="phones", kind="osmand", auto_create_units=True)
    token = source.issue_token()
    client = APIClient()
    raw_bytes = st.binary(max_size=80).map(lambda raw: quote_from_bytes(raw, safe="=&"))
    # The recorded OsmAnd query with a value or two gone wrong (sent as is: not every phone encodes).
    near_miss = mutated_text(_sample("osmand_query.txt").strip()).map(lambda raw: raw.decode("utf-8", "replace"))

    @settings(FUZZ, max_examples=examples(100))
    @given(params=osmand_params, raw=st.none() | raw_bytes | near_miss, method=st.sampled_from(["GET", "POST"]))
    def send(params: dict[str, str], raw: str | None, method: str) -> None:
        query = raw if raw is not None else _query(params)
        before = _dead_letters(source)
        if method == "GET":
            response = _in_savepoint(lambda: client.get(f"/api/feeds/osmand/{token}/?{query}"))
        else:
            form = "application/x-www-form-urlencoded"
            response = _in_savepoint(lambda: client.generic("POST", f"/api/feeds/osmand/{token}/", query, form))
        _check_feed_answer(response, source, before)

    send()


def test_a_bad_token_is_401_whatever_the_payload():
    client = APIClient()

    @settings(FUZZ, max_examples=examples(30))
    @given(token=any_text, body=st.binary(max_size=200))
    def push(token: str, body: bytes) -> None:
        header = f"Bearer {token}".encode("utf-8", "surrogatepass").decode("latin-1")
        response = client.generic("POST", "/api/feeds/push/", body, "application/json", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401

    push()


# ---------------------------------------------------------------------------------------------------------------------
# The layer API's query parameters, for a signed-in operator

LAYER_PARAMS = "in_bbox since until status page page_size limit plate reason hits kind".split()
# fmt: off
param_values = st.one_of(
    scalar_text,
    st.sampled_from([
        "-122.5,47.5,-122.2,47.7", "-122.5,47.5,-122.5,47.5", "-180,-90,180,90", "1,2,3", ",,,", "1,2,3,4,5",
        "pending,dispatched", "closed", "on_scene,", ",", "BXR*", "*", "**", "B%", "B_", "ABC123", "1", "0",
        "5000", "5001", "-1", "2147483648", "99999999999999999999", "beat", "panic",
    ]),
    st.lists(st.floats(), min_size=4, max_size=4).map(lambda numbers: ",".join(repr(n) for n in numbers)),
)
# fmt: on
LAYER_PATHS = """
    incidents cameras units zones alerts gunshots alpr/sites alpr/reads incidents/{incident}/cameras
    incidents/{incident}/units incidents/{incident} feeds
""".split()


def test_layer_queries_with_any_parameters_are_answered_without_a_server_error(operator_client, home):
    incident = f.incident(agency=home)
    f.camera(agency=home, sharing="live")
    f.unit(agency=home)
    f.zone(agency=home)
    f.alert(agency=home)
    f.gunshot(agency=home)
    site = f.alpr_site(agency=home)
    f.alpr_read(agency=home, plate="ABC123", site=site)

    @settings(FUZZ, max_examples=examples(100))
    @given(
        path=st.sampled_from(LAYER_PATHS),
        params=st.dictionaries(st.sampled_from(LAYER_PARAMS), param_values, max_size=6),
        raw=st.none() | st.binary(max_size=60).map(quote_from_bytes),
    )
    def query(path: str, params: dict[str, str], raw: str | None) -> None:
        url = f"/api/{path.format(incident=incident.pk)}/?{_query(params)}"
        if raw is not None:
            url += f"&{raw}"
        response = _in_savepoint(lambda: operator_client.get(url))
        assert response.status_code < 500, (url, response.content[:300])
        assert response.status_code in (200, 400, 403, 404), (url, response.status_code, response.content[:300])

    query()
