"""The live layers: which model each carries, how an instance becomes a feature, who may see it.

A feature is produced by the same serializer as the layer's REST endpoint, so a map applies a live
message with the code that draws the REST page.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from django.apps import apps
from django.db.models import Model
from django.utils.module_loading import import_string
from rest_framework.utils.encoders import JSONEncoder

from apps.accounts.permissions import Perm
from apps.audit.models import AuditAction
from apps.audit.reads import AuditedRead, Reason

from .messages import Feature, LayerName


class UnknownLayer(ValueError):
    """A layer name that is not live."""


def _always(_instance: Any) -> bool:
    return True


def _is_hotlist_hit(read: Any) -> bool:
    # Plain reads are bulk surveillance data: they stay behind the audited REST query and never
    # stream to maps. Only a hit (a wanted plate) is something an operator must see now.
    return read.hit_id is not None


# Watching hotlist hits stream in is a look at plate reads, as the map's REST hit layer is (apps.alpr.api.views):
# on record once per user per window, under the same action and reason, never once per event.
HIT_WATCH = AuditedRead(
    "live.alpr_reads",
    actions=(AuditAction.ALPR_READ_QUERY,),
    reason=Reason(default="hotlist hit monitoring"),
    object_type="alpr.alprread",
    throttle_seconds=600,
    via="socket",
)


@dataclass(frozen=True)
class LiveLayer:
    """One live layer. `coalesce` lets a slow client skip intermediate upserts of the same feature.
    `look`: subscribing is a sensitive look (apps.audit.reads), recorded when the layer is granted."""

    name: LayerName
    model: str  # "app_label.ModelName"
    serializer: str  # dotted path of the REST layer serializer
    perm: Perm
    coalesce: bool = False
    publishable: Callable[[Any], bool] = _always
    look: AuditedRead | None = None

    def model_class(self) -> type[Model]:
        return apps.get_model(self.model)

    def to_feature(self, instance: Model) -> Feature:
        data = _serializer(self.serializer)(instance).data
        # Round-trip through DRF's encoder: the feature is then exactly the JSON the REST renderer
        # writes (dates as ISO strings...), and plain types for msgpack and the Redis stream.
        return cast(Feature, json.loads(json.dumps(data, cls=JSONEncoder)))


@functools.cache
def _serializer(path: str) -> Any:
    # Imported on first use, not at module import: domain services import publish(), and the
    # serializers import the domain apps, so an eager import here could become a cycle.
    return import_string(path)


VIEW = Perm.VIEW_LAYERS  # what the layer's REST list needs

LAYERS: dict[str, LiveLayer] = {
    layer.name: layer
    for layer in (
        LiveLayer("incidents", "incidents.Incident", "apps.incidents.api.serializers.IncidentSerializer", VIEW),
        LiveLayer("cameras", "cameras.Camera", "apps.cameras.api.serializers.CameraSerializer", VIEW),
        LiveLayer("units", "units.Unit", "apps.units.api.serializers.UnitSerializer", VIEW, coalesce=True),
        LiveLayer(
            "alpr_reads",
            "alpr.AlprRead",
            "apps.alpr.api.serializers.AlprReadSerializer",
            Perm.VIEW_ALPR_READS,
            publishable=_is_hotlist_hit,
            look=HIT_WATCH,
        ),
        LiveLayer("gunshots", "sensors.GunshotDetection", "apps.sensors.api.serializers.GunshotSerializer", VIEW),
        LiveLayer("alerts", "sensors.Alert", "apps.sensors.api.serializers.AlertSerializer", VIEW),
    )
}


def get_layer(name: str) -> LiveLayer:
    try:
        return LAYERS[name]
    except (KeyError, TypeError):
        raise UnknownLayer(f"unknown layer {name!r}; live layers are {', '.join(LAYERS)}") from None
