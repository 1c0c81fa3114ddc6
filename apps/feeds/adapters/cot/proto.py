"""TAK Protocol version 1: a `TakMessage` (protobuf) read back into the CoT `<event>` it stands for.

TAK clients that negotiated protocol 1 (or are configured for it, like pytak with TAK_PROTO=1) send the
same event as protobuf: `TakMessage.cotEvent` carries the event's attributes and point as fields (times
in milliseconds since the epoch), the common detail elements as typed messages (contact, __group,
precisionlocation, status, takv, track), and every other detail element as an XML string in
`detail.xmlDetail`. Turning it back into the same element tree lets one mapping serve XML and protobuf.

The messages are decoded with the `takproto` package's generated classes over the protobuf runtime the
project already uses. `xmlDetail` is untrusted XML like any CoT: it is parsed through defusedxml.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.etree.ElementTree import Element, SubElement

from google.protobuf.message import DecodeError
from takproto.proto import TakMessage

from ..common import RecordError, parse_xml
from .framing import _varint

# Typed detail fields and the element/attribute names they stand for in CoT XML.
_DETAIL_FIELDS = {
    "contact": ("contact", ("endpoint", "callsign")),
    "group": ("__group", ("name", "role")),
    "precisionLocation": ("precisionlocation", ("geopointsrc", "altsrc")),
    "status": ("status", ("battery",)),
    "takv": ("takv", ("device", "platform", "os", "version")),
    "track": ("track", ("speed", "course")),
}


def decode_frame(frame: bytes) -> Element:
    """A streaming-framed TAK message (see framing) as a CoT `<event>` element; RecordError if it is not one."""
    try:
        header = _varint(frame, 1)
    except ValueError:
        header = None
    if header is None:
        raise RecordError("TAK protocol frame has no valid length")
    length, body = header
    message = frame[body:]
    if len(message) != length:
        raise RecordError(f"TAK protocol frame is cut off: {len(message)} of {length} bytes")
    tak = TakMessage()
    try:
        tak.ParseFromString(message)
    except DecodeError as exc:
        raise RecordError(f"TAK protocol message is not a valid TakMessage protobuf: {exc}") from None
    if not tak.HasField("cotEvent"):
        raise RecordError("TAK protocol message carries no cotEvent")
    return to_element(tak)


def _iso(ms: int) -> str:
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        raise RecordError(f"TAK protocol time {ms} ms is out of range") from None


def to_element(tak: TakMessage) -> Element:
    cot = tak.cotEvent
    event = Element("event", version="2.0")
    for name in ("type", "access", "qos", "opex", "uid", "how"):
        value = getattr(cot, name)
        if value:
            event.set(name, value)
    for name, field in (("time", "sendTime"), ("start", "startTime"), ("stale", "staleTime")):
        value = getattr(cot, field)
        if value:
            event.set(name, _iso(value))
    SubElement(event, "point", {name: repr(getattr(cot, name)) for name in ("lat", "lon", "hae", "ce", "le")})
    if cot.HasField("detail"):
        detail = SubElement(event, "detail")
        if cot.detail.xmlDetail:
            extra = parse_xml(f"<detail>{cot.detail.xmlDetail}</detail>".encode(), "TAK protocol xmlDetail")
            detail.extend(list(extra))
        for field, (tag, attributes) in _DETAIL_FIELDS.items():
            if cot.detail.HasField(field):
                typed = getattr(cot.detail, field)
                SubElement(detail, tag, {name: str(getattr(typed, name)) for name in attributes})
    return event
