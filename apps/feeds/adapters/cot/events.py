"""Cursor on Target (CoT) events, as XML or TAK protocol, become positions, alerts and cameras.

Format: one `<event>` per report, UTF-8 XML, no namespace (or the same event as a TAK protocol
`TakMessage`, see `proto`)::

    <event version="2.0" uid="ANDROID-0a1b2c" type="a-f-G-U-C" how="m-g"
           time="2024-05-01T12:00:00.000Z" start="2024-05-01T12:00:00.000Z" stale="2024-05-01T12:05:00.000Z">
      <point lat="47.6097" lon="-122.3331" hae="9999999.0" ce="9.9" le="9999999.0"/>
      <detail><contact callsign="ADAM-12"/><track course="92.5" speed="11.2"/></detail>
    </event>

`type` is an atom path: `a-<affiliation>-<dimension>-…` (`a-f-G` friendly ground, `a-f-A` friendly air,
`a-h-G` hostile ground …). Numbers CoT does not know are written 9999999. `track/@speed` is in metres per
second, `track/@course` in degrees clockwise from true north.

What each event becomes (decisions):
- Friendly atoms of dimension ground, air or sea surface (`a-f-G…`, `a-f-A…`, `a-f-S…`): a unit position
  (unit_ref = @uid, call_sign = contact/@callsign, recorded_at = @time, heading/speed from track). Other
  atoms (hostile, neutral, unknown or assumed-friend markers) are rejected with the reason.
- Emergencies `b-a-o-tbl` (911), `b-a-o-pan` (ring the bell), `b-a-o-opn` (in contact) and other `b-a-o-*`:
  a PANIC alert keyed by the event uid (ATAK derives it from the device: `<device uid>-9-1-1`), so the
  repeats a client sends are one alert and the cancel finds it. `b-a-o-can` or `<emergency cancel="true">`
  closes it.
- Non-atom events with `<sensor>` or `<__video>` (ATAK sensor points `b-m-p-s-p-loc`, video markers): a
  camera keyed by @uid, heading = sensor/@azimuth, fov_angle = sensor/@fov, fov_range = sensor/@range,
  stream from `__video/@url` (or its `ConnectionEntry`).
- TAK control events `t-…` (pings `t-x-c-t`, protocol negotiation `t-x-takp-*`, deletes `t-x-d-d`):
  *ignored*, counted by type on the source: they carry no place or person.
- Everything else (GeoChat `b-t-f`, map markers `b-m-p-*`, routes `b-m-r`, drawings and geofences `u-d-*`,
  unknown types) is rejected with a reason naming the type: someone meant another person to see it, so
  a dead letter shows what this system does not take.
- A point at 9999999 (CoT's "unknown"), outside WGS84, or within 0.1° of (0,0) (a TAK client without a
  GPS fix reports ~(0,0) with hae 9999999) is rejected; 9999999 in track means "unknown" and is None.
- @stale is not checked: an event whose stale time has passed is still a true fix at @time.

Parsing goes through defusedxml only, one event at a time, and a payload that declares a DTD or entities
is refused whole: no CoT producer needs one, so it is an attack or a broken sender.
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element

from apps.sensors.choices import AlertKind
from apps.units.choices import UnitKind

from ..base import (
    AlertCloseRecord,
    AlertRecord,
    CameraRecord,
    ParseResult,
    PayloadError,
    PositionRecord,
    check_payload_size,
    register,
)
from ..common import PositionBatch, RecordError, coords, course, number, parse_xml, speed, text, timestamp
from .feeds import feed_url, is_feed_list, video_connections
from .framing import frame_events, mesh_to_stream, piece_kind
from .proto import decode_frame

_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)

UNKNOWN = 9999999.0
NULL_ISLAND = 0.1  # degrees: a point this close to (0,0) is a missing fix, not a place
_DIMENSION_KINDS = {"G": "", "A": UnitKind.AIR.value, "S": ""}
_EMERGENCY_TITLES = {"b-a-o-tbl": "911 Alert", "b-a-o-pan": "Ring The Bell", "b-a-o-opn": "In Contact"}
# What the types we refuse are, so the dead letter says it in words.
_NOT_INGESTED = (
    ("b-t-f", "GeoChat message"),
    ("b-m-r", "route"),
    ("b-m-p", "map point or marker"),
    ("u-d", "drawing, shape or geofence"),
    ("b-f-t", "file transfer"),
    ("b-i", "image or video announcement"),
)


def _not_ingested(cot_type: str) -> str:
    for prefix, what in _NOT_INGESTED:
        if cot_type == prefix or cot_type.startswith(prefix + "-"):
            return f"event type {cot_type!r} ({what}) is not ingested"
    return f"event type {cot_type!r} is not ingested"


def _junk_reason(piece: bytes) -> str:
    if piece[:1] == b"<":
        tag = re.match(rb"<([A-Za-z_][\w.:-]*)", piece)
        name = tag.group(1).decode("ascii", "replace") if tag else piece[:20].decode("utf-8", "replace")
        return f"not a CoT event: XML <{name}> where <event> or a TAK protocol frame was expected"
    if piece[:4] == b"0xbf":
        return "not a TAK protocol frame: 0xbf followed by an impossible message length"
    return f"not CoT: {len(piece)}{'+' if len(piece) >= 1024 else ''} bytes that are neither XML events nor TAK frames"


@register
class CursorOnTargetAdapter:
    """CoT events (XML and/or TAK protocol frames, one or a stream) become positions, alerts and cameras."""

    kind = "cot"
    label = "Cursor on Target (CoT) XML events and TAK protocol"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        if _DTD.search(payload):
            raise PayloadError("CoT payloads may not declare a DTD or entities (refused as a possible XML bomb)")
        if is_feed_list(payload):
            return video_connections(payload)
        pieces, _ = frame_events(mesh_to_stream(payload), final=True)
        if not pieces:
            raise PayloadError("payload holds no CoT <event> element or TAK protocol frame")

        batch = PositionBatch()
        unreadable: list[str] = []
        for index, piece in enumerate(pieces):
            kind = piece_kind(piece)
            raw = piece.hex(" ") if kind == "tak" else piece.decode("utf-8", errors="replace")
            if kind == "junk":
                unreadable.append(_junk_reason(piece))
                batch.reject(index, unreadable[-1], raw)
                continue
            try:
                event = decode_frame(piece) if kind == "tak" else parse_xml(piece, "CoT event")
            except RecordError as exc:
                unreadable.append(str(exc))
                batch.reject(index, str(exc), raw)
                continue
            try:
                record = self._record(event, batch.result)
            except RecordError as exc:
                batch.reject(index, str(exc), raw)
            except (TypeError, ValueError) as exc:
                # A shape no check anticipated costs this event, not the stream.
                batch.reject(index, f"unexpected event shape: {exc}", raw)
            else:
                if isinstance(record, PositionRecord):
                    batch.add(index, record, raw)
                elif record is not None:
                    batch.result.records.append(record)
        if len(unreadable) == len(pieces):
            # Nothing in it is CoT: a wrong or truncated payload, not a batch with a few bad events.
            raise PayloadError(f"no readable CoT event in payload: {unreadable[0]}")
        return batch.result

    def _record(self, event: Element, result: ParseResult):
        """What an event becomes: a record, None when it is ignored (counted in `result.ignored`)."""
        if event.tag != "event":
            raise RecordError(f"root element is <{event.tag}>, not <event>")
        cot_type = text(event.get("type"), "type", max_len=100)
        parts = cot_type.split("-")
        detail = event.find("detail")
        if parts[0] == "a":
            return self._position(event, cot_type, parts, detail)
        if cot_type.startswith("b-a-o-"):
            return self._emergency(event, cot_type, detail)
        if detail is not None and (detail.find("sensor") is not None or detail.find("__video") is not None):
            return self._camera(event, detail)
        if parts[0] == "t":
            result.ignored[cot_type] = result.ignored.get(cot_type, 0) + 1
            return None
        raise RecordError(_not_ingested(cot_type))

    def _position(self, event: Element, cot_type: str, parts: list[str], detail: Element | None) -> PositionRecord:
        if len(parts) < 3 or parts[1] != "f" or parts[2] not in _DIMENSION_KINDS:
            raise RecordError(f"type {cot_type!r} is not a friendly ground, air or surface unit")
        uid = text(event.get("uid"), "uid", max_len=100)
        lon, lat = _place(event)
        track = detail.find("track") if detail is not None else None
        return PositionRecord(
            unit_ref=uid,
            lon=lon,
            lat=lat,
            recorded_at=timestamp(event.get("time"), "time"),
            heading=course(_known(track, "course"), "track course"),
            speed=speed(_known(track, "speed"), "track speed"),
            call_sign=_callsign(detail),
            unit_kind=_DIMENSION_KINDS[parts[2]],
        )

    def _emergency(self, event: Element, cot_type: str, detail: Element | None) -> AlertRecord | AlertCloseRecord:
        uid = text(event.get("uid"), "uid", max_len=128)
        at = timestamp(event.get("time"), "time")
        emergency = detail.find("emergency") if detail is not None else None
        who = _callsign(detail) or ((emergency.text or "").strip()[:100] if emergency is not None else "")
        if cot_type == "b-a-o-can" or (emergency is not None and emergency.get("cancel") == "true"):
            return AlertCloseRecord(source_id=uid, reason=f"cancelled by the sender ({cot_type})", closed_at=at)
        label = (emergency.get("type") if emergency is not None else "") or _EMERGENCY_TITLES.get(cot_type, "Emergency")
        try:
            lon, lat = _place(event)
        except RecordError:
            lon = lat = None  # an emergency without a usable fix is still an emergency
        remarks = detail.find("remarks") if detail is not None else None
        lines = [f"CoT {cot_type} from {uid}"]
        if remarks is not None and (remarks.text or "").strip():
            lines.append((remarks.text or "").strip()[:1000])
        return AlertRecord(
            source_id=uid,
            kind=AlertKind.PANIC.value,
            title=f"{label[:80]}: {who or uid}",
            raised_at=at,
            lon=lon,
            lat=lat,
            detail="\n".join(lines),
        )

    def _camera(self, event: Element, detail: Element) -> CameraRecord:
        uid = text(event.get("uid"), "uid", max_len=64)
        lon, lat = _place(event)
        sensor = detail.find("sensor")
        video = detail.find("__video")
        name = _callsign(detail) or (video.get("urlAlias", "") if video is not None else "") or uid
        return CameraRecord(
            external_id=uid,
            name=text(name, "camera name", max_len=200),
            lon=lon,
            lat=lat,
            heading=_angle(sensor, "azimuth", "sensor azimuth"),
            fov_angle=number(_known(sensor, "fov"), "sensor fov", optional=True),
            fov_range=number(_known(sensor, "range"), "sensor range", optional=True),
            stream_url=_video_url(video),
        )


def _place(event: Element) -> tuple[float, float]:
    point = event.find("point")
    if point is None:
        raise RecordError("event has no <point>")
    lat = number(point.get("lat"), "point lat")
    lon = number(point.get("lon"), "point lon")
    if UNKNOWN in (abs(lat), abs(lon)):
        raise RecordError("point is 9999999, CoT's 'position unknown'")
    if abs(lat) < NULL_ISLAND and abs(lon) < NULL_ISLAND:
        hae = point.get("hae", "")
        why = "no GPS fix: hae 9999999" if _is_unknown(hae) else f"hae {hae}"
        raise RecordError(f"point ({lat}, {lon}) is within {NULL_ISLAND}° of (0,0): a missing fix ({why}), not a place")
    return coords(lon, lat)


def _callsign(detail: Element | None) -> str:
    contact = detail.find("contact") if detail is not None else None
    return text(contact.get("callsign") if contact is not None else None, "callsign", optional=True)


def _angle(element: Element | None, name: str, label: str) -> float | None:
    value = number(_known(element, name), label, optional=True)
    return None if value is None else value % 360


def _video_url(video: Element | None) -> str:
    """The stream a `__video` element names: its url, else built from its ConnectionEntry."""
    if video is None:
        return ""
    if video.get("url"):
        return video.get("url", "").strip()
    entry = video.find("ConnectionEntry")
    if entry is None:
        return ""
    return feed_url(entry.get("protocol", ""), entry.get("address", ""), entry.get("port", ""), entry.get("path", ""))


def _is_unknown(value: str | None) -> bool:
    try:
        return value is not None and abs(float(value)) == UNKNOWN
    except ValueError:
        return False


def _known(element: Element | None, name: str) -> str | None:
    """An attribute's value, None when absent or CoT's 9999999 'unknown'."""
    value = element.get(name) if element is not None else None
    return None if _is_unknown(value) else value
