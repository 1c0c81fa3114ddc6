from rest_framework import serializers
from rest_framework_gis.serializers import GeoFeatureModelSerializer

from ..choices import AckOutcome
from ..models import Alert, GunshotDetection


class GunshotSerializer(GeoFeatureModelSerializer):
    class Meta:
        model = GunshotDetection
        geo_field = "location"
        fields = ("id", "location", "detected_at", "rounds", "kind", "confidence", "source", "source_id", "attributes")


class AlertSerializer(GeoFeatureModelSerializer):
    acknowledged_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Alert
        geo_field = "location"
        fields = (
            "id",
            "kind",
            "title",
            "detail",
            "location",
            "raised_at",
            "status",
            "acknowledged_by",
            "acknowledged_at",
            "ack_note",
            "ack_outcome",
            "gunshot",
            "alpr_read",
        )


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    outcome = serializers.ChoiceField(choices=AckOutcome.choices, required=False, allow_blank=True, default="")
