"""ATAK's `<videoConnections>` feed list: the video feeds a TAK server or data package hands to clients.

    <videoConnections><feed><protocol>rtsp</protocol><alias>Gate 3</alias><uid>1357c5e9-…</uid>
      <address>cam.example.org</address><port>-1</port><path>/live/gate3</path>…</feed>…</videoConnections>

A feed has no location, so it cannot place a camera: each entry updates the stream of the camera that
a sensor point with the same uid placed (`CameraRecord` with no lon/lat); the writer rejects the entry
with the reason when there is none. Port -1 is ATAK's "the protocol's default port".
"""

from __future__ import annotations

import re

from ..base import CameraRecord, ParseResult, PayloadError, Rejected
from ..common import RecordError, excerpt, parse_xml, text

_FEED_LIST = re.compile(rb"^\s*(?:<\?[^<>]*\?>\s*)?<videoConnections[\s>]")


def is_feed_list(payload: bytes) -> bool:
    return _FEED_LIST.match(payload[:512]) is not None


def feed_url(protocol: str, address: str, port: str, path: str) -> str:
    """The URL of an ATAK feed from its parts; port -1 (or none) means the protocol's default."""
    protocol, address, port, path = (v.strip() for v in (protocol, address, port, path))
    if not protocol or not address:
        return ""
    hostport = address if port in ("", "-1", "0") else f"{address}:{port}"
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{protocol.lower()}://{hostport}{path}"


def video_connections(payload: bytes) -> ParseResult:
    try:
        root = parse_xml(payload, "videoConnections feed list")
    except RecordError as exc:
        raise PayloadError(str(exc)) from None
    result = ParseResult()
    for index, feed in enumerate(root.findall("feed")):

        def field(name: str, feed=feed) -> str:
            return (feed.findtext(name) or "").strip()

        try:
            uid = text(field("uid"), "feed uid", max_len=64)
            url = feed_url(field("protocol"), field("address"), field("port"), field("path"))
            if not url:
                raise RecordError("feed has no protocol or address")
            name = text(field("alias") or uid, "feed alias", max_len=200)
        except RecordError as exc:
            result.rejected.append(Rejected(index=index, reason=str(exc), raw=excerpt(field("alias"))))
            continue
        result.records.append(CameraRecord(external_id=uid, name=name, lon=None, lat=None, stream_url=url))
    if not result.records and not result.rejected:
        raise PayloadError("videoConnections feed list holds no <feed>")
    return result
