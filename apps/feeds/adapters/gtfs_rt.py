"""GTFS-Realtime vehicle positions (protobuf), the feed transit agencies and many AVL vendors publish.

Format: one binary `transit_realtime.FeedMessage` (https://gtfs.org/realtime/reference/): a `header`
(`gtfs_realtime_version`, optional `timestamp` in POSIX seconds) and `entity` items, each with an `id`
and at most one of `trip_update`, `vehicle`, `alert`. A `vehicle` (VehiclePosition) carries
`vehicle.id` / `vehicle.label`, `position` (WGS84 `latitude`, `longitude`, optional `bearing` in degrees
clockwise from true north, `speed` in metres per second) and `timestamp` (POSIX seconds of the fix).

Mapping: unit_ref = vehicle.id, else vehicle.label, else the entity id; call_sign = vehicle.label;
recorded_at = vehicle timestamp, else the header timestamp. Entities without a `vehicle` (trip updates,
alerts in a combined feed) and deleted entities are not positions and are skipped without a rejection.
"""
from __future__ import annotations

import struct

from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2

from .base import ParseResult, PayloadError, PositionRecord, check_payload_size, register
from .common import PositionBatch, RecordError, coords, course, speed, text, timestamp


def _from_float32(value: float) -> float:
    """The shortest decimal that is the same 32-bit float.

    Position, bearing and speed are `float` (32-bit) in the proto; widened as is, 47.6062 reads
    47.606201171875, digits the device never measured that would be stored as if it had.
    """
    packed = struct.pack("<f", value)
    for digits in range(6, 10):
        candidate = float(f"{value:.{digits}g}")
        if struct.pack("<f", candidate) == packed:
            return candidate
    return value


@register
class GtfsRealtimeAdapter:
    """VehiclePosition entities of a GTFS-Realtime FeedMessage become PositionRecords."""

    kind = "gtfs_rt"
    label = "GTFS-Realtime vehicle positions (protobuf)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        feed = gtfs_realtime_pb2.FeedMessage()
        try:
            feed.ParseFromString(payload)
        except DecodeError as exc:
            raise PayloadError(f"payload is not a GTFS-Realtime FeedMessage: {exc}") from None
        # Protobuf has no magic number: an empty body parses as an empty message, so a missing header
        # (required by the spec) is how a non-feed shows. A body cut at a field boundary still parses;
        # it simply carries fewer entities, which nothing in the wire format can reveal.
        if not feed.HasField("header"):
            raise PayloadError("payload is not a GTFS-Realtime FeedMessage: it has no header")
        feed_time = feed.header.timestamp if feed.header.HasField("timestamp") else None

        batch = PositionBatch()
        for index, entity in enumerate(feed.entity):
            if entity.is_deleted or not entity.HasField("vehicle"):
                continue
            try:
                record = self._position(entity, feed_time)
            except RecordError as exc:
                batch.reject(index, str(exc), str(entity))
            else:
                batch.add(index, record, str(entity))
        return batch.result

    def _position(self, entity: gtfs_realtime_pb2.FeedEntity, feed_time: int | None) -> PositionRecord:
        vehicle = entity.vehicle
        descriptor = vehicle.vehicle
        unit_ref = text(descriptor.id or descriptor.label or entity.id, "vehicle id", max_len=100)
        if not vehicle.HasField("position"):
            raise RecordError(f"vehicle {unit_ref!r} has no position")
        position = vehicle.position
        lon, lat = coords(_from_float32(position.longitude), _from_float32(position.latitude))
        when = vehicle.timestamp if vehicle.HasField("timestamp") else feed_time
        if when is None:
            raise RecordError(f"vehicle {unit_ref!r} has no timestamp and neither has the feed header")
        return PositionRecord(
            unit_ref=unit_ref,
            lon=lon,
            lat=lat,
            recorded_at=timestamp(when, "vehicle timestamp"),
            heading=course(_from_float32(position.bearing) if position.HasField("bearing") else None, "bearing"),
            speed=speed(_from_float32(position.speed) if position.HasField("speed") else None),
            call_sign=text(descriptor.label, "vehicle label", max_len=100, optional=True),
        )
