from rest_framework import serializers

from ..choices import RunKind
from ..models import HotspotRun


class RunRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RunKind.choices)
    params = serializers.DictField(
        required=False, default=dict, help_text="filters and kind options (see apps.hotspots.params)"
    )


class RunSerializer(serializers.ModelSerializer):
    """A run without its GeoJSON (lists)."""

    class Meta:
        model = HotspotRun
        fields = ["id", "kind", "status", "params", "incident_count", "summary", "error", "created_at", "started_at",
                  "finished_at"]


class RunDetailSerializer(RunSerializer):
    """A run with its GeoJSON FeatureCollection once it is done."""

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "result"]
