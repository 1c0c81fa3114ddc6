"""Polled CAP index feeds (ATOM / RSS, NWS style) against a local HTTP server serving the real samples:
inline cap: entries are used directly, linked CAP documents are fetched once per entry version, and a
link the poller may not follow (another host, a private address, a redirect, too big) is a counted
dead letter, never a fetch."""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.sax.saxutils import escape

import pytest
from django.test import TestCase

from apps.feeds.models import DeadLetter, FeedSource
from apps.feeds.tasks import feed_poll
from apps.sensors.models import Alert

from .real_samples import real_sample

pytestmark = pytest.mark.shared_data

CAP_FILES = (
    "oasiscap_ipaws-5e7e0fc5023f1930efcf3deb.xml",
    "meteoalarm_cap_met_eireann_polygons_fips.xml",
    "oasiscap_v1dot0_appendix_adot3.xml",
)


class Server:
    """Serves set routes and counts the requests per path."""

    def __init__(self):
        self.routes: dict[str, tuple[int, bytes, dict]] = {}
        self.hits: Counter[str] = Counter()
        self.auth: dict[str, str] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits[self.path] += 1
                server.auth[self.path] = self.headers.get("Authorization", "")
                code, body, headers = server.routes.get(self.path, (404, b"not found", {}))
                self.send_response(code)
                for name, value in {"Content-Type": "application/xml", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_port
        self.base = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, path: str, body: bytes, code: int = 200, **headers):
        self.routes[path] = (code, body, headers)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def atom_index(entries: list[tuple[str, str, str]]) -> bytes:
    """An NWS-style ATOM index: (id, updated, CAP document URL) per entry, no cap: elements."""
    items = "".join(
        f"<entry><id>{escape(i)}</id><updated>{u}</updated><title>alert</title>"
        f'<link rel="alternate" type="application/cap+xml" href="{escape(url)}"/></entry>'
        for i, u, url in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<id>urn:test:index</id><title>Alerts</title><updated>2024-01-01T00:00:00Z</updated>{items}</feed>"
    ).encode()


def poll_source(agency, url: str, **params) -> FeedSource:
    return FeedSource.objects.create(agency=agency, name="CAP index", kind="cap", mode="poll", url=url, params=params)


def poll(source) -> dict:
    with TestCase.captureOnCommitCallbacks(execute=True):
        return feed_poll.apply(args=[source.pk]).get()


def test_linked_cap_documents_are_fetched_once_per_entry_version(home, server):
    for name in CAP_FILES:
        server.serve(f"/cap/{name}", real_sample("cap", name).read_bytes())
    entries = [(f"urn:test:{n}", "2024-01-01T00:00:00Z", f"{server.base}/cap/{n}") for n in CAP_FILES]
    server.serve("/index.atom", atom_index(entries), **{"Content-Type": "application/atom+xml"})
    source = poll_source(home, server.base + "/index.atom")

    first = poll(source)
    assert (first["accepted"], first["rejected"], first["fetched"]) == (3, 0, 3)
    alerts = {a.title: a for a in Alert.objects.filter(source=source.name)}
    assert set(alerts) == {"Local Area Emergency", "Yellow Low Temperature/Ice", "Earthquake"}
    assert alerts["Local Area Emergency"].area is not None  # the IPAWS 41-vertex polygon
    assert alerts["Yellow Low Temperature/Ice"].area.num_geom >= 1

    second = poll(source)
    assert (second["fetched"], second["seen"], second["accepted"]) == (0, 3, 0)
    assert all(server.hits[f"/cap/{n}"] == 1 for n in CAP_FILES)

    # An entry whose `updated` changed is fetched again (a repeat of a stored message is a duplicate).
    entries[0] = (entries[0][0], "2024-01-01T01:00:00Z", entries[0][2])
    server.serve("/index.atom", atom_index(entries))
    third = poll(source)
    assert (third["fetched"], third["seen"], third["duplicates"]) == (1, 2, 1)
    assert server.hits[f"/cap/{CAP_FILES[0]}"] == 2


def test_meteoalarm_atom_entries_with_cap_elements_are_used_directly(home, server):
    body = real_sample("cap", "meteoalarm_atom_feed_france_2022-12-08.xml").read_bytes()
    server.serve("/meteoalarm.atom", body)
    source = poll_source(home, server.base + "/meteoalarm.atom")
    report = poll(source)
    identifiers = {
        line.split(">")[1].split("<")[0] for line in body.decode().splitlines() if "<cap:identifier>" in line
    }
    # One alert per CAP message (MeteoAlarm lists a message once per area), none fetched.
    assert (report["accepted"], report["rejected"], report["fetched"]) == (len(identifiers), 0, 0)
    assert len(server.hits) == 1
    alerts = list(Alert.objects.filter(source=source.name))
    assert len(alerts) == len(identifiers) and len(alerts) < 12
    merged = max(alerts, key=lambda a: a.area_desc.count(";"))
    assert "Haute Savoie" in merged.area_desc and "Savoie" in merged.area_desc
    assert all(a.location is None and "NUTS3:FR" in a.detail for a in alerts)  # no zone carries NUTS3 codes


def test_gdacs_rss_links_to_another_host_are_refused_not_fetched(home, server):
    server.serve("/rss.xml", real_sample("cap", "gdacs_rss_archive_orange-red_2012-2016.rss.xml").read_bytes())
    source = poll_source(home, server.base + "/rss.xml")
    report = poll(source)
    assert (report["accepted"], report["fetched"], report["rejected"]) == (0, 0, 100)
    letters = DeadLetter.objects.filter(source=source)
    assert letters.count() == 100
    assert "link to www.gdacs.org, another host than the feed's (127.0.0.1); not fetched" in letters[0].reason
    source.refresh_from_db()
    assert source.rejected_count == 100
    # The same entries next poll: already handled, no new dead letters.
    assert poll(source)["seen"] == 100
    assert DeadLetter.objects.filter(source=source).count() == 100


def test_links_the_poller_must_not_follow(home, server, settings):
    name = CAP_FILES[2]
    server.serve("/cap/moved", b"", code=302, Location=f"http://169.254.169.254/{name}")
    server.serve("/cap/big", real_sample("cap", CAP_FILES[1]).read_bytes())
    entries = [
        ("urn:a", "t", f"http://localhost:{server.port}/cap/x"),  # listed host, but a loopback address
        ("urn:b", "t", f"{server.base}/cap/moved"),
        ("urn:c", "t", f"{server.base}/cap/big"),
        ("urn:d", "t", "file:///etc/passwd"),
        ("urn:e", "t", f"http://127.0.0.1:{server.port + 1}/cap/x"),  # the feed's host, another service
    ]
    server.serve("/index.atom", atom_index(entries))
    settings.RTCC_FEED_MAX_BYTES = 20_000
    source = poll_source(home, server.base + "/index.atom", cap_hosts=["localhost"])
    report = poll(source)
    assert (report["accepted"], report["fetched"], report["rejected"]) == (0, 0, 5)
    reasons = sorted(DeadLetter.objects.filter(source=source).values_list("reason", flat=True))
    assert any("localhost resolves to a non-public address" in r for r in reasons)
    assert any("answered a redirect (302); not followed" in r for r in reasons)
    assert any("over the 20000 byte limit" in r for r in reasons)
    assert any("is not an http(s) URL" in r for r in reasons)
    assert any(f"link to port {server.port + 1} of the feed's host 127.0.0.1; not fetched" in r for r in reasons)
    assert "/cap/x" not in server.hits


def test_fetches_per_poll_are_capped_and_the_rest_wait(home, server):
    for name in CAP_FILES:
        server.serve(f"/cap/{name}", real_sample("cap", name).read_bytes())
    entries = [(f"urn:{n}", "t", f"{server.base}/cap/{n}") for n in CAP_FILES]
    server.serve("/index.atom", atom_index(entries))
    source = poll_source(home, server.base + "/index.atom", cap_max_fetch=2)
    first = poll(source)
    assert (first["fetched"], first["deferred"]) == (2, 1)
    second = poll(source)
    assert (second["fetched"], second["seen"], second["deferred"]) == (1, 2, 0)
    source.params = {"cap_max_fetch": "lots"}  # a bad value falls back to the default, not a failed poll
    source.save()
    assert poll(source)["seen"] == 3


def test_a_transient_failure_leaves_the_entry_for_the_next_poll(home, server):
    name = CAP_FILES[2]
    server.serve(f"/cap/{name}", b"busy", code=503)
    server.serve("/index.atom", atom_index([("urn:q", "t", f"{server.base}/cap/{name}")]))
    source = poll_source(home, server.base + "/index.atom")
    assert poll(source)["deferred"] == 1
    server.serve(f"/cap/{name}", real_sample("cap", name).read_bytes())
    report = poll(source)
    assert (report["fetched"], report["accepted"]) == (1, 1)
    assert server.hits[f"/cap/{name}"] == 2


def test_push_of_an_index_names_the_links_it_cannot_fetch(home):
    from apps.feeds.adapters.base import get_adapter

    result = get_adapter("cap").parse(real_sample("cap", "gdacs_rss_archive_orange-red_2012-2016.rss.xml").read_bytes())
    assert result.records == [] and len(result.rejected) == 100
    assert "only a polled source fetches it" in result.rejected[0].reason
    assert "http://www.gdacs.org/cap.aspx?eventtype=FL&eventid=4339" in result.rejected[0].reason


def test_the_feed_credentials_go_to_its_own_origin_only(home, server, monkeypatch):
    monkeypatch.setenv("CAP_FEED_TOKEN", "s3cret")
    name = CAP_FILES[2]
    server.serve(f"/cap/{name}", real_sample("cap", name).read_bytes())
    entries = [("urn:own", "t", f"{server.base}/cap/{name}"), ("urn:other", "t", "https://alerts.example.org/x.xml")]
    server.serve("/index.atom", atom_index(entries))
    source = poll_source(home, server.base + "/index.atom")
    source.credentials_ref = "CAP_FEED_TOKEN"
    source.save()
    report = poll(source)
    assert (report["fetched"], report["accepted"], report["rejected"]) == (1, 1, 1)
    assert server.auth == {"/index.atom": "Bearer s3cret", f"/cap/{name}": "Bearer s3cret"}
