"""Polling a CAP index feed (ATOM or RSS, NWS style): its inline entries are ingested as they are, and
each entry that only links to a CAP document has that document fetched and ingested.

Limits on the linked documents:
* host: the feed's own host (scheme http or https; its port or the scheme's default, so a feed cannot
  point the poller at another service of its host), or one listed in the source's params
  ``cap_hosts``; a link elsewhere is refused with a dead letter (never fetched). A listed other
  host must resolve to public addresses only (loopback, private, link-local... are refused, and
  the connection goes to the checked address, so DNS rebinding changes nothing).
* the source's poll credentials go with requests to the feed's own origin only.
* redirects are not followed; each answer is cut at RTCC_FEED_MAX_BYTES, each request times out
  after RTCC_FEED_POLL_TIMEOUT; at most ``cap_max_fetch`` (params, default 50) documents per poll
  and no new fetch after CAP_POLL_BUDGET seconds: the rest wait for the next poll.
* an entry already handled (same id and updated) is not fetched again: its key is kept in the cache
  for SEEN_TTL. A transient failure (timeout, 5xx) leaves the entry unseen, to try next poll.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.cache import cache

from .adapters.base import PayloadError, Rejected, TransientError
from .adapters.cap import LINKS_FETCHED, index
from .adapters.common import RecordError, excerpt, parse_xml
from .models import FeedSource
from .services import IngestReport, feed_ingest, feed_record_rejections

log = logging.getLogger(__name__)
SEEN_TTL = 14 * 24 * 3600
CAP_POLL_BUDGET = 60.0  # seconds; feed_poll's soft time limit is 100
DEFAULT_MAX_FETCH = 50
MAX_FETCH_CEILING = 500
USER_AGENT = "rtcc-gis feed poller"


class LinkRefused(Exception):
    """The linked document may not be fetched (another host, a private address, a redirect...)."""


def cap_index_root(body: bytes):
    """The parsed feed when `body` is an ATOM/RSS index, else None (a CAP document, or unreadable)."""
    try:
        root = parse_xml(body.removeprefix(b"\xef\xbb\xbf"), "CAP payload")
    except RecordError:
        return None
    return root if index.is_index(root) else None


def _seen_key(source: FeedSource, entry_key: str) -> str:
    return f"feeds:cap-index:{source.pk}:{hashlib.sha256(source.url.encode()).hexdigest()[:16]}:{entry_key}"


def cap_index_poll(source: FeedSource, body: bytes, content_type: str, root) -> dict:
    """Ingest an index payload and the documents it links to; one report for the whole poll."""
    report = feed_ingest(source_id=source.pk, payload=body, content_type=content_type, params={LINKS_FETCHED: True})
    totals = report.as_dict()
    totals |= {"fetched": 0, "seen": 0, "deferred": 0}
    limit = _max_fetch(source.params)
    started = time.monotonic()
    for position, entry in enumerate(index.entries(root)):
        if entry.inline:
            continue
        key = _seen_key(source, entry.key)
        if _seen(key):
            totals["seen"] += 1
            continue
        if not entry.link:
            feed_record_rejections(
                source=source,
                rejected=[
                    Rejected(
                        position,
                        "entry has neither cap: elements nor a link to a CAP document",
                        excerpt(entry.element.findtext("{http://www.w3.org/2005/Atom}title") or ""),
                    )
                ],
            )
            totals["rejected"] += 1
            _mark_seen(key)
            continue
        if totals["fetched"] >= limit or time.monotonic() - started > CAP_POLL_BUDGET:
            totals["deferred"] += 1
            continue
        try:
            document, doc_type = fetch_linked(source, entry.link)
        except LinkRefused as exc:
            feed_record_rejections(source=source, rejected=[Rejected(position, str(exc), excerpt(entry.link))])
            totals["rejected"] += 1
            _mark_seen(key)
            continue
        except TransientError:
            totals["deferred"] += 1
            continue
        totals["fetched"] += 1
        try:
            linked = feed_ingest(source_id=source.pk, payload=document, content_type=doc_type)
        except PayloadError:
            totals["rejected"] += 1  # feed_ingest recorded the dead letter
        else:
            _add(totals, linked)
        _mark_seen(key)
    return totals


def _max_fetch(params: dict) -> int:
    try:
        return min(max(int(params.get("cap_max_fetch", DEFAULT_MAX_FETCH)), 1), MAX_FETCH_CEILING)
    except (TypeError, ValueError):
        return DEFAULT_MAX_FETCH


def _seen(key: str) -> bool:
    try:
        return bool(cache.get(key))
    except Exception:  # noqa: BLE001 - the cache down costs a refetch (counted as duplicates), not the poll
        log.warning("cache unavailable: CAP index entry %s treated as new", key)
        return False


def _mark_seen(key: str) -> None:
    try:
        cache.set(key, 1, SEEN_TTL)
    except Exception:  # noqa: BLE001 - see _seen
        log.warning("cache unavailable: CAP index entry %s not remembered", key)


def _same_origin(parts, feed_parts) -> bool:
    """The feed's host, on the feed's port or the link scheme's default port (http→https allowed)."""
    if (parts.hostname or "").lower() != (feed_parts.hostname or "").lower():
        return False
    default = {"http": 80, "https": 443}
    feed_port = feed_parts.port or default.get(feed_parts.scheme, 0)
    port = parts.port or default[parts.scheme]
    return port in (feed_port, default[parts.scheme])


def _add(totals: dict, report: IngestReport) -> None:
    part = report.as_dict()
    totals["accepted"] += part["accepted"]
    totals["duplicates"] += part["duplicates"]
    totals["rejected"] += part["rejected"]
    totals["rejections"] = (totals["rejections"] + part["rejections"])[:50]


def fetch_linked(source: FeedSource, url: str) -> tuple[bytes, str]:
    """GET a linked CAP document under the rules of the module docstring."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise LinkRefused(f"link {url!r} is not a valid URL") from None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host:
        raise LinkRefused(f"link {url!r} is not an http(s) URL")
    feed_parts = urlsplit(source.url)
    feed_host = (feed_parts.hostname or "").lower()
    listed = source.params.get("cap_hosts") or []
    allowed = [str(h).lower() for h in ([listed] if isinstance(listed, str) else listed)]
    headers = {"User-Agent": USER_AGENT}
    extensions = {}
    target = url
    if _same_origin(parts, feed_parts):
        from .tasks import credentials_header  # the feed's own credentials, for its own origin only

        # Never in clear text when the feed itself is fetched over https.
        cleartext_downgrade = feed_parts.scheme == "https" and parts.scheme != "https"
        if not cleartext_downgrade and (authorization := credentials_header(source)):
            headers["Authorization"] = authorization
    else:
        if host == feed_host and host not in allowed:
            raise LinkRefused(f"link to port {port} of the feed's host {host}; not fetched")
        if host not in allowed:
            raise LinkRefused(
                f"link to {host}, another host than the feed's ({feed_host}); not fetched "
                "(list it in the source's params cap_hosts to allow it)"
            )
        address = _public_address(host, port)
        target = str(httpx.URL(url).copy_with(host=address))
        headers["Host"] = parts.netloc
        extensions["sni_hostname"] = host
    limit = settings.RTCC_FEED_MAX_BYTES
    try:
        with httpx.Client(follow_redirects=False, trust_env=False, timeout=settings.RTCC_FEED_POLL_TIMEOUT) as client:
            request = client.build_request("GET", target, headers=headers, extensions=extensions)
            response = client.send(request, stream=True)
            try:
                return _read(response, url, limit)
            finally:
                response.close()
    except httpx.TimeoutException:
        raise TransientError(f"{url} did not answer in time") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TransientError(f"could not fetch {url}: {type(exc).__name__}") from None


def _read(response: httpx.Response, url: str, limit: int) -> tuple[bytes, str]:
    if response.is_redirect:
        raise LinkRefused(f"{url} answered a redirect ({response.status_code}); not followed")
    if response.status_code >= 500 or response.status_code == 429:
        raise TransientError(f"{url} answered {response.status_code}")
    if response.status_code >= 400:
        raise LinkRefused(f"{url} answered {response.status_code}")
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise LinkRefused(f"{url} is over the {limit} byte limit")
    return bytes(body), response.headers.get("content-type", "")


def _public_address(host: str, port: int) -> str:
    """The address to connect to: every address `host` resolves to must be public."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise TransientError(f"{host} does not resolve") from None
    addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    for address in addresses:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if not mapped.is_global or mapped.is_multicast:
            raise LinkRefused(f"{host} resolves to a non-public address ({address}); not fetched")
    if not addresses:
        raise TransientError(f"{host} does not resolve")
    return str(addresses[0])
