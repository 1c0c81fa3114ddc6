from rest_framework import serializers

from ..choices import RunKind, RunStatus
from ..models import STALE_ERROR, HotspotRun


class RunRequestSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=RunKind.choices)
    params = serializers.DictField(
        required=False, default=dict, help_text="filters and kind options (see apps.hotspots.params)"
    )


class RunSerializer(serializers.ModelSerializer):
    """A run without its GeoJSON (lists)."""

    class Meta:
        model = HotspotRun
        fields = [
            "id",
            "kind",
            "status",
            "params",
            "incident_count",
            "summary",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def to_representation(self, instance: HotspotRun) -> dict:
        data = super().to_representation(instance)
        # A run whose task was lost is failed from the moment it passes the time limit, for a client polling
        # it, before the periodic task writes so (reads write nothing).
        if instance.is_stale():
            data["status"], data["error"] = RunStatus.FAILED.value, STALE_ERROR
        return data


class RunDetailSerializer(RunSerializer):
    """A run with its GeoJSON FeatureCollection once it is done."""

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "result"]
