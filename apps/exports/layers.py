"""The one registry of exportable layers: what each is called, who may read it, how it is filtered
and which columns leave the building.

Each entry reuses its app's scoped selector (the same one the map's layer endpoint uses) and the
filter attributes `apps.core.api.LayerFilterBackend` reads (bbox_field, time_field, status_field,
status_choices), so an export never shows more than the map does and filters the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet, TextChoices

from apps.accounts.permissions import Layer, Perm
from apps.alpr.choices import SiteKind
from apps.alpr.selectors import read_list, site_list
from apps.cameras.choices import CameraStatus, OwnerKind
from apps.cameras.selectors import camera_list
from apps.incidents.choices import IncidentStatus
from apps.incidents.selectors import incident_list
from apps.sensors.choices import AlertKind, AlertStatus
from apps.sensors.selectors import alert_list, gunshot_list
from apps.units.choices import UnitKind, UnitStatus
from apps.units.selectors import unit_list
from apps.zones.choices import ZoneKind
from apps.zones.selectors import zone_list


@dataclass(frozen=True)
class ExportLayer:
    """One exportable layer. `fields` maps an output column to the ORM lookup that fills it."""

    name: str
    title: str
    description: str
    perm: Perm
    selector: Callable[..., QuerySet]
    geom_field: str
    fields: tuple[tuple[str, str], ...]
    label_field: str  # what a KML placemark is called
    bbox_field: str | None = None
    time_field: str | None = None
    status_field: str | None = None
    status_choices: type[TextChoices] | None = None
    type_field: str | None = None  # what `type=` filters on
    type_choices: type[TextChoices] | None = None
    points_only: bool = True  # lon/lat CSV columns make sense only for points
    # Plate reads: every read of them names its reason, even a GIS client's (ALPR policy).
    needs_reason: bool = False

    def queryset(self, user: Any) -> QuerySet:
        return self.selector(user=user)


def _located_units(*, user: Any) -> QuerySet:
    # As on the map: a unit never located has nothing to draw or export.
    return unit_list(user=user).filter(last_location__isnull=False)


LAYERS: dict[str, ExportLayer] = {
    spec.name: spec
    for spec in (
        ExportLayer(
            name=Layer.INCIDENTS,
            title="Incidents",
            description="CAD incidents (calls for service)",
            perm=Perm.VIEW_LAYERS,
            selector=incident_list,
            geom_field="location",
            bbox_field="location",
            time_field="received_at",
            status_field="status",
            status_choices=IncidentStatus,
            type_field="type_code",
            label_field="cad_number",
            fields=(
                ("id", "id"),
                ("cad_number", "cad_number"),
                ("type_code", "type_code"),
                ("type_description", "type_description"),
                ("priority", "priority"),
                ("status", "status"),
                ("address", "address"),
                ("beat", "beat__code"),
                ("received_at", "received_at"),
                ("dispatched_at", "dispatched_at"),
                ("on_scene_at", "on_scene_at"),
                ("closed_at", "closed_at"),
                ("source", "source"),
            ),
        ),
        ExportLayer(
            name=Layer.CAMERAS,
            title="Cameras",
            description="The camera registry (locations and views; never stream addresses)",
            perm=Perm.VIEW_LAYERS,
            selector=camera_list,
            geom_field="location",
            bbox_field="location",
            status_field="status",
            status_choices=CameraStatus,
            type_field="owner_kind",
            type_choices=OwnerKind,
            label_field="name",
            fields=(
                ("id", "id"),
                ("name", "name"),
                ("external_id", "external_id"),
                ("owner_kind", "owner_kind"),
                ("owner_name", "owner_name"),
                ("heading", "heading"),
                ("fov_angle", "fov_angle"),
                ("fov_range", "fov_range"),
                ("ptz", "ptz"),
                ("status", "status"),
                ("last_seen", "last_seen"),
                ("sharing", "sharing"),
                ("stream_kind", "stream_kind"),
            ),
        ),
        ExportLayer(
            name=Layer.UNITS,
            title="Units",
            description="Field units at their latest position",
            perm=Perm.VIEW_LAYERS,
            selector=_located_units,
            geom_field="last_location",
            bbox_field="last_location",
            time_field="last_seen",
            status_field="status",
            status_choices=UnitStatus,
            type_field="kind",
            type_choices=UnitKind,
            label_field="call_sign",
            fields=(
                ("id", "id"),
                ("call_sign", "call_sign"),
                ("kind", "kind"),
                ("status", "status"),
                ("heading", "last_heading"),
                ("speed", "last_speed"),
                ("last_seen", "last_seen"),
            ),
        ),
        ExportLayer(
            name=Layer.ALPR_SITES,
            title="ALPR sites",
            description="ALPR reader sites (mobile readers have no location)",
            perm=Perm.VIEW_LAYERS,
            selector=site_list,
            geom_field="location",
            bbox_field="location",
            type_field="kind",
            type_choices=SiteKind,
            label_field="name",
            fields=(
                ("id", "id"),
                ("name", "name"),
                ("external_id", "external_id"),
                ("kind", "kind"),
                ("direction", "direction"),
            ),
        ),
        ExportLayer(
            name=Layer.ALPR_READS,
            title="ALPR reads",
            description="Plate reads (every read needs a reason and is audited)",
            perm=Perm.VIEW_ALPR_READS,
            needs_reason=True,
            selector=read_list,
            geom_field="location",
            bbox_field="location",
            time_field="read_at",
            label_field="plate",
            fields=(
                ("id", "id"),
                ("plate", "plate"),
                ("state", "state"),
                ("read_at", "read_at"),
                ("site", "site__name"),
                ("hotlist", "hit__hotlist__name"),
                ("hit_reason", "hit__reason"),
            ),
        ),
        ExportLayer(
            name=Layer.GUNSHOTS,
            title="Gunshot detections",
            description="Acoustic gunshot detections",
            perm=Perm.VIEW_LAYERS,
            selector=gunshot_list,
            geom_field="location",
            bbox_field="location",
            time_field="detected_at",
            label_field="source_id",
            fields=(
                ("id", "id"),
                ("detected_at", "detected_at"),
                ("rounds", "rounds"),
                ("confidence", "confidence"),
                ("source", "source"),
                ("source_id", "source_id"),
            ),
        ),
        ExportLayer(
            name=Layer.ALERTS,
            title="Alerts",
            description="Hotlist hits, gunshots, panic buttons and sensor alerts",
            perm=Perm.VIEW_LAYERS,
            selector=alert_list,
            geom_field="location",
            bbox_field="location",
            time_field="raised_at",
            status_field="status",
            status_choices=AlertStatus,
            type_field="kind",
            type_choices=AlertKind,
            label_field="title",
            fields=(
                ("id", "id"),
                ("kind", "kind"),
                ("title", "title"),
                ("detail", "detail"),
                ("raised_at", "raised_at"),
                ("status", "status"),
                ("acknowledged_by", "acknowledged_by__username"),
                ("acknowledged_at", "acknowledged_at"),
                ("area_desc", "area_desc"),
                ("expires_at", "expires_at"),
                ("closed_at", "closed_at"),
                ("close_reason", "close_reason"),
            ),
        ),
        ExportLayer(
            name=Layer.ZONES,
            title="Zones",
            description="Beats, sectors, districts and geofences",
            perm=Perm.VIEW_LAYERS,
            selector=zone_list,
            geom_field="geom",
            bbox_field="geom",
            type_field="kind",
            type_choices=ZoneKind,
            label_field="code",
            points_only=False,
            fields=(
                ("id", "id"),
                ("kind", "kind"),
                ("code", "code"),
                ("name", "name"),
                ("parent", "parent_id"),
            ),
        ),
    )
}
