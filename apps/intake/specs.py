"""The importable layers: which fields a file may fill, and the domain service that writes a row."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from django.db import models

from apps.alpr.choices import SiteKind
from apps.alpr.models import AlprSite, HotlistEntry
from apps.alpr.services import alpr_site_upsert, hotlist_entry_upsert, hotlist_retire_unlisted
from apps.cameras.choices import CameraStatus, OwnerKind, Sharing, StreamKind
from apps.cameras.models import Camera
from apps.cameras.services import camera_upsert
from apps.incidents.bulk import incident_bulk_upsert
from apps.incidents.choices import CallSource, IncidentStatus
from apps.incidents.models import Incident
from apps.incidents.services import incident_upsert
from apps.sensors.models import GunshotDetection
from apps.sensors.services import gunshot_import
from apps.units.choices import UnitKind
from apps.units.models import Unit
from apps.units.services import unit_upsert
from apps.zones.choices import ZoneKind
from apps.zones.models import Zone
from apps.zones.services import zone_upsert

# ---------------------------------------------------------------------------------------------------------------------
# Layers: which fields an import may fill, and how to write a row


FieldKind = Literal["text", "int", "float", "bool", "datetime", "choice", "coordinate", "geometry"]


@dataclass(frozen=True)
class FieldSpec:
    """How to read one importable field."""

    kind: FieldKind
    required: bool = False
    max_length: int | None = None
    choices: type[models.TextChoices] | None = None
    bounds: tuple[float, float] | None = None
    # None is a meaning of its own (a camera without heading looks all around), not "use the default".
    nullable: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """An importable layer: its fields, the geometry it takes, and the service that writes a row."""

    name: str
    fields: dict[str, FieldSpec]
    geometry_types: tuple[str, ...]
    write: Callable[..., tuple[models.Model, bool]]
    # False when `write` is itself @transaction.atomic: nested in the import's transaction that already is a
    # savepoint per row, and a second one would only add two round trips per row (13k-row files notice).
    needs_savepoint: bool = True
    # The service takes `source` (the import's --source / mapping source / import:FILE), part of the record's key.
    takes_source: bool = False
    # The service takes `attributes`: where a row imported with a flag (outside the service area) says so.
    takes_attributes: bool = False
    # For layers whose files are full lists (hotlists): retire what a file did not list (`--replace`).
    retire_unlisted: Callable[..., int] | None = None
    # Writes a chunk of rows at once (apps.incidents.bulk); the importer then uses it instead of `write`.
    bulk_write: Callable[..., object] | None = None
    # Columns no field takes are kept in the record's `attributes` rather than dropped (CAD exports).
    keeps_unmapped: bool = False
    # `write` never changes a stored record (a detection is what it was): a row it did not create is unchanged.
    insert_only: bool = False
    # The live layer an import that wrote rows reloads on the agency's maps, once at its end, when `write`
    # does not publish each row itself (one resync, not one event per row).
    reloads: str = ""

    @property
    def counts_unchanged(self) -> bool:
        """Whether an import can tell an unchanged row from an updated one for this layer."""
        return self.bulk_write is not None or self.insert_only

    @property
    def is_point(self) -> bool:
        return self.geometry_types == ("Point",)

    @property
    def has_place(self) -> bool:
        """False for layers without a location (units rosters, hotlists)."""
        return bool(self.geometry_types)


def _text(model: type[models.Model], name: str, *, required: bool = False) -> FieldSpec:
    # Lengths come from the model so that a too-long value is a row reason, not a database error.
    return FieldSpec("text", required=required, max_length=model._meta.get_field(name).max_length)


LAYERS: dict[str, LayerSpec] = {
    "incidents": LayerSpec(
        name="incidents",
        fields={
            "cad_number": _text(Incident, "cad_number", required=True),
            "type_code": _text(Incident, "type_code", required=True),
            "type_description": _text(Incident, "type_description"),
            "priority": FieldSpec("int", bounds=(1, 9)),
            "status": FieldSpec("choice", choices=IncidentStatus),
            "call_source": FieldSpec("choice", choices=CallSource),
            "disposition": _text(Incident, "disposition"),
            "address": _text(Incident, "address"),
            "lon": FieldSpec("coordinate"),
            "lat": FieldSpec("coordinate"),
            # True for a whole source that blurs its coordinates (a constant); masked addresses set it anyway.
            "location_approximate": FieldSpec("bool"),
            # Where a source gives no coordinates, the agency's beat of this code places the call (approximately).
            "beat_code": _text(Zone, "code"),
            # The responding unit(s): one call sign per row (rows of a call are merged) or "E5, M12".
            "units": FieldSpec("text"),
            "received_at": FieldSpec("datetime", required=True),
            "dispatched_at": FieldSpec("datetime"),
            "on_scene_at": FieldSpec("datetime"),
            "closed_at": FieldSpec("datetime"),
        },
        geometry_types=("Point",),
        write=incident_upsert,
        needs_savepoint=False,
        bulk_write=incident_bulk_upsert,
        keeps_unmapped=True,
        takes_attributes=True,
    ),
    "cameras": LayerSpec(
        name="cameras",
        fields={
            "name": _text(Camera, "name", required=True),
            "external_id": _text(Camera, "external_id"),
            "owner_kind": FieldSpec("choice", choices=OwnerKind),
            "owner_name": _text(Camera, "owner_name"),
            "owner_contact": _text(Camera, "owner_contact"),
            "lon": FieldSpec("coordinate"),
            "lat": FieldSpec("coordinate"),
            "heading": FieldSpec("float", bounds=(0, 360), nullable=True),
            "fov_angle": FieldSpec("float", bounds=(1, 360)),
            "fov_range": FieldSpec("float", bounds=(1, 2000)),
            "ptz": FieldSpec("bool"),
            "status": FieldSpec("choice", choices=CameraStatus),
            "stream_url": _text(Camera, "stream_url"),
            "stream_kind": FieldSpec("choice", choices=StreamKind),
            "sharing": FieldSpec("choice", choices=Sharing),
            "active": FieldSpec("bool"),
        },
        geometry_types=("Point",),
        write=camera_upsert,
        reloads="cameras",
    ),
    "zones": LayerSpec(
        name="zones",
        fields={
            "code": _text(Zone, "code", required=True),
            "kind": FieldSpec("choice", required=True, choices=ZoneKind),
            "name": _text(Zone, "name"),
            # "UGC:WAZ558; SAME:053033": CAP alerts given only these codes are placed on the zone.
            "geocodes": FieldSpec("text", max_length=2000),
            "geometry": FieldSpec("geometry"),
        },
        geometry_types=("Polygon", "MultiPolygon"),
        # Zones are no live layer, but a beat puts incidents in it: their beat is on the map.
        write=functools.partial(zone_upsert, publish=False),
        reloads="incidents",
    ),
    # ShotSpotter-style exports (DC "Shot Spotter Gun Shots": ID, TYPE, DATETIME, LATITUDE, LONGITUDE).
    "gunshots": LayerSpec(
        name="gunshots",
        fields={
            "source_id": _text(GunshotDetection, "source_id", required=True),
            "detected_at": FieldSpec("datetime", required=True),
            "type": FieldSpec("text", max_length=64),
            "rounds": FieldSpec("int", bounds=(1, 200)),
            "confidence": FieldSpec("float", bounds=(0, 1)),
            "lon": FieldSpec("coordinate"),
            "lat": FieldSpec("coordinate"),
        },
        geometry_types=("Point",),
        write=gunshot_import,
        takes_source=True,
        takes_attributes=True,
        insert_only=True,
    ),
    # Reader sites, e.g. OpenStreetMap surveillance:type=ALPR nodes (fixtures/mappings/osm_alpr.json).
    "alpr_sites": LayerSpec(
        name="alpr_sites",
        fields={
            "external_id": _text(AlprSite, "external_id"),
            "name": _text(AlprSite, "name"),
            "kind": FieldSpec("choice", choices=SiteKind),
            "direction": FieldSpec("text", max_length=200),
            "operator": FieldSpec("text", max_length=200),
            "manufacturer": FieldSpec("text", max_length=200),
            "surveillance_type": FieldSpec("text", max_length=64),
            "active": FieldSpec("bool"),
            "lon": FieldSpec("coordinate"),
            "lat": FieldSpec("coordinate"),
        },
        geometry_types=("Point",),
        write=alpr_site_upsert,
        takes_attributes=True,
    ),
    "units": LayerSpec(
        name="units",
        fields={
            "call_sign": _text(Unit, "call_sign", required=True),
            "kind": FieldSpec("choice", choices=UnitKind),
            "device_id": _text(Unit, "device_id"),
            "active": FieldSpec("bool"),
        },
        geometry_types=(),
        write=unit_upsert,
    ),
    "hotlists": LayerSpec(
        name="hotlists",
        fields={
            "hotlist": FieldSpec("text", required=True, max_length=200),
            "plate": FieldSpec("text", required=True, max_length=32),
            "state": _text(HotlistEntry, "state"),
            "reason": _text(HotlistEntry, "reason"),
            "expires_at": FieldSpec("datetime"),
            "active": FieldSpec("bool"),
        },
        geometry_types=(),
        write=hotlist_entry_upsert,
        takes_source=True,
        retire_unlisted=hotlist_retire_unlisted,
    ),
}
