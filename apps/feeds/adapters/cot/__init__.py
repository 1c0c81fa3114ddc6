"""Cursor on Target and TAK protocol: framing (framing), protobuf (proto), mapping (events), feed lists (feeds)."""

from .events import CursorOnTargetAdapter
from .framing import EventStream, frame_events, mesh_to_stream, piece_kind

__all__ = ["CursorOnTargetAdapter", "EventStream", "frame_events", "mesh_to_stream", "piece_kind"]
