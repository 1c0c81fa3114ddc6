"""GTFS-Realtime vehicle positions, the feed transit agencies and many AVL vendors publish.

Format: one `transit_realtime.FeedMessage`, binary protobuf or its JSON rendering (the protobuf JSON
mapping: camelCase names, int64 timestamps as strings; `google.protobuf.json_format` reads it into the
same message, so both give the same fixes) (https://gtfs.org/realtime/reference/): a `header`
(`gtfs_realtime_version`, optional `timestamp` in POSIX seconds) and `entity` items, each with an `id`
and at most one of `trip_update`, `vehicle`, `alert`. A `vehicle` (VehiclePosition) carries
`vehicle.id` / `vehicle.label`, `position` (WGS84 `latitude`, `longitude`, optional `bearing` in degrees
clockwise from true north, `speed` in metres per second) and `timestamp` (POSIX seconds of the fix).

Mapping: unit_ref = vehicle.id, else vehicle.label, else the entity id (Halifax's entity ids are not its
vehicle ids: the vehicle id wins); call_sign = vehicle.label; recorded_at = the vehicle's timestamp, else
the header's (USF Bull Runner sends none per vehicle). A fix older than the header (Edmonton, MARTA:
vehicles up to 25 minutes stale) keeps its own time: it goes to history and never moves a unit past a
newer position. Trip fields (MARTA's invalid direction_id) are not read.

Identity: labels are what riders see and are not unique (an agency labels a bus and a rail car both
"1717"); the vehicle id is the key (the spec: unique per vehicle), and the source's unit ids are its own
(FeedSource.unit_ids "device": a vehicle id is never matched to one of our call signs). Entities without
a vehicle id that share a label are all refused as ambiguous rather than one vehicle's fix landing on
the other's unit.

Entities without a `vehicle` (trip updates, alerts in a combined feed) and deleted entities are skipped
and counted. A feed with entities but no vehicle position at all (TripUpdates or Alerts sent to a vehicle
source) is refused as a misconfigured source; an empty feed (HART: header only) is fine, zero records.
"""

from __future__ import annotations

import struct
from collections import Counter

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from google.transit import gtfs_realtime_pb2

from apps.units.services import ambiguous_reason

from .base import MisconfiguredError, ParseResult, PayloadError, PositionRecord, check_payload_size, register
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
    label = "GTFS-Realtime vehicle positions (protobuf or JSON)"

    def parse(self, payload: bytes, *, content_type: str = "", params: dict | None = None) -> ParseResult:
        check_payload_size(payload)
        feed = _read(payload, content_type)
        # Protobuf has no magic number: an empty body parses as an empty message, so a missing header
        # (required by the spec) is how a non-feed shows. A body cut at a field boundary still parses;
        # it simply carries fewer entities, which nothing in the wire format can reveal.
        if not feed.HasField("header"):
            raise PayloadError("payload is not a GTFS-Realtime FeedMessage: it has no header")
        feed_time = feed.header.timestamp if feed.header.HasField("timestamp") else None

        skipped: Counter[str] = Counter()
        vehicles = []
        for index, entity in enumerate(feed.entity):
            if entity.is_deleted:
                skipped["deleted entity"] += 1
            elif entity.HasField("vehicle"):
                vehicles.append((index, entity))
            else:
                skipped[_entity_kind(entity)] += 1
        # Deleted entities say nothing about the feed's kind (an incremental vehicle feed sends them too).
        if not vehicles and sum(skipped.values()) > skipped["deleted entity"]:
            found = ", ".join(f"{count} {what}" for what, count in sorted(skipped.items()))
            raise MisconfiguredError(
                f"GTFS-Realtime feed has no VehiclePositions ({found}): this source takes vehicle positions; "
                "point it at the agency's VehiclePositions feed"
            )

        batch = PositionBatch()
        batch.result.ignored.update(skipped)
        # A vehicle id names one vehicle (the spec: unique per vehicle), so repeats of it are that vehicle's
        # fixes; a label does not, so entities named only by the same label may be different vehicles.
        # Nor may a label stand for the vehicle whose id it happens to equal (a rail car labelled 1717 is not
        # the bus with id 1717).
        by_label = Counter(_unit_ref(e) for _, e in vehicles if not e.vehicle.vehicle.id.strip())
        ids = {e.vehicle.vehicle.id.strip() for _, e in vehicles} - {""}
        for index, entity in vehicles:
            ref = _unit_ref(entity)
            if not entity.vehicle.vehicle.id.strip() and (by_label[ref] > 1 or ref in ids):
                if by_label[ref] > 1:
                    detail = f"{by_label[ref]} entities without a vehicle id carry this label (labels are not unique)"
                else:
                    detail = "an entity without a vehicle id carries, as its label, another vehicle's id"
                batch.reject(index, ambiguous_reason(ref, detail), str(entity))
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
        unit_ref = text(_unit_ref(entity), "vehicle id", max_len=100)
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


def _read(payload: bytes, content_type: str) -> gtfs_realtime_pb2.FeedMessage:
    """The FeedMessage from protobuf bytes or from its JSON rendering."""
    feed = gtfs_realtime_pb2.FeedMessage()
    if "json" in content_type.lower() or payload.lstrip()[:1] == b"{":
        try:
            json_format.Parse(payload.decode("utf-8"), feed, ignore_unknown_fields=True)
        except (json_format.ParseError, UnicodeDecodeError, RecursionError) as exc:
            raise PayloadError(f"payload is not a GTFS-Realtime FeedMessage in JSON: {str(exc)[:300]}") from None
        return feed
    try:
        feed.ParseFromString(payload)
    except DecodeError as exc:
        raise PayloadError(f"payload is not a GTFS-Realtime FeedMessage: {exc}") from None
    return feed


def _unit_ref(entity: gtfs_realtime_pb2.FeedEntity) -> str:
    descriptor = entity.vehicle.vehicle
    return (descriptor.id or descriptor.label or entity.id).strip()


def _entity_kind(entity: gtfs_realtime_pb2.FeedEntity) -> str:
    for field_name, what in (("trip_update", "TripUpdate"), ("alert", "Alert")):
        if entity.HasField(field_name):
            return what
    return "entity without vehicle"
