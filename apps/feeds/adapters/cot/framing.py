"""Cutting a CoT byte stream into pieces: XML events, TAK protocol frames, and the bytes that are neither.

What TAK clients send on one connection (or in one datagram):

- CoT XML: `<event …>…</event>`, each optionally preceded by its own `<?xml …?>` declaration, with or
  without newlines between events.
- TAK Protocol version 1, *streaming* framing (TCP, and pytak's unicast UDP): the magic byte 0xbf, a
  protobuf varint with the message length, then a `TakMessage`. A TCP connection may begin in XML and
  switch to this after the `t-x-takp-*` negotiation, so each piece is told apart by its first byte.
- TAK Protocol version 1, *mesh* framing (UDP multicast SA): 0xbf, the version byte 0x01, 0xbf, then a
  `TakMessage` filling the rest of the datagram (`mesh_to_stream` rewrites it to streaming framing).

Every piece is handed on, garbage included: a run of bytes that is neither (non-CoT XML, binary noise) is
a piece of its own, so the adapter rejects it with a reason instead of it vanishing here. Whitespace and
XML declarations / processing instructions between events are not pieces.

A piece's first byte says what it is: `<` an XML event, 0xbf a TAK frame (always re-framed with the
length of the bytes it really has, so a frame cut off by a hang-up cannot swallow the events after it in
a batch), anything else garbage.
"""

from __future__ import annotations

import re

from google.protobuf.internal.decoder import _DecodeVarint
from google.protobuf.internal.encoder import _VarintBytes

TAK_MAGIC = 0xBF
MESH_HEADER = b"\xbf\x01\xbf"
MAX_FRAME = 256 * 1024  # a TAK message longer than this is no real SA report; the length is taken as garbage
MAX_JUNK = 1024  # garbage is handed on as an excerpt this long: enough for the reason, bounded in size

_EVENT_START = re.compile(rb"<event(?=[\s/>])")
_EVENT_END = re.compile(rb"</event\s*>")
_OPEN_TAG = b"<event"
_BOUNDARY = re.compile(rb"<event(?=[\s/>])|</event\s*>")
_SKIP = re.compile(rb"(?:\s+|<\?[^<>]*?\?>)+")  # whitespace, `<?xml …?>` declarations
# Where a run of garbage ends: the next event or TAK frame.
_RESYNC = re.compile(rb"<event(?=[\s/>])|\xbf")


def stream_frame(message: bytes) -> bytes:
    """A TAK message in streaming framing: 0xbf, varint length, message."""
    return bytes([TAK_MAGIC]) + _VarintBytes(len(message)) + message


def mesh_to_stream(datagram: bytes) -> bytes:
    """A mesh-framed datagram (`bf 01 bf` + message) as one streaming frame; other datagrams unchanged."""
    if datagram[:3] == MESH_HEADER:
        return stream_frame(datagram[3:])
    return datagram


def _varint(data: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, position after it), None when the buffer ends inside the varint. Raises ValueError if over 10 bytes."""
    end = pos
    while end < len(data):
        if end - pos >= 10:
            raise ValueError("varint too long")
        if not data[end] & 0x80:
            value, after = _DecodeVarint(bytes(data[pos : end + 1]), 0)
            return value, pos + after
        end += 1
    return None


def frame_events(
    data: bytes | bytearray, *, final: bool = False, max_frame: int = MAX_FRAME
) -> tuple[list[bytes], bytes]:
    """Cut a CoT byte stream into pieces (see the module doc); returns them and the tail still waiting.

    The tail is empty when `final`. An XML event cut short by the next `<event`, or by the end of a
    `final` buffer, is still a piece: it fails to parse and is rejected, so a sender truncating its
    events shows in the feed's rejection count. The same holds for a TAK frame cut off at the end.
    """
    pieces: list[bytes] = []
    pos = 0
    size = len(data)
    while True:
        skip = _SKIP.match(data, pos)
        if skip is not None:
            pos = skip.end()
        if pos >= size:
            return pieces, b""
        if data[pos] == TAK_MAGIC:
            try:
                header = _varint(data, pos + 1)
            except ValueError:
                header = (max_frame + 1, pos + 1)
            if header is None:
                if final:
                    pieces.append(stream_frame(bytes(data[pos + 1 :])))
                    return pieces, b""
                return pieces, bytes(data[pos:])
            length, body = header
            if length > max_frame:
                pos = _junk(data, pos, pos + 1, pieces)
                continue
            if body + length <= size:
                pieces.append(stream_frame(bytes(data[body : body + length])))
                pos = body + length
                continue
            if final:
                pieces.append(stream_frame(bytes(data[body:])))
                return pieces, b""
            return pieces, bytes(data[pos:])
        if _EVENT_START.match(data, pos):
            following = _EVENT_START.search(data, pos + len(_OPEN_TAG))
            limit = following.start() if following else size
            end = _EVENT_END.search(data, pos, limit)
            if end is not None:
                pieces.append(bytes(data[pos : end.end()]))
                pos = end.end()
            elif following is not None:
                pieces.append(bytes(data[pos : following.start()]))
                pos = following.start()
            elif final:
                pieces.append(bytes(data[pos:]))
                return pieces, b""
            else:
                return pieces, bytes(data[pos:])
            continue
        # Garbage up to the next event or frame. At the end of an unfinished buffer, the first bytes of an
        # `<event` (its rest in the next read) stay in the tail.
        if not final and data[pos : pos + 2] == b"<?" and size - pos < MAX_JUNK:
            return pieces, bytes(data[pos:])  # an `<?xml …?>` declaration whose end is in the next read
        nxt = _RESYNC.search(data, pos + 1)
        if nxt is None and not final:
            cut = _partial_open_tag(data, pos)
            end = size - len(cut)
            if end > pos:
                _junk(data, pos, end, pieces)
            return pieces, bytes(cut)
        pos = _junk(data, pos, nxt.start() if nxt else size, pieces)


def _junk(data: bytes | bytearray, start: int, end: int, pieces: list[bytes]) -> int:
    """Hand on bytes start..end as one garbage piece (an excerpt, never starting with `<event` or 0xbf)."""
    chunk = bytes(data[start:end]).strip()
    if chunk:
        if chunk[0] == TAK_MAGIC:
            chunk = b"0xbf" + chunk[1:]  # keep it from reading as a frame when batches are joined
        pieces.append(chunk[:MAX_JUNK])
    return end


def _partial_open_tag(data: bytes | bytearray, pos: int) -> bytes | bytearray:
    """The end of the buffer when it may be the first bytes of `<event` (the rest is in the next read)."""
    cut = data.rfind(b"<", max(pos, len(data) - len(_OPEN_TAG)))
    if cut != -1 and _OPEN_TAG.startswith(data[cut:]):
        return data[cut:]
    return b""


def piece_kind(piece: bytes) -> str:
    """ "xml", "tak" (a TAK protocol streaming frame) or "junk"."""
    if _EVENT_START.match(piece):
        return "xml"
    if piece[:1] == bytes([TAK_MAGIC]):
        return "tak"
    return "junk"


class EventStream:
    """Frames one connection's byte stream incrementally: `feed` each read, get the finished pieces back.

    Re-framing rescans an unfinished XML event from its start, so it is done only when the new bytes may
    hold an event boundary; a sender dribbling one byte at a time would otherwise cost a scan of the whole
    buffer per byte. An unfinished TAK frame needs no scan: its length is known.
    """

    # How far back a boundary may begin before the new bytes: `</event` plus some whitespace and `>`.
    _LOOKBACK = 16

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self.buffer = bytearray()
        self._scanned = 0
        self._max_frame = max_frame

    def feed(self, chunk: bytes) -> list[bytes]:
        holding_event = _EVENT_START.match(self.buffer) is not None
        self.buffer += chunk
        if holding_event and not _BOUNDARY.search(self.buffer, max(0, self._scanned - self._LOOKBACK)):
            self._scanned = len(self.buffer)
            return []
        pieces, tail = frame_events(self.buffer, max_frame=self._max_frame)
        self.buffer = bytearray(tail)
        self._scanned = len(self.buffer)
        return pieces

    def close(self) -> list[bytes]:
        """The stream ended: whatever is unfinished is handed on, to be rejected with a reason."""
        pieces, _ = frame_events(self.buffer, final=True, max_frame=self._max_frame)
        self.buffer = bytearray()
        return pieces
