"""Cursor on Target (CoT) events: the XML that TAK clients (ATAK, WinTAK, iTAK) and gateways exchange.

Format: one `<event>` per report, UTF-8 XML, no namespace. A stream concatenates events, each
optionally preceded by its own `<?xml …?>` declaration::

    <event version="2.0" uid="ANDROID-0a1b2c" type="a-f-G-U-C" how="m-g"
           time="2024-05-01T12:00:00.000Z" start="2024-05-01T12:00:00.000Z" stale="2024-05-01T12:05:00.000Z">
      <point lat="47.6097" lon="-122.3331" hae="9999999.0" ce="9.9" le="9999999.0"/>
      <detail><contact callsign="ADAM-12"/><track course="92.5" speed="11.2"/></detail>
    </event>

`type` is an atom path: `a-<affiliation>-<dimension>-…` (`a-f-G` friendly ground, `a-f-A` friendly air,
`a-h-G` hostile ground …). Numbers CoT does not know are written 9999999. `track/@speed` is in metres per
second, `track/@course` in degrees clockwise from true north.

Mapping: unit_ref = @uid, call_sign = contact/@callsign, recorded_at = @time, heading/speed from track.

Decisions:
- Only friendly atoms of dimension ground, air or sea surface (`a-f-G…`, `a-f-A…`, `a-f-S…`) are unit
  positions. Other atoms (hostile, neutral, unknown or assumed-friend markers someone dropped on a map)
  are rejected with the reason, so a feed full of them shows. Events that are not atoms at all (`t-x-c-t`
  pings, `b-t-f` chat, `u-d-…` drawings) are not about positions and are skipped silently: a TAK stream
  carries many of them by design.
- @stale is not checked: an event whose stale time has passed is still a true fix at @time (a delayed
  or replayed report); which fix is current is the service's call, by recorded_at.
- A point at 9999999 (CoT's "unknown") or outside WGS84 is rejected; 9999999 in track means "unknown"
  and becomes None.

Parsing goes through defusedxml only, one event at a time, and a payload that declares a DTD or entities
is refused whole: no CoT producer needs one, so it is an attack or a broken sender.
"""
from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from apps.units.choices import UnitKind

from .base import ParseResult, PayloadError, PositionRecord, check_payload_size, register
from .common import PositionBatch, RecordError, coords, course, number, parse_xml, speed, text, timestamp

# An event starts at `<event` followed by whitespace, `>` or `/` (not `<events`), and ends at `</event>`.
_EVENT_START = re.compile(rb"<event(?=[\s/>])")
_EVENT_END = re.compile(rb"</event\s*>")
_OPEN_TAG = b"<event"
_BOUNDARY = re.compile(rb"<event(?=[\s/>])|</event\s*>")
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# TAK protocol version 1 frames start with this magic byte; the body is protobuf, not XML.
_TAK_MAGIC = 0xBF

UNKNOWN = 9999999.0
_DIMENSION_KINDS = {"G": "", "A": UnitKind.AIR.value, "S": ""}


def frame_events(data: bytes | bytearray, *, final: bool = False) -> tuple[list[bytes], bytes]:
    """Cut a CoT byte stream into event documents.

    Returns the pieces found, in order, and the tail still waiting for more bytes (empty when `final`).
    A piece runs from `<event` to `</event>`; bytes outside events (XML declarations, keep-alive newlines,
    garbage) are dropped. An event cut short by the next `<event`, or by the end of a `final` buffer, is
    still returned as a piece: it will fail to parse and be rejected, so a sender truncating its events
    shows in the feed's rejection count instead of vanishing here.
    """
    pieces: list[bytes] = []
    pos = 0
    while True:
        start = _EVENT_START.search(data, pos)
        if start is None:
            return pieces, b"" if final else bytes(_partial_open_tag(data, pos))
        following = _EVENT_START.search(data, start.end())
        limit = following.start() if following else len(data)
        end = _EVENT_END.search(data, start.end(), limit)
        if end is not None:
            pieces.append(bytes(data[start.start() : end.end()]))
            pos = end.end()
        elif following is not None:
            pieces.append(bytes(data[start.start() : following.start()]))
            pos = following.start()
        elif final:
            pieces.append(bytes(data[start.start() :]))
            return pieces, b""
        else:
            return pieces, bytes(data[start.start() :])


def _partial_open_tag(data: bytes | bytearray, pos: int) -> bytes | bytearray:
    """The end of the buffer when it may be the first bytes of `<event` (the rest is in the next read)."""
    cut = data.rfind(b"<", max(pos, len(data) - len(_OPEN_TAG)))
    if cut != -1 and _OPEN_TAG.startswith(data[cut:]):
        return data[cut:]
    return b""


class EventStream:
    """Frames one connection's byte stream incrementally: `feed` each read, get the finished events back.

    Re-framing rescans the unfinished event from its start, so it is done only when the new bytes may
    hold an event boundary; a sender dribbling one byte at a time would otherwise cost a scan of the
    whole buffer per byte.
    """

    # How far back a boundary may begin before the new bytes: `</event` plus some whitespace and `>`.
    _LOOKBACK = 16

    def __init__(self) -> None:
        self.buffer = bytearray()
        self._scanned = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        # Only an unfinished event is kept between reads; anything else (garbage, a partial `<event`) is
        # at most a few bytes, so framing it again is cheap and drops the garbage at once.
        holding_event = _EVENT_START.match(self.buffer) is not None
        self.buffer += chunk
        if holding_event and not _BOUNDARY.search(self.buffer, max(0, self._scanned - self._LOOKBACK)):
            self._scanned = len(self.buffer)
            return []
        events, tail = frame_events(self.buffer)
        self.buffer = bytearray(tail)
        self._scanned = len(self.buffer)
        return events

    def close(self) -> list[bytes]:
        """The stream ended: whatever event is unfinished is handed on, to be rejected with a reason."""
        events, _ = frame_events(self.buffer, final=True)
        self.buffer = bytearray()
        return events


@register
class CursorOnTargetAdapter:
    """Friendly-unit CoT events (one or a concatenated stream of them) become PositionRecords."""

    kind = "cot"
    label = "Cursor on Target (CoT) XML events"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        if payload[:1] == bytes([_TAK_MAGIC]):
            raise PayloadError("payload is TAK protocol v1 (protobuf); configure the sender for CoT XML")
        if _DTD.search(payload):
            raise PayloadError("CoT payloads may not declare a DTD or entities (refused as a possible XML bomb)")
        pieces, _ = frame_events(payload, final=True)
        if not pieces:
            raise PayloadError("payload holds no CoT <event> element")

        batch = PositionBatch()
        unreadable: list[str] = []
        for index, piece in enumerate(pieces):
            raw = piece.decode("utf-8", errors="replace")
            try:
                event = parse_xml(piece, "CoT event")
            except RecordError as exc:
                unreadable.append(str(exc))
                batch.reject(index, str(exc), raw)
                continue
            try:
                record = self._position(event)
            except RecordError as exc:
                batch.reject(index, str(exc), raw)
            except (TypeError, ValueError) as exc:
                # A shape no check anticipated costs this event, not the stream.
                batch.reject(index, f"unexpected event shape: {exc}", raw)
            else:
                if record is not None:
                    batch.add(index, record, raw)
        if len(unreadable) == len(pieces):
            # Nothing in it is XML: a truncated or wrong payload, not a batch with a few bad events.
            raise PayloadError(f"no readable CoT event in payload: {unreadable[0]}")
        return batch.result

    def _position(self, event: Element) -> PositionRecord | None:
        """The unit position an event reports, None when the event is not about a position."""
        if event.tag != "event":
            raise RecordError(f"root element is <{event.tag}>, not <event>")
        cot_type = text(event.get("type"), "type", max_len=100)
        parts = cot_type.split("-")
        if parts[0] != "a":
            return None
        if len(parts) < 3 or parts[1] != "f" or parts[2] not in _DIMENSION_KINDS:
            raise RecordError(f"type {cot_type!r} is not a friendly ground, air or surface unit")
        uid = text(event.get("uid"), "uid", max_len=100)

        point = event.find("point")
        if point is None:
            raise RecordError("event has no <point>")
        lat = number(point.get("lat"), "point lat")
        lon = number(point.get("lon"), "point lon")
        if UNKNOWN in (abs(lat), abs(lon)):
            raise RecordError("point is 9999999, CoT's 'position unknown'")
        lon, lat = coords(lon, lat)

        detail = event.find("detail")
        contact = detail.find("contact") if detail is not None else None
        track = detail.find("track") if detail is not None else None
        return PositionRecord(
            unit_ref=uid,
            lon=lon,
            lat=lat,
            recorded_at=timestamp(event.get("time"), "time"),
            heading=course(_known(track, "course"), "track course"),
            speed=speed(_known(track, "speed"), "track speed"),
            call_sign=text(contact.get("callsign") if contact is not None else None, "callsign", optional=True),
            unit_kind=_DIMENSION_KINDS[parts[2]],
        )


def _known(element: Element | None, name: str) -> str | None:
    """An attribute's value, None when absent or CoT's 9999999 'unknown'."""
    value = element.get(name) if element is not None else None
    try:
        if value is not None and abs(float(value)) == UNKNOWN:
            return None
    except ValueError:
        pass  # not a number: the caller's check rejects it with a reason
    return value
